// Node lifecycle: SIGTERM drains open streams; SIGKILL during processing is
// picked up again by the next node from the pending queue.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { crc32c } from '@node-rs/crc32';

import { createClient, uploadFile, waitForFinal } from '../../nodes/client/upload.js';
import { MediaStatus, type UploadResponse } from '../../proto/gen/shoebox/v1/upload.js';
import { corpusFile } from '../corpus.js';
import { objectKeys } from '../../storage/s3.js';
import { config, connectBackends, freePorts, sha256, startNode, testToken, type Backends } from './harness.js';

describe('node lifecycle', () => {
  let backends: Backends;
  before(async () => {
    backends = await connectBackends();
  });
  after(async () => {
    await backends?.close();
  });

  it('drains an open stream on SIGTERM', async () => {
    const node = await startNode();
    const photo = await readFile(corpusFile('photos/rocket.jpg'));
    const half = Math.floor(photo.length / 2);
    let sentHeader!: () => void;
    const headerAcknowledged = new Promise<void>((resolve) => (sentHeader = resolve));
    const result = new Promise<UploadResponse>((resolve, reject) => {
      const call = node.client.upload(new Metadata(), (error: ServiceError | null, response: UploadResponse) =>
        error ? reject(error) : resolve(response),
      );
      call.on('metadata', () => sentHeader());
      call.write({ header: { filename: 'r.jpg', contentType: 'image/jpeg', declaredLength: photo.length, sha256: '', metadata: {} } });
      call.write({ chunk: { offset: 0, data: photo.subarray(0, half), crc32c: crc32c(photo.subarray(0, half)) } });
      void headerAcknowledged.then(async () => {
        node.process.kill('SIGTERM');
        await sleep(300);
        call.write({ chunk: { offset: half, data: photo.subarray(half), crc32c: crc32c(photo.subarray(half)) } });
        call.end();
      });
    });
    const response = await result;
    assert.equal(response.sha256, sha256(photo));
    assert.equal(response.storedLength, photo.length);
    const exitCode = await new Promise<number | null>((resolve) =>
      node.process.exitCode !== null ? resolve(node.process.exitCode) : node.process.once('exit', (code) => resolve(code)),
    );
    assert.equal(exitCode, 0, `node log: ${node.logFile}`);
  });

  it('resumes processing after SIGKILL', async () => {
    const ports = await freePorts();
    let node = await startNode({}, ports);
    let mediaId = '';
    let killedDuring = '';
    const watcher = (async () => {
      for (let i = 0; i < 600 && !killedDuring; i++) {
        const record = mediaId ? await backends.media.get(mediaId) : undefined;
        if (record && ['received', 'scanning', 'processing'].includes(record.status)) {
          killedDuring = record.status;
          await node.kill();
          node = await startNode({}, ports);
          return;
        }
        await sleep(10);
      }
    })();
    const client = createClient(node.grpcAddress, testToken);
    const outcome = await uploadFile(client, corpusFile('photos/patak-5k.png'), {
      onSession: (_, id) => (mediaId = id),
    }).catch((error: Error) => ({ status: 'client-error', reason: error.message, mediaId }));
    await watcher;
    assert.ok(killedDuring, 'the node was killed while the item was in the pipeline');
    const fresh = createClient(node.grpcAddress, testToken);
    const media = await waitForFinal(fresh, mediaId, 120_000);
    assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, `${media.reason} (killed during ${killedDuring}; first outcome ${outcome.status})`);
    assert.ok(media.variants.length >= 4);
    fresh.close();
    client.close();
    await node.stop();
  });

  it('hands items from an ingest-only node to a processing node', async () => {
    const ingestOnly = await startNode({ SHOEBOX_PROCESS_MEDIA: 'false' });
    try {
      const client = createClient(ingestOnly.grpcAddress, testToken);
      let mediaId = '';
      const outcome = uploadFile(client, corpusFile('photos/rocket.jpg'), { onSession: (_, id) => (mediaId = id) });
      // Nothing processes the item until a processing node appears.
      for (let i = 0; i < 100 && !mediaId; i++) await sleep(20);
      await sleep(1_500);
      assert.equal((await backends.media.get(mediaId))?.status, 'received');

      const processor = await startNode({ SHOEBOX_PENDING_POLL_MS: '300' });
      try {
        const result = await outcome;
        assert.equal(result.status, 'ready', result.reason);
      } finally {
        await processor.stop();
      }
      client.close();
    } finally {
      await ingestOnly.stop();
    }
  });

  it('fails an item whose staging object changed', async () => {
    const ingestOnly = await startNode({ SHOEBOX_PROCESS_MEDIA: 'false' });
    let mediaId = '';
    try {
      const client = createClient(ingestOnly.grpcAddress, testToken);
      const outcome = uploadFile(client, corpusFile('photos/rocket.jpg'), { onSession: (_, id) => (mediaId = id) });
      let item = undefined as Awaited<ReturnType<Backends['media']['get']>>;
      for (let i = 0; i < 200 && item?.status !== 'received'; i++) {
        await sleep(50);
        item = mediaId ? await backends.media.get(mediaId) : undefined;
      }
      assert.equal(item?.status, 'received');
      assert.equal(typeof item.crc32c, 'number', 'the CRC-32C is recorded on receipt');

      // Flip one byte of the staging object, keeping its length, as a storage
      // fault would.
      const key = objectKeys.staging(item.uploadId);
      const stored = await backends.store.getObjectBytes(config.s3.stagingBucket, key);
      assert.ok(stored);
      const middle = stored.length >> 1;
      stored.writeUInt8(stored.readUInt8(middle) ^ 0xff, middle);
      await backends.store.putObject(config.s3.stagingBucket, key, stored, 'application/octet-stream');

      const processor = await startNode({ SHOEBOX_PENDING_POLL_MS: '300' });
      try {
        const result = await outcome;
        assert.equal(result.status, 'failed');
      } finally {
        await processor.stop();
      }
      client.close();
      const final = await backends.media.get(mediaId);
      assert.equal(final?.errorCode, 'STORED_OBJECT_CORRUPT');
      assert.equal(await backends.store.headObject(config.s3.canonicalBucket, objectKeys.original(mediaId)), undefined, 'nothing was published');
    } finally {
      await ingestOnly.stop();
    }
  });
});
