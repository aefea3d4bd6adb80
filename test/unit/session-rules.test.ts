import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { shardOf } from '../../actors/pool.js';
import type { NewUpload } from '../../actors/protocol.js';
import { chunkCount, chunkLength, sanitizeFilename, validateNewUpload } from '../../actors/session.js';
import { backoffMs } from '../../actors/pipeline.js';
import { ShoeboxError } from '../../nodes/common/errors.js';

const VALID: NewUpload = {
  mediaId: 'm',
  mode: 'stream',
  concat: '',
  uploadMetadata: '',
  tenant: 't',
  filename: 'a.jpg',
  contentType: 'image/jpeg',
  declaredLength: 10,
  sha256: '',
  metadata: {},
};

function codeOf(upload: Partial<NewUpload>, maxLength = 1000): string {
  try {
    validateNewUpload({ ...VALID, ...upload }, maxLength);
    return 'OK';
  } catch (error) {
    assert.ok(error instanceof ShoeboxError);
    return error.code;
  }
}

describe('validateNewUpload', () => {
  it('accepts a valid header', () => assert.equal(codeOf({}), 'OK'));
  it('rejects zero length as empty', () => assert.equal(codeOf({ declaredLength: 0 }), 'UPLOAD_EMPTY'));
  it('rejects negative length', () => assert.equal(codeOf({ declaredLength: -1 }), 'REQUEST_INVALID'));
  it('rejects fractional length', () => assert.equal(codeOf({ declaredLength: 1.5 }), 'REQUEST_INVALID'));
  it('rejects length over the maximum', () => assert.equal(codeOf({ declaredLength: 1001 }), 'UPLOAD_TOO_LARGE'));
  it('accepts length at the maximum', () => assert.equal(codeOf({ declaredLength: 1000 }), 'OK'));
  it('rejects malformed sha256', () => assert.equal(codeOf({ sha256: 'abc' }), 'REQUEST_INVALID'));
  it('accepts a lowercase sha256', () => assert.equal(codeOf({ sha256: 'a'.repeat(64) }), 'OK'));
  it('rejects oversized metadata values', () => assert.equal(codeOf({ metadata: { k: 'x'.repeat(1025) } }), 'REQUEST_INVALID'));
  it('names the value in the message', () => {
    assert.throws(() => validateNewUpload({ ...VALID, sha256: 'xyz' }, 1000), /"xyz"/);
  });
});

describe('sanitizeFilename', () => {
  it('drops directories', () => assert.equal(sanitizeFilename('../../etc/passwd'), 'passwd'));
  it('drops Windows directories', () => assert.equal(sanitizeFilename('C:\\photos\\cat.jpg'), 'cat.jpg'));
  it('drops control characters', () => assert.equal(sanitizeFilename('a\u0000b\nc.jpg'), 'abc.jpg'));
  it('trims to 255 characters', () => assert.equal(sanitizeFilename('x'.repeat(300)).length, 255));
});

describe('shardOf', () => {
  it('is stable for one id', () => assert.equal(shardOf('abc', 7), shardOf('abc', 7)));
  it('spreads UUIDs over every shard', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOf(crypto.randomUUID(), 4)]!++;
    for (const count of counts) assert.ok(count > 800 && count < 1200, `shard counts ${counts.join(',')}`);
  });
});

describe('backoffMs', () => {
  it('doubles from 500 ms', () => assert.deepEqual([1, 2, 3].map(backoffMs), [500, 1000, 2000]));
  it('caps at 8 s', () => assert.equal(backoffMs(20), 8000));
});

describe('validateNewUpload for tus', () => {
  it('accepts a deferred length', () => assert.equal(codeOf({ declaredLength: -1, deferLength: true }), 'OK'));
  it('rejects -1 without deferral', () => assert.equal(codeOf({ declaredLength: -1 }), 'REQUEST_INVALID'));
  it('accepts zero when empty is allowed', () => assert.equal(codeOf({ declaredLength: 0, allowEmpty: true }), 'OK'));
});

describe('chunkCount', () => {
  it('rounds up', () => assert.equal(chunkCount(11, 5), 3));
  it('counts an exact fit', () => assert.equal(chunkCount(10, 5), 2));
  it('gives one chunk to a small upload', () => assert.equal(chunkCount(1, 5), 1));
});

describe('chunkLength', () => {
  it('gives whole parts before the last', () => assert.equal(chunkLength(0, 11, 5), 5));
  it('gives the remainder last', () => assert.equal(chunkLength(2, 11, 5), 1));
  it('gives a whole part last on an exact fit', () => assert.equal(chunkLength(1, 10, 5), 5));
});
