// The scanner fails closed: with clamd unreachable nothing is published.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { uploadFile } from '../../nodes/client/upload.js';
import { objectKeys } from '../../storage/s3.js';
import { corpusFile } from '../corpus.js';
import { config, connectBackends, startNode, type Backends, type RunningNode } from './harness.js';

describe('scanner unavailable', () => {
  let node: RunningNode;
  let backends: Backends;
  before(async () => {
    backends = await connectBackends();
    // Port 9 (discard) has no listener here, so every scan attempt fails.
    node = await startNode({ SHOEBOX_CLAMD_PORT: '9', SHOEBOX_CLAMD_MAX_ATTEMPTS: '2', SHOEBOX_CLAMD_TIMEOUT_MS: '2000' });
  });
  after(async () => {
    await node?.stop();
    await backends?.close();
  });

  it('fails the media item and publishes nothing', async () => {
    const outcome = await uploadFile(node.client, corpusFile('photos/rocket.jpg'));
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorCode, 'SCAN_FAILED');
    assert.match(outcome.reason ?? '', /after 2 attempts/);
    assert.equal(await backends.store.headObject(config.s3.canonicalBucket, objectKeys.original(outcome.mediaId)), undefined);
    assert.deepEqual(outcome.variants, []);
  });
});
