// tus 1.0.0 against two real gateway processes (ingest nodes) sharing the
// stack, plus tus-js-client as a real client.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import * as tus from 'tus-js-client';

import { waitForFinal } from '../../nodes/client/upload.js';
import { MediaStatus } from '../../proto/gen/shoebox/v1/upload.js';
import { objectKeys } from '../../storage/s3.js';
import { corpusFile } from '../corpus.js';
import { authHeaders, config, connectBackends, freePorts, sha256, startNode, testToken, type Backends, type RunningNode } from './harness.js';

const TUS = { 'tus-resumable': '1.0.0', ...authHeaders };
const OCTETS = { 'content-type': 'application/offset+octet-stream' };

async function create(node: RunningNode, headers: Record<string, string>): Promise<Response> {
  return fetch(`${node.httpBase}/files/`, { method: 'POST', headers: { ...TUS, ...headers } });
}

async function createUpload(node: RunningNode, length: number, extra: Record<string, string> = {}): Promise<{ url: string; mediaId: string }> {
  const response = await create(node, { 'upload-length': String(length), ...extra });
  assert.equal(response.status, 201, await response.text());
  return { url: response.headers.get('location')!, mediaId: response.headers.get('shoebox-media-id')! };
}

function patch(node: RunningNode, url: string, offset: number, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${node.httpBase}${url}`, {
    method: 'PATCH',
    headers: { ...TUS, ...OCTETS, 'upload-offset': String(offset), ...headers },
    body,
  });
}

async function head(node: RunningNode, url: string): Promise<Response> {
  return fetch(`${node.httpBase}${url}`, { method: 'HEAD', headers: TUS });
}

async function offsetOf(node: RunningNode, url: string): Promise<number> {
  const response = await head(node, url);
  assert.equal(response.status, 200);
  return Number(response.headers.get('upload-offset'));
}

describe('tus 1.0.0', () => {
  let a: RunningNode;
  let b: RunningNode;
  let backends: Backends;
  let photo: Buffer;

  before(async () => {
    backends = await connectBackends();
    [a, b] = await Promise.all([startNode(), startNode()]);
    photo = await readFile(corpusFile('photos/rocket.jpg'));
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await backends?.close();
  });

  describe('discovery and headers', () => {
    it('answers OPTIONS with 204 and no Tus-Resumable', async () => {
      const response = await fetch(`${a.httpBase}/files/`, { method: 'OPTIONS' });
      assert.equal(response.status, 204);
      assert.equal(response.headers.get('tus-version'), '1.0.0');
      assert.deepEqual(response.headers.get('tus-extension')!.split(',').sort(), [
        'checksum',
        'concatenation',
        'creation',
        'creation-defer-length',
        'creation-with-upload',
        'expiration',
        'termination',
      ]);
      assert.equal(response.headers.get('tus-checksum-algorithm'), 'sha1,sha256');
      assert.ok(Number(response.headers.get('tus-max-size')) > 0);
    });

    it('rejects a missing Tus-Resumable with 412', async () => {
      const response = await fetch(`${a.httpBase}/files/`, { method: 'POST', headers: { ...authHeaders, 'upload-length': '10' } });
      assert.equal(response.status, 412);
      assert.equal(response.headers.get('tus-version'), '1.0.0');
      assert.match(await response.text(), /Tus-Resumable is missing/);
    });

    it('rejects an unsupported Tus-Resumable with 412', async () => {
      const response = await fetch(`${a.httpBase}/files/`, { method: 'POST', headers: { ...TUS, 'tus-resumable': '0.2.2', 'upload-length': '10' } });
      assert.equal(response.status, 412);
    });

    it('rejects a PATCH without Tus-Resumable before reading it', async () => {
      const { url } = await createUpload(a, photo.length);
      const response = await fetch(`${a.httpBase}${url}`, {
        method: 'PATCH',
        headers: { ...authHeaders, ...OCTETS, 'upload-offset': '0' },
        body: photo,
      });
      assert.equal(response.status, 412);
      assert.equal(await offsetOf(a, url), 0);
    });
  });

  describe('creation', () => {
    for (const [name, headers] of [
      ['negative length', { 'upload-length': '-1' }],
      ['non-decimal length', { 'upload-length': '0x10' }],
      ['fractional length', { 'upload-length': '1.5' }],
      ['out-of-range length', { 'upload-length': '99999999999999999999' }],
      ['repeated length', { 'upload-length': '5, 5' }],
      ['defer length other than 1', { 'upload-defer-length': '2' }],
      ['both length and deferral', { 'upload-length': '5', 'upload-defer-length': '1' }],
      ['neither length nor deferral', {}],
      ['metadata value not base64', { 'upload-length': '5', 'upload-metadata': 'filename !!!' }],
      ['duplicate metadata key', { 'upload-length': '5', 'upload-metadata': 'a YQ==,a Yg==' }],
    ] as Array<[string, Record<string, string>]>) {
      it(`rejects ${name} with 400`, async () => {
        const response = await create(a, headers);
        assert.equal(response.status, 400, `${name}: ${await response.text()}`);
        assert.equal(response.headers.get('location'), null);
      });
    }

    it('accepts an empty metadata value', async () => {
      const response = await create(a, { 'upload-length': '5', 'upload-metadata': `filename ${Buffer.from('x.jpg').toString('base64')},note` });
      assert.equal(response.status, 201);
    });

    it('rejects a length above the maximum with 413', async () => {
      const response = await create(a, { 'upload-length': String(config.upload.maxLength + 1) });
      assert.equal(response.status, 413);
    });

    it('sanitises the filename and keys storage by id', async () => {
      const name = Buffer.from('../../etc/passwd.jpg').toString('base64');
      const { url, mediaId } = await createUpload(a, photo.length, { 'upload-metadata': `filename ${name}` });
      assert.equal((await patch(a, url, 0, photo)).status, 204);
      const record = await backends.media.get(mediaId);
      assert.equal(record?.filename, 'passwd.jpg');
      const uploadId = url.split('/').pop()!;
      assert.equal((await backends.sessions.get(uploadId))?.stagingKey, `uploads/${uploadId}`);
    });

    it('stores the body of creation-with-upload', async () => {
      const response = await fetch(`${a.httpBase}/files/`, {
        method: 'POST',
        headers: { ...TUS, ...OCTETS, 'upload-length': String(photo.length) },
        body: photo.subarray(0, 1000),
      });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get('upload-offset'), '1000');
      assert.ok(response.headers.get('upload-expires'));
    });

    it('completes a zero-length upload once, as not an image', async () => {
      const { url, mediaId } = await createUpload(a, 0);
      assert.equal(await offsetOf(a, url), 0);
      const media = await waitForFinal(a.client, mediaId);
      assert.equal(media.status, MediaStatus.MEDIA_STATUS_FAILED);
      assert.equal(media.errorCode, 'NOT_AN_IMAGE');
      const again = await patch(a, url, 0, Buffer.alloc(0));
      assert.equal(again.status, 409);
    });
  });

  describe('PATCH', () => {
    it('rejects a wrong offset with 409 and changes nothing', async () => {
      const { url } = await createUpload(a, photo.length);
      assert.equal((await patch(a, url, 0, photo.subarray(0, 100))).status, 204);
      const response = await patch(a, url, 50, photo.subarray(50, 200));
      assert.equal(response.status, 409);
      assert.equal(await offsetOf(a, url), 100);
    });

    it('rejects bytes past Upload-Length with 413', async () => {
      const { url } = await createUpload(a, 100);
      const response = await patch(a, url, 0, randomBytes(200));
      assert.equal(response.status, 413);
      assert.ok((await offsetOf(a, url)) <= 100);
    });

    it('splits a PATCH into chunks below a small chunk limit', async () => {
      const node = await startNode({ SHOEBOX_MAX_CHUNK_LENGTH: '100000' });
      try {
        const body = randomBytes(1024 * 1024 + 7);
        const { url, mediaId } = await createUpload(node, body.length);
        const response = await patch(node, url, 0, body);
        assert.equal(response.status, 204, await response.text());
        assert.equal(response.headers.get('upload-offset'), String(body.length));
        const item = await backends.media.get(mediaId);
        assert.equal(item?.sha256, sha256(body), 'every byte stored once, in order');
      } finally {
        await node.stop();
      }
    });

    it('rejects a deferred upload past the maximum with 413', async () => {
      const small = await startNode({ SHOEBOX_MAX_UPLOAD_LENGTH: '1000' });
      try {
        const response = await create(small, { 'upload-defer-length': '1' });
        assert.equal(response.status, 201);
        const url = response.headers.get('location')!;
        const rejected = await patch(small, url, 0, randomBytes(1500));
        assert.equal(rejected.status, 413);
        const after = await head(small, url);
        assert.equal(after.headers.get('upload-defer-length'), '1');
        assert.ok(Number(after.headers.get('upload-offset')) <= 1000);
      } finally {
        await small.stop();
      }
    });

    it('completes a deferred upload once its length is declared', async () => {
      const response = await create(a, { 'upload-defer-length': '1' });
      const url = response.headers.get('location')!;
      const mediaId = response.headers.get('shoebox-media-id')!;
      assert.equal((await patch(a, url, 0, photo.subarray(0, 5000))).status, 204);
      const last = await patch(a, url, 5000, photo.subarray(5000), { 'upload-length': String(photo.length) });
      assert.equal(last.status, 204);
      assert.equal((await waitForFinal(a.client, mediaId)).status, MediaStatus.MEDIA_STATUS_READY);
    });

    it('discards a chunk whose checksum does not match with 460', async () => {
      const { url } = await createUpload(a, photo.length);
      const wrong = createHash('sha256').update('something else').digest('base64');
      const response = await patch(a, url, 0, photo.subarray(0, 1000), { 'upload-checksum': `sha256 ${wrong}` });
      assert.equal(response.status, 460);
      assert.equal(await offsetOf(a, url), 0);
    });

    it('accepts sha1 and sha256 checksums', async () => {
      const { url } = await createUpload(a, photo.length);
      const first = photo.subarray(0, 1000);
      const sha1 = createHash('sha1').update(first).digest('base64');
      assert.equal((await patch(a, url, 0, first, { 'upload-checksum': `sha1 ${sha1}` })).status, 204);
      const rest = photo.subarray(1000);
      const sha = createHash('sha256').update(rest).digest('base64');
      assert.equal((await patch(a, url, 1000, rest, { 'upload-checksum': `sha256 ${sha}` })).status, 204);
      assert.equal(await offsetOf(a, url), photo.length);
    });

    it('rejects an unknown checksum algorithm with 400', async () => {
      const { url } = await createUpload(a, photo.length);
      const md5 = createHash('md5').update(photo).digest('base64');
      const response = await patch(a, url, 0, photo, { 'upload-checksum': `md5 ${md5}` });
      assert.equal(response.status, 400);
      assert.equal(await offsetOf(a, url), 0);
    });

    it('continues an upload on alternating gateways', async () => {
      // Each gateway's session actor keeps a copy of the session, which the
      // other gateway's PATCH makes stale.
      const body = randomBytes(3 * 1024 * 1024 + 5);
      const { url } = await createUpload(a, body.length);
      const pieces = [0, 1024 * 1024, 2 * 1024 * 1024, body.length];
      for (let i = 0; i < 3; i++) {
        const node = i % 2 === 0 ? a : b;
        const response = await patch(node, url, pieces[i]!, body.subarray(pieces[i], pieces[i + 1]));
        assert.equal(response.status, 204, `PATCH ${i} on gateway ${i % 2 === 0 ? 'a' : 'b'}`);
        assert.equal(response.headers.get('upload-offset'), String(pieces[i + 1]));
      }
      assert.equal(await offsetOf(b, url), body.length);
    });

    it('releases the lock after a rejected PATCH', async () => {
      const { url } = await createUpload(a, photo.length);
      const bad = await patch(a, url, 0, photo.subarray(0, 1000), { 'upload-checksum': `sha1 ${createHash('sha1').update('other bytes').digest('base64')}` });
      assert.equal(bad.status, 460);
      // A lock left held would return 423 until it expired.
      assert.equal((await patch(b, url, 0, photo.subarray(0, 1000))).status, 204);
      assert.equal((await patch(a, url, 1000, photo.subarray(1000))).status, 204);
      assert.equal(await offsetOf(a, url), photo.length);
    });

    it('lets one of two PATCHes at the same offset win, across gateways', async () => {
      for (const [first, second] of [
        [a, b],
        [a, a],
      ] as Array<[RunningNode, RunningNode]>) {
        const body = randomBytes(2 * 1024 * 1024);
        const { url } = await createUpload(first, 4 * 1024 * 1024);
        const statuses = (await Promise.all([patch(first, url, 0, body), patch(second, url, 0, body)])).map((r) => r.status).sort();
        assert.equal(statuses[0], 204, `statuses ${statuses.join(',')}`);
        assert.ok([409, 423].includes(statuses[1]!), `statuses ${statuses.join(',')}`);
        assert.equal(await offsetOf(second, url), body.length, 'stored bytes counted once');
      }
    });
  });

  describe('termination and expiration', () => {
    it('removes every trace on DELETE', async () => {
      const { url, mediaId } = await createUpload(a, 12 * 1024 * 1024);
      assert.equal((await patch(a, url, 0, randomBytes(9 * 1024 * 1024))).status, 204);
      const uploadId = url.split('/').pop()!;
      const staging = await backends.store.listMultipartUploads(config.s3.stagingBucket, objectKeys.staging(uploadId));
      assert.equal(staging.length, 1, 'an open multipart upload before DELETE');
      const response = await fetch(`${b.httpBase}${url}`, { method: 'DELETE', headers: TUS });
      assert.equal(response.status, 204);
      assert.ok([404, 410].includes((await head(a, url)).status));
      assert.deepEqual(await backends.store.listMultipartUploads(config.s3.stagingBucket, objectKeys.staging(uploadId)), []);
      assert.deepEqual(await backends.store.listKeys(config.s3.stagingBucket, objectKeys.tailPrefix(uploadId)), []);
      assert.equal(await backends.sessions.get(uploadId), undefined);
      assert.equal(await backends.media.get(mediaId), undefined);
    });

    it('answers 410 once an upload expired', async () => {
      const brief = await startNode({ SHOEBOX_SESSION_TTL_SECONDS: '2' });
      try {
        const { url } = await createUpload(brief, photo.length);
        await sleep(2_500);
        assert.equal((await head(brief, url)).status, 410);
        assert.equal((await patch(brief, url, 0, photo)).status, 410);
      } finally {
        await brief.stop();
      }
    });
  });

  describe('resumption', () => {
    it('resumes after the gateway is killed', async () => {
      const ports = await freePorts();
      let node = await startNode({}, ports);
      const file = await readFile(corpusFile('photos/honeywave-5k.jpg'));
      const { url, mediaId } = await createUpload(node, file.length);
      const half = Math.floor(file.length / 2);
      assert.equal((await patch(node, url, 0, file.subarray(0, half))).status, 204);
      await node.kill();
      node = await startNode({}, ports);
      try {
        assert.equal(await offsetOf(node, url), half);
        assert.equal((await patch(node, url, half, file.subarray(half))).status, 204);
        assert.equal((await waitForFinal(node.client, mediaId)).status, MediaStatus.MEDIA_STATUS_READY);
        const original = await backends.store.getObjectBytes(config.s3.canonicalBucket, objectKeys.original(mediaId));
        assert.equal(sha256(original!), sha256(file));
      } finally {
        await node.stop();
      }
    });
  });

  describe('tus-js-client', () => {
    function upload(bytes: Buffer, options: Partial<tus.UploadOptions>): { done: Promise<string>; upload: tus.Upload } {
      let resolve!: (url: string) => void;
      let reject!: (error: Error) => void;
      const done = new Promise<string>((ok, fail) => {
        resolve = ok;
        reject = fail;
      });
      const instance: tus.Upload = new tus.Upload(bytes, {
        endpoint: `${a.httpBase}/files/`,
        headers: { authorization: `Bearer ${testToken}` },
        metadata: { filename: 'photo.jpg', filetype: 'image/jpeg' },
        retryDelays: [100, 300, 1000],
        storeFingerprintForResuming: false,
        onSuccess: () => resolve(instance.url!),
        onError: reject,
        ...options,
      });
      instance.start();
      return { done, upload: instance };
    }

    async function mediaIdOf(url: string): Promise<string> {
      const response = await fetch(`${a.httpBase}${new URL(url, a.httpBase).pathname}`, { method: 'HEAD', headers: TUS });
      return response.headers.get('shoebox-media-id')!;
    }

    it('resumes after an aborted upload', async () => {
      const file = await readFile(corpusFile('photos/volna-5k-progressive.jpg'));
      let aborted = false;
      const first = upload(file, {
        chunkSize: 256 * 1024,
        onChunkComplete: (_size, sent) => {
          if (!aborted && sent >= 512 * 1024) {
            aborted = true;
            void first.upload.abort();
          }
        },
      });
      while (!aborted) await sleep(20);
      await sleep(100);
      const url = first.upload.url!;
      const resumedFrom = await offsetOf(a, new URL(url, a.httpBase).pathname);
      assert.ok(resumedFrom >= 512 * 1024, `resumed from ${resumedFrom}, expected at least 512 KiB`);
      assert.ok(resumedFrom < file.length, `resumed from ${resumedFrom}, expected less than ${file.length}`);
      const second = upload(file, { uploadUrl: url, chunkSize: 256 * 1024 });
      await second.done;
      const mediaId = await mediaIdOf(url);
      const media = await waitForFinal(a.client, mediaId);
      assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, media.reason);
      assert.equal(media.sha256, sha256(file));
    });

    it('uploads in parallel with concatenation', async () => {
      const file = await readFile(corpusFile('photos/patak-5k.png'));
      const { done } = upload(file, { parallelUploads: 3 });
      const url = await done;
      const mediaId = await mediaIdOf(url);
      const media = await waitForFinal(a.client, mediaId);
      assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, media.reason);
      assert.equal(media.sha256, sha256(file));
      assert.ok(media.variants.length >= 4);
    });
  });
});
