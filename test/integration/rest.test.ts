// The REST chunk API, presigned direct uploads and the OpenAPI document,
// against the real stack.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { waitForFinal } from '../../nodes/client/upload.js';
import { MediaStatus } from '../../proto/gen/shoebox/v1/upload.js';
import { objectKeys } from '../../storage/s3.js';
import { corpusFile } from '../corpus.js';
import { authedFetch, config, connectBackends, otherToken, sha256, startNode, type Backends, type RunningNode } from './harness.js';

const PART_SIZE = 5 * 1024 * 1024;

interface UploadView {
  id: string;
  mediaId: string;
  chunkSize: number;
  chunkCount: number;
  receivedChunks: number[];
  missingChunks: number[];
  put?: { method: string; url: string; headers: Record<string, string> };
}

function json(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

describe('REST chunk API', () => {
  let node: RunningNode;
  let backends: Backends;
  let file: Buffer;

  before(async () => {
    backends = await connectBackends();
    node = await startNode({ SHOEBOX_PART_SIZE: String(PART_SIZE) });
    file = await readFile(corpusFile('photos/patak-5k.png'));
  });
  after(async () => {
    await node?.stop();
    await backends?.close();
  });

  async function start(bytes: Buffer, extra: Record<string, unknown> = {}): Promise<UploadView> {
    const response = await authedFetch(
      `${node.httpBase}/uploads`,
      json({ filename: 'patak.png', contentType: 'image/png', length: bytes.length, sha256: sha256(bytes), ...extra }),
    );
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as UploadView;
  }

  function putChunk(id: string, index: number, bytes: Uint8Array, checksum = sha256(bytes)): Promise<Response> {
    return authedFetch(`${node.httpBase}/uploads/${id}/chunk?index=${index}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-chunk-sha256': checksum },
      body: bytes,
    });
  }

  function chunkOf(index: number): Buffer {
    return file.subarray(index * PART_SIZE, (index + 1) * PART_SIZE);
  }

  describe('validation', () => {
    for (const [name, body, field] of [
      ['missing length', { filename: 'a', contentType: 'image/png', sha256: 'a'.repeat(64) }, 'length'],
      ['negative length', { filename: 'a', contentType: 'image/png', length: -1, sha256: 'a'.repeat(64) }, 'length'],
      ['malformed sha256', { filename: 'a', contentType: 'image/png', length: 5, sha256: 'xyz' }, 'sha256'],
      ['unknown mode', { filename: 'a', contentType: 'image/png', length: 5, sha256: 'a'.repeat(64), mode: 'carrier-pigeon' }, 'mode'],
    ] as Array<[string, Record<string, unknown>, string]>) {
      it(`rejects ${name} with 400 naming the field`, async () => {
        const response = await authedFetch(`${node.httpBase}/uploads`, json(body));
        assert.equal(response.status, 400);
        const error = (await response.json()) as { error: { code: string; message: string } };
        assert.equal(error.error.code, 'REQUEST_INVALID');
        assert.match(error.error.message, new RegExp(field));
      });
    }

    it('rejects unknown fields', async () => {
      const response = await authedFetch(
        `${node.httpBase}/uploads`,
        json({ filename: 'a', contentType: 'image/png', length: 5, sha256: 'a'.repeat(64), colour: 'red' }),
      );
      assert.equal(response.status, 400);
      assert.match(await response.text(), /additional properties/);
    });

    it('rejects a chunk without its checksum header', async () => {
      const upload = await start(file);
      const response = await authedFetch(`${node.httpBase}/uploads/${upload.id}/chunk?index=0`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: chunkOf(0),
      });
      assert.equal(response.status, 400);
      assert.match(await response.text(), /x-chunk-sha256/);
    });

    it('requires a token', async () => {
      const response = await fetch(`${node.httpBase}/uploads`, json({}));
      assert.equal(response.status, 401);
    });
  });

  it('assembles chunks sent out of order', async () => {
    const upload = await start(file);
    assert.equal(upload.chunkSize, PART_SIZE);
    assert.equal(upload.chunkCount, Math.ceil(file.length / PART_SIZE));
    assert.ok(upload.chunkCount >= 3);

    const last = upload.chunkCount - 1;
    assert.equal((await putChunk(upload.id, last, chunkOf(last))).status, 200);
    assert.equal((await putChunk(upload.id, 0, chunkOf(0))).status, 200);

    const early = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(early.status, 409);
    assert.match(await early.text(), /chunks missing: 1/);

    const state = (await (await authedFetch(`${node.httpBase}/uploads/${upload.id}`)).json()) as UploadView;
    assert.deepEqual(state.receivedChunks, [0, last]);
    assert.deepEqual(state.missingChunks, Array.from({ length: last - 1 }, (_, i) => i + 1));

    for (let index = 1; index < last; index++) assert.equal((await putChunk(upload.id, index, chunkOf(index))).status, 200);
    const resent = await putChunk(upload.id, 1, chunkOf(1));
    assert.equal(resent.status, 200);
    assert.deepEqual(await resent.json(), { index: 1, duplicate: true });

    const complete = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(complete.status, 202);
    assert.equal(((await complete.json()) as { sha256: string }).sha256, sha256(file));
    const media = await waitForFinal(node.client, upload.mediaId);
    assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, media.reason);
    const original = await backends.store.getObjectBytes(config.s3.canonicalBucket, objectKeys.original(upload.mediaId));
    assert.equal(sha256(original!), sha256(file));
  });

  it('rejects different bytes for a received chunk with 409', async () => {
    const upload = await start(file);
    assert.equal((await putChunk(upload.id, 0, chunkOf(0))).status, 200);
    const other = randomBytes(PART_SIZE);
    assert.equal((await putChunk(upload.id, 0, other)).status, 409);
  });

  it('rejects an out-of-range index and a wrong size with 400', async () => {
    const upload = await start(file);
    const outOfRange = await putChunk(upload.id, upload.chunkCount, chunkOf(0));
    assert.equal(outOfRange.status, 400);
    assert.match(await outOfRange.text(), /index/);
    const short = await putChunk(upload.id, 0, chunkOf(0).subarray(0, 100));
    assert.equal(short.status, 400);
    assert.match(await short.text(), /exactly 5242880 bytes/);
  });

  it('rejects a chunk whose checksum does not match with 460', async () => {
    const upload = await start(file);
    const response = await putChunk(upload.id, 0, chunkOf(0), 'f'.repeat(64));
    assert.equal(response.status, 460);
    const state = (await (await authedFetch(`${node.httpBase}/uploads/${upload.id}`)).json()) as UploadView;
    assert.deepEqual(state.receivedChunks, []);
  });

  it('removes everything on DELETE', async () => {
    const upload = await start(file);
    assert.equal((await putChunk(upload.id, 0, chunkOf(0))).status, 200);
    const response = await authedFetch(`${node.httpBase}/uploads/${upload.id}`, { method: 'DELETE' });
    assert.equal(response.status, 204);
    assert.equal((await authedFetch(`${node.httpBase}/uploads/${upload.id}`)).status, 404);
    assert.deepEqual(await backends.store.listMultipartUploads(config.s3.stagingBucket, objectKeys.staging(upload.id)), []);
    assert.equal(await backends.media.get(upload.mediaId), undefined);
  });

  it("hides another tenant's upload with 404", async () => {
    const upload = await start(file);
    const response = await fetch(`${node.httpBase}/uploads/${upload.id}`, { headers: { authorization: `Bearer ${otherToken}` } });
    assert.equal(response.status, 404);
  });

  describe('OpenAPI document', () => {
    it('lists every upload route', async () => {
      const document = (await (await fetch(`${node.httpBase}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      for (const path of ['/uploads', '/uploads/{id}/chunk', '/uploads/{id}/complete', '/uploads/{id}', '/media/{id}']) {
        assert.ok(document.paths[path], `${path} missing`);
      }
    });

    it('matches the committed docs/openapi.json', async () => {
      const served = await (await fetch(`${node.httpBase}/openapi.json`)).json();
      const committed = JSON.parse(await readFile(join(config.rootDir, 'docs/openapi.json'), 'utf8')) as unknown;
      assert.deepEqual(served, committed, 'docs/openapi.json is stale: run ./deploy/task openapi');
    });
  });
});

describe('presigned direct uploads', () => {
  let node: RunningNode;
  let brief: RunningNode;
  let photo: Buffer;

  before(async () => {
    [node, brief] = await Promise.all([startNode(), startNode({ SHOEBOX_DIRECT_URL_TTL_SECONDS: '1' })]);
    photo = await readFile(corpusFile('photos/nokia-n9-waterside.jpg'));
  });
  after(async () => {
    await Promise.all([node?.stop(), brief?.stop()]);
  });

  async function startDirect(target: RunningNode, bytes: Buffer): Promise<UploadView> {
    const response = await authedFetch(
      `${target.httpBase}/uploads`,
      json({ filename: 'n9.jpg', contentType: 'image/jpeg', length: bytes.length, sha256: sha256(bytes), mode: 'direct' }),
    );
    assert.equal(response.status, 201);
    const upload = (await response.json()) as UploadView;
    assert.ok(upload.put?.url.startsWith(config.s3.endpoint), upload.put?.url);
    return upload;
  }

  function put(url: string, body: Uint8Array, contentType = 'image/jpeg'): Promise<Response> {
    return fetch(url, { method: 'PUT', headers: { 'content-type': contentType, 'x-amz-acl': 'bucket-owner-full-control' }, body });
  }

  it('is rejected by RGW without the signed ACL header', async () => {
    const upload = await startDirect(node, photo);
    const response = await fetch(upload.put!.url, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: photo });
    assert.equal(response.status, 403);
  });

  it('stores a photo sent straight to storage', async () => {
    const upload = await startDirect(node, photo);
    const response = await put(upload.put!.url, photo);
    assert.equal(response.status, 200, await response.text());
    const complete = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(complete.status, 202, await complete.clone().text());
    const media = await waitForFinal(node.client, upload.mediaId);
    assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, media.reason);
    assert.equal(media.sha256, sha256(photo));
  });

  it('is rejected by RGW for another content type', async () => {
    const upload = await startDirect(node, photo);
    assert.equal((await put(upload.put!.url, photo, 'image/png')).status, 403);
  });

  it('is rejected by RGW for a larger body', async () => {
    const upload = await startDirect(node, photo);
    const larger = Buffer.concat([photo, Buffer.from('more')]);
    assert.equal((await put(upload.put!.url, larger)).status, 403);
  });

  it('is rejected by RGW for another key', async () => {
    const upload = await startDirect(node, photo);
    const url = upload.put!.url.replace(`uploads/${upload.id}`, `uploads/${upload.id}x`);
    assert.equal((await put(url, photo)).status, 403);
  });

  it('is rejected by RGW after expiry', async () => {
    const upload = await startDirect(brief, photo);
    await sleep(2_500);
    assert.equal((await put(upload.put!.url, photo)).status, 403);
  });

  it('refuses to complete before the object arrived', async () => {
    const upload = await startDirect(node, photo);
    const complete = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(complete.status, 409);
  });

  it('fails the media item when the bytes do not match the declared SHA-256', async () => {
    const other = Buffer.from(photo);
    const flipAt = other.length - 10;
    other.writeUInt8(other.readUInt8(flipAt) ^ 0xff, flipAt);
    const response = await authedFetch(
      `${node.httpBase}/uploads`,
      json({ filename: 'n9.jpg', contentType: 'image/jpeg', length: photo.length, sha256: createHash('sha256').update(photo).digest('hex'), mode: 'direct' }),
    );
    const upload = (await response.json()) as UploadView;
    assert.equal((await put(upload.put!.url, other)).status, 200);
    const complete = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(complete.status, 460);
  });
});

describe('presigned multipart direct uploads', () => {
  let node: RunningNode;
  before(async () => {
    node = await startNode({ SHOEBOX_PART_SIZE: String(PART_SIZE) });
  });
  after(async () => {
    await node?.stop();
  });

  it('assembles parts sent to presigned part URLs', async () => {
    const file = await readFile(corpusFile('photos/patak-5k.png'));
    const response = await authedFetch(
      `${node.httpBase}/uploads`,
      json({ filename: 'patak.png', contentType: 'image/png', length: file.length, sha256: sha256(file), mode: 'direct' }),
    );
    assert.equal(response.status, 201);
    const upload = (await response.json()) as UploadView & { parts: Array<{ partNumber: number; url: string }> };
    assert.equal(upload.parts.length, Math.ceil(file.length / PART_SIZE));
    assert.equal(upload.put, undefined);

    const first = upload.parts[0]!;
    const tooShort = await fetch(first.url, { method: 'PUT', body: file.subarray(0, 1000) });
    assert.equal(tooShort.status, 403, 'the signature binds the part length');

    const early = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(early.status, 409);

    for (const part of upload.parts) {
      const bytes = file.subarray((part.partNumber - 1) * PART_SIZE, part.partNumber * PART_SIZE);
      const put = await fetch(part.url, { method: 'PUT', body: bytes });
      assert.equal(put.status, 200, await put.text());
    }
    const complete = await authedFetch(`${node.httpBase}/uploads/${upload.id}/complete`, { method: 'POST' });
    assert.equal(complete.status, 202, await complete.clone().text());
    const media = await waitForFinal(node.client, upload.mediaId);
    assert.equal(media.status, MediaStatus.MEDIA_STATUS_READY, media.reason);
    assert.equal(media.sha256, sha256(file));
  });
});
