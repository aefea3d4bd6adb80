import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { movableBuffer } from '../../actors/pool.js';
import { summarizeProfile, type CpuProfile } from '../../bench/profile.js';

describe('movableBuffer', () => {
  it('moves a large buffer that is all data', () => {
    const data = new Uint8Array(new ArrayBuffer(1024 * 1024));
    assert.equal(movableBuffer(data), data.buffer);
  });

  it('moves a large view with a few bytes of framing around it', () => {
    const buffer = new ArrayBuffer(1024 * 1024 + 20);
    assert.equal(movableBuffer(new Uint8Array(buffer, 12, 1024 * 1024)), buffer);
  });

  it('copies a view that shares its buffer with other data', () => {
    const whole = Buffer.alloc(2 * 1024 * 1024);
    assert.equal(movableBuffer(whole.subarray(0, 1024 * 1024)), undefined);
  });

  it('copies small buffers, which may sit in the shared allocation pool', () => {
    assert.equal(movableBuffer(Buffer.from('abc')), undefined);
    assert.equal(movableBuffer(new Uint8Array(new ArrayBuffer(64 * 1024 - 1))), undefined);
  });

  it('copies views of a SharedArrayBuffer', () => {
    assert.equal(movableBuffer(new Uint8Array(new SharedArrayBuffer(1024 * 1024))), undefined);
  });
});

describe('summarizeProfile', () => {
  // root -> main -> hash (leaf), root -> main (leaf), root -> (idle)
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 4] },
      { id: 2, callFrame: { functionName: 'main', url: 'file:///app/main.js', lineNumber: 9 }, children: [3] },
      { id: 3, callFrame: { functionName: 'hash', url: 'node:crypto', lineNumber: 0 } },
      { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    startTime: 0,
    endTime: 100,
    samples: [3, 3, 2, 4],
    timeDeltas: [10, 20, 30, 40],
  };

  it('adds up self time at the leaf and total time along the stack', () => {
    const summary = summarizeProfile(profile, '/app');
    const byName = new Map(summary.functions.map((entry) => [entry.name, entry]));
    assert.equal(summary.sampledUs, 100);
    assert.equal(summary.idleUs, 40);
    assert.deepEqual(byName.get('hash node:crypto:1'), { name: 'hash node:crypto:1', selfUs: 30, totalUs: 30 });
    assert.deepEqual(byName.get('main main.js:10'), { name: 'main main.js:10', selfUs: 30, totalUs: 60 });
    assert.equal(byName.get('(root)')?.totalUs, 60);
  });
});
