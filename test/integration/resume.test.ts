// Crash and resume: the ingest node is killed mid-upload and restarted on the
// same ports; the client resumes from the server's offset.

import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createClient, uploadFile } from '../../nodes/client/upload.js';
import { objectKeys } from '../../storage/s3.js';
import { corpusFile } from '../corpus.js';
import { config, connectBackends, freePorts, sha256, startNode, testToken, type Backends, type RunningNode } from './harness.js';

const PART_SIZE = 5 * 1024 * 1024;

describe('ingest node killed mid-upload', () => {
  let backends: Backends;
  let node: RunningNode;
  let ports: { grpc: number; http: number };
  const env = { SHOEBOX_PART_SIZE: String(PART_SIZE) };

  before(async () => {
    ports = await freePorts();
    backends = await connectBackends();
    node = await startNode(env, ports);
  });
  after(async () => {
    await node?.stop();
    await backends?.close();
  });

  it('resumes from the server offset and stores an identical original', async () => {
    const file = corpusFile('photos/patak-5k.png');
    const { size } = await stat(file);
    assert.ok(size > 2 * PART_SIZE, `need at least two parts, file has ${size} bytes`);
    // A client of its own: the node's client closes with the killed node.
    const client = createClient(node.grpcAddress, testToken);
    const resumedAt: number[] = [];
    let killed: Promise<void> | undefined;

    // Kill the node once the server reports at least one durable part, while
    // the throttled client is still sending.
    let watcher: Promise<void> | undefined;
    const outcome = await uploadFile(client, file, {
      chunkSize: 256 * 1024,
      maxAttempts: 30,
      bytesPerSecond: 3 * 1024 * 1024,
      onSession: (uploadId) => {
        watcher ??= (async () => {
          for (let i = 0; i < 200; i++) {
            const session = await backends.sessions.get(uploadId);
            if ((session?.offset ?? 0) >= PART_SIZE) {
              await node.kill();
              node = await startNode(env, ports);
              return;
            }
            await sleep(50);
          }
          throw new Error(`session ${uploadId} never reached offset ${PART_SIZE}`);
        })();
        killed = watcher;
      },
      onResume: (offset) => resumedAt.push(offset),
    });
    await killed;
    client.close();

    assert.equal(outcome.status, 'ready', outcome.reason);
    assert.ok(outcome.attempts > 1, 'the upload needed a second stream');
    assert.ok(resumedAt.length > 0, 'the client resumed');
    assert.ok(resumedAt[0]! >= PART_SIZE, `resumed from ${resumedAt[0]}, expected at least one durable part`);
    assert.equal(resumedAt[0]! % PART_SIZE, 0, 'offset moves by whole parts');
    assert.ok(outcome.bytesSent < 2 * size, `sent ${outcome.bytesSent} bytes for a ${size}-byte file`);

    const original = await backends.store.getObjectBytes(config.s3.canonicalBucket, objectKeys.original(outcome.mediaId));
    assert.ok(original);
    assert.equal(sha256(original), sha256(await readFile(file)));
    assert.equal(outcome.sha256, sha256(original));
  });
});
