// The canonical bucket's data lives in the erasure-coded pool: read back
// through rados, not just through the bucket's placement setting.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import { uploadFile } from '../../nodes/client/upload.js';
import { corpusFile } from '../corpus.js';
import { config, startNode, type RunningNode } from './harness.js';

function ceph(command: string, args: string[]): string {
  const auth = config.ceph.keyring ? ['--keyring', config.ceph.keyring] : [];
  return execFileSync(command, ['-c', config.ceph.conf, ...auth, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

describe('erasure-coded canonical pool', () => {
  let node: RunningNode;
  before(async () => {
    assert.ok(config.ceph.conf, 'SHOEBOX_CEPH_CONF is set by deploy/ceph.sh');
    assert.ok(config.ceph.ecPool, 'SHOEBOX_CEPH_EC_POOL is set by deploy/ceph.sh');
    node = await startNode();
  });
  after(async () => {
    await node?.stop();
  });

  it('is an erasure-coded pool with k=2, m=1', () => {
    const pool = JSON.parse(ceph('ceph', ['osd', 'pool', 'get', config.ceph.ecPool, 'erasure_code_profile', '--format', 'json'])) as {
      erasure_code_profile: string;
    };
    const profile = JSON.parse(ceph('ceph', ['osd', 'erasure-code-profile', 'get', pool.erasure_code_profile, '--format', 'json'])) as Record<string, string>;
    assert.equal(profile['k'], '2');
    assert.equal(profile['m'], '1');
  });

  it('holds the original of a ready upload', async () => {
    const outcome = await uploadFile(node.client, corpusFile('photos/honeywave-5k.jpg'));
    assert.equal(outcome.status, 'ready', outcome.reason);
    const objects = ceph('rados', ['-p', config.ceph.ecPool, 'ls']).split('\n');
    const mine = objects.filter((name) => name.includes(`originals/${outcome.mediaId}`));
    assert.ok(mine.length > 0, `no rados object for originals/${outcome.mediaId} in ${config.ceph.ecPool}`);
    const stats = JSON.parse(ceph('radosgw-admin', ['bucket', 'stats', '--bucket', config.s3.canonicalBucket])) as { placement_rule: string };
    assert.match(stats.placement_rule, /ec-placement/);
    const staging = JSON.parse(ceph('radosgw-admin', ['bucket', 'stats', '--bucket', config.s3.stagingBucket])) as { placement_rule: string };
    assert.doesNotMatch(staging.placement_rule, /ec-placement/);
  });
});
