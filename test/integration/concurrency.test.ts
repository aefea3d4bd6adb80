import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { uploadFile } from '../../nodes/client/upload.js';
import { corpusFile } from '../corpus.js';
import { config, connectBackends, startNode, type Backends, type RunningNode } from './harness.js';

const PHOTOS = [
  'photos/rocket.jpg',
  'photos/hubble_deep_field.jpg',
  'photos/coffee.png',
  'photos/chelsea.png',
  'photos/astronaut.png',
  'photos/nokia-n9-waterside.jpg',
  'photos/canon-eos70d-leaf.jpg',
  'photos/olympus-em1-ripple.jpg',
  'photos/orientation-6-olympus.jpg',
  'photos/cmyk-rocket.jpg',
];

describe('concurrent uploads', () => {
  let node: RunningNode;
  let backends: Backends;
  before(async () => {
    backends = await connectBackends();
    // A frequent pending-queue poll re-offers items while they are still in
    // the pipeline, which must not make a second worker process them.
    node = await startNode({ SHOEBOX_PENDING_POLL_MS: '300' });
  });
  after(async () => {
    await node?.stop();
    await backends?.close();
  });

  it('ends 20 concurrent uploads ready', async () => {
    const files = Array.from({ length: 20 }, (_, i) => corpusFile(PHOTOS[i % PHOTOS.length]!));
    const outcomes = await Promise.all(files.map((file) => uploadFile(node.client, file, { chunkSize: 512 * 1024 })));
    for (const [i, outcome] of outcomes.entries()) assert.equal(outcome.status, 'ready', `${files[i]}: ${outcome.reason ?? ''}`);
    assert.equal(new Set(outcomes.map((o) => o.mediaId)).size, 20, 'distinct media ids');
    for (const outcome of outcomes) {
      const events = (await backends.media.listAudit(outcome.mediaId)).map((entry) => entry.event);
      assert.equal(events.filter((event) => event === 'media_scanning').length, 1, `${outcome.file}: scanned once (${events.join(', ')})`);
      assert.equal(events.filter((event) => event === 'media_processing').length, 1, `${outcome.file}: processed once (${events.join(', ')})`);
    }
  });

  it('counts them in /metrics, workers included', async () => {
    const text = await (await fetch(`${node.httpBase}/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    // At least ours: a node also finishes pending items that earlier nodes of
    // the same name left behind on the shared stack.
    assert.ok(value(/^shoebox_media_finished_total\{status="ready"\} (\d+)$/m) >= 20, 'pipeline results summed over the workers');
    assert.equal(value(/^shoebox_uploads_finished_total\{api="grpc",result="received"\} (\d+)$/m), 20);
    assert.ok(value(/^shoebox_processing_seconds_count\{status="ready"\} (\d+)$/m) >= 20);
    assert.ok(value(/^shoebox_chunk_ack_seconds_count\{api="grpc"\} (\d+)$/m) >= 20);
    for (let worker = 0; worker < config.workers; worker++) {
      const heapUsed = value(new RegExp(`^shoebox_worker_memory_bytes\\{worker="${worker}",kind="heap_used"\\} (\\d+)$`, 'm'));
      const heapTotal = value(new RegExp(`^shoebox_worker_memory_bytes\\{worker="${worker}",kind="heap_total"\\} (\\d+)$`, 'm'));
      assert.ok(heapUsed > 0, `worker ${worker} reports its heap`);
      assert.ok(heapTotal >= heapUsed, `worker ${worker}: heap total ${heapTotal} >= used ${heapUsed}`);
    }
    // Workers drop an item from the backlog after its staging cleanup, just
    // after clients see it ready, so give them a moment.
    let backlog = value(/^shoebox_processing_backlog (\d+)$/m);
    for (let i = 0; i < 50 && backlog !== 0; i++) {
      await sleep(100);
      backlog = Number(/^shoebox_processing_backlog (\d+)$/m.exec(await (await fetch(`${node.httpBase}/metrics`)).text())?.[1] ?? NaN);
    }
    assert.equal(backlog, 0);
  });
});
