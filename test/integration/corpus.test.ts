// Every corpus file through the real stack: gRPC upload, clamd scan, sharp
// processing, Ceph RGW storage, Cassandra state.

import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import exifr from 'exifr';
import sharp from 'sharp';

import { uploadFile, type UploadOutcome } from '../../nodes/client/upload.js';
import { objectKeys } from '../../storage/s3.js';
import { corpusDir } from '../corpus.js';
import { authedFetch, config, connectBackends, mapLimit, sha256, startNode, type Backends, type RunningNode } from './harness.js';

interface Expectation {
  status: 'ready' | 'failed' | 'quarantined';
  errorCode?: string;
}

/** The corpus README's expected results; unlisted photos must end ready. */
const EXPECTED: Record<string, Expectation> = {
  'photos/chelsea.heic': { status: 'failed', errorCode: 'UNSUPPORTED_FORMAT' },
  'photos/truncated-real.jpg': { status: 'failed', errorCode: 'IMAGE_CORRUPT' },
  'bad/empty.jpg': { status: 'failed', errorCode: 'UPLOAD_EMPTY' },
  'bad/text-named.jpg': { status: 'failed', errorCode: 'NOT_AN_IMAGE' },
  'bad/bomb-40000x40000.png': { status: 'failed', errorCode: 'IMAGE_TOO_LARGE' },
  'malware/eicar.com': { status: 'quarantined', errorCode: 'MALWARE_DETECTED' },
  'malware/jpeg-with-eicar-appended.jpg': { status: 'quarantined', errorCode: 'MALWARE_DETECTED' },
  'malware/clam.exe': { status: 'quarantined', errorCode: 'MALWARE_DETECTED' },
  'malware/clam.zip': { status: 'quarantined', errorCode: 'MALWARE_DETECTED' },
  'malware/clam.tar.gz': { status: 'quarantined', errorCode: 'MALWARE_DETECTED' },
};

async function corpusEntries(): Promise<string[]> {
  const entries: string[] = [];
  for (const folder of ['photos', 'bad', 'malware']) {
    for (const name of (await readdir(join(corpusDir, folder))).sort()) entries.push(`${folder}/${name}`);
  }
  return entries;
}

describe('corpus through the real stack', () => {
  let node: RunningNode;
  let backends: Backends;
  const outcomes = new Map<string, UploadOutcome>();

  before(async () => {
    backends = await connectBackends();
    node = await startNode();
    const entries = await corpusEntries();
    assert.ok(entries.length >= 29, `corpus has ${entries.length} files`);
    const results = await mapLimit(entries, 4, (entry) => uploadFile(node.client, join(corpusDir, entry), { chunkSize: 1024 * 1024 }));
    entries.forEach((entry, i) => outcomes.set(entry, results[i]!));
  });

  after(async () => {
    await node?.stop();
    await backends?.close();
  });

  it('ends every file with its expected status', async () => {
    for (const [entry, outcome] of outcomes) {
      const expected = EXPECTED[entry] ?? { status: 'ready' };
      assert.equal(outcome.status, expected.status, `${entry}: ${outcome.status} (${outcome.reason ?? ''})`);
      if (expected.errorCode) assert.equal(outcome.errorCode, expected.errorCode, `${entry}: ${outcome.reason ?? ''}`);
      assert.ok(outcome.mediaId, `${entry} has a media id`);
    }
  });

  it('gives every rejection a readable reason', () => {
    for (const [entry, outcome] of outcomes) {
      if (outcome.status === 'ready') continue;
      assert.ok((outcome.reason ?? '').length > 10, `${entry}: reason ${JSON.stringify(outcome.reason)}`);
    }
  });

  it('stores ready originals byte for byte in the canonical bucket', async () => {
    for (const [entry, outcome] of outcomes) {
      if (outcome.status !== 'ready') continue;
      const original = await backends.store.getObjectBytes(config.s3.canonicalBucket, objectKeys.original(outcome.mediaId));
      assert.ok(original, `${entry}: original missing`);
      assert.equal(sha256(original), sha256(await readFile(join(corpusDir, entry))), `${entry}: original differs`);
      assert.equal(outcome.sha256, sha256(original));
      assert.ok(outcome.variants.includes('thumb-256.webp'), `${entry}: variants ${outcome.variants.join(',')}`);
    }
  });

  it('keeps infected files out of the canonical bucket', async () => {
    for (const [entry, outcome] of outcomes) {
      if (!entry.startsWith('malware/')) continue;
      assert.equal(await backends.store.headObject(config.s3.canonicalBucket, objectKeys.original(outcome.mediaId)), undefined, entry);
      for (const variant of ['thumb-256.webp', 'thumb-1024.jpg']) {
        assert.equal(await backends.store.headObject(config.s3.canonicalBucket, objectKeys.variant(outcome.mediaId, variant)), undefined, entry);
      }
      assert.ok(await backends.store.headObject(config.s3.quarantineBucket, objectKeys.quarantine(outcome.mediaId)), `${entry}: not in quarantine`);
      const record = await backends.media.get(outcome.mediaId);
      assert.deepEqual(record?.variants, [], `${entry} has no variants`);
      assert.match(record?.signature ?? '', /UNOFFICIAL/, `${entry}: signature ${record?.signature}`);
    }
  });

  it('publishes nothing for failed uploads', async () => {
    for (const [entry, outcome] of outcomes) {
      if (outcome.status !== 'failed') continue;
      assert.equal(await backends.store.headObject(config.s3.canonicalBucket, objectKeys.original(outcome.mediaId)), undefined, entry);
      const response = await authedFetch(`${node.httpBase}/media/${outcome.mediaId}/thumb-256.webp`);
      assert.equal(response.status, 404, entry);
    }
  });

  it('serves portrait variants for orientation 6 and 8', async () => {
    for (const entry of ['photos/orientation-6-olympus.jpg', 'photos/orientation-8-canon.jpg']) {
      const outcome = outcomes.get(entry)!;
      const media = (await (await authedFetch(`${node.httpBase}/media/${outcome.mediaId}`)).json()) as {
        width: number;
        height: number;
        variants: Array<{ name: string; url: string }>;
      };
      assert.ok(media.height > media.width, `${entry}: ${media.width}x${media.height}`);
      for (const variant of media.variants) {
        const response = await authedFetch(variant.url);
        assert.equal(response.status, 200);
        assert.match(response.headers.get('cache-control') ?? '', /immutable/);
        assert.ok(response.headers.get('etag'));
        const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
        assert.ok(meta.height! > meta.width!, `${entry} ${variant.name}: ${meta.width}x${meta.height}`);
        assert.equal(meta.orientation, undefined, `${entry} ${variant.name} keeps an Orientation tag`);
      }
    }
  });

  it('keeps GPS private in JSON and variants', async () => {
    const outcome = outcomes.get('photos/sony-nex3n-cups-gps-progressive.jpg')!;
    const record = await backends.media.get(outcome.mediaId);
    assert.ok(record?.gps, 'GPS stored privately');
    assert.ok(Math.abs(record.gps.latitude - 56.156) < 0.01);
    for (const [entry, result] of outcomes) {
      if (result.status !== 'ready') continue;
      const text = await (await authedFetch(`${node.httpBase}/media/${result.mediaId}`)).text();
      assert.doesNotMatch(text, /"(gps\w*|latitude|longitude|altitude)"/i, `${entry} JSON has a location key`);
      assert.doesNotMatch(text, /56\.15|10\.20/, `${entry} JSON has the location's value`);
    }
    for (const name of outcome.variants) {
      const response = await authedFetch(`${node.httpBase}/media/${outcome.mediaId}/${name}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.equal(await exifr.gps(bytes).catch(() => undefined), undefined, `${name} carries GPS`);
    }
  });

  it('extracts camera EXIF', async () => {
    const outcome = outcomes.get('photos/nokia-n9-waterside.jpg')!;
    const media = (await (await authedFetch(`${node.httpBase}/media/${outcome.mediaId}`)).json()) as { exif: { make?: string; capturedAt?: string } };
    assert.equal(media.exif.make, 'Nokia');
    assert.match(media.exif.capturedAt ?? '', /^\d{4}-\d{2}-\d{2}T/);
  });

  it('records the steps in the audit trail', async () => {
    const outcome = outcomes.get('photos/rocket.jpg')!;
    const events = (await backends.media.listAudit(outcome.mediaId)).map((e) => e.event);
    assert.deepEqual(events, ['media_receiving', 'media_received', 'media_scanning', 'media_processing', 'media_ready']);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const outcome = outcomes.get('photos/rocket.jpg')!;
    const first = await authedFetch(`${node.httpBase}/media/${outcome.mediaId}/thumb-256.webp`);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    const second = await authedFetch(`${node.httpBase}/media/${outcome.mediaId}/thumb-256.webp`, { headers: { 'if-none-match': etag } });
    assert.equal(second.status, 304);
  });
});
