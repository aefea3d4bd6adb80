// Protocol rules of the gRPC Upload stream, each against the real stack.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { crc32c } from '@node-rs/crc32';

import { waitForFinal } from '../../nodes/client/upload.js';
import type { UploadRequest, UploadResponse, UploadServiceClient } from '../../proto/gen/shoebox/v1/upload.js';
import { MediaStatus } from '../../proto/gen/shoebox/v1/upload.js';
import { corpusFile } from '../corpus.js';
import { connectBackends, sha256, startNode, type Backends, type RunningNode } from './harness.js';

interface StreamResult {
  response?: UploadResponse;
  error?: ServiceError;
  code?: string;
  uploadId: string;
  mediaId: string;
}

function stream(client: UploadServiceClient, messages: UploadRequest[]): Promise<StreamResult> {
  return new Promise((resolve) => {
    const result: StreamResult = { uploadId: '', mediaId: '' };
    const call = client.upload(new Metadata(), (error, response) => {
      if (error) {
        result.error = error;
        result.code = String(error.metadata?.get('shoebox-error-code')[0] ?? '');
        result.mediaId ||= String(error.metadata?.get('shoebox-media-id')[0] ?? '');
      } else result.response = response;
      resolve(result);
    });
    call.on('metadata', (metadata: Metadata) => {
      result.uploadId = String(metadata.get('shoebox-upload-id')[0] ?? '');
      result.mediaId = String(metadata.get('shoebox-media-id')[0] ?? '');
    });
    for (const message of messages) call.write(message);
    call.end();
  });
}

function header(length: number, sha = ''): UploadRequest {
  return { header: { filename: 'test.jpg', contentType: 'image/jpeg', declaredLength: length, sha256: sha, metadata: {} } };
}

function chunk(offset: number, data: Buffer, crc = crc32c(data)): UploadRequest {
  return { chunk: { offset, data, crc32c: crc } };
}

describe('gRPC upload protocol', () => {
  let node: RunningNode;
  let backends: Backends;
  let photo: Buffer;

  before(async () => {
    backends = await connectBackends();
    node = await startNode();
    photo = await readFile(corpusFile('photos/rocket.jpg'));
  });
  after(async () => {
    await node?.stop();
    await backends?.close();
  });

  it('accepts a photo in several chunks', async () => {
    const half = Math.floor(photo.length / 2);
    const result = await stream(node.client, [header(photo.length, sha256(photo)), chunk(0, photo.subarray(0, half)), chunk(half, photo.subarray(half))]);
    assert.equal(result.error, undefined, result.error?.details);
    assert.equal(result.response?.storedLength, photo.length);
    assert.equal(result.response?.sha256, sha256(photo));
    assert.equal((await waitForFinal(node.client, result.response!.mediaId)).status, MediaStatus.MEDIA_STATUS_READY);
  });

  it('rejects an empty upload with a failed media item', async () => {
    const result = await stream(node.client, [header(0)]);
    assert.equal(result.error?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.equal(result.code, 'UPLOAD_EMPTY');
    assert.ok(result.mediaId, 'media id in trailers');
    const record = await backends.media.get(result.mediaId);
    assert.equal(record?.status, 'failed');
    assert.equal(record?.errorCode, 'UPLOAD_EMPTY');
  });

  it('rejects a chunk with a wrong CRC-32C', async () => {
    const result = await stream(node.client, [header(photo.length), chunk(0, photo, 12345)]);
    assert.equal(result.error?.code, GrpcStatus.DATA_LOSS);
    assert.equal(result.code, 'CHUNK_CHECKSUM_MISMATCH');
    assert.match(result.error?.details ?? '', /0x00003039/);
    const session = await backends.sessions.get(result.uploadId);
    assert.equal(session?.offset, 0, 'nothing stored');
  });

  it('rejects a chunk at the wrong offset', async () => {
    const result = await stream(node.client, [header(photo.length), chunk(100, photo.subarray(100))]);
    assert.equal(result.code, 'UPLOAD_OFFSET_MISMATCH');
    assert.equal(result.error?.code, GrpcStatus.FAILED_PRECONDITION);
    assert.match(result.error?.details ?? '', /chunk offset 100 .* session offset 0/);
  });

  it('rejects bytes past the declared length', async () => {
    const result = await stream(node.client, [header(10), chunk(0, photo.subarray(0, 11))]);
    assert.equal(result.code, 'UPLOAD_LENGTH_EXCEEDED');
  });

  it('keeps a short stream resumable', async () => {
    const result = await stream(node.client, [header(photo.length), chunk(0, photo.subarray(0, 1000))]);
    assert.equal(result.code, 'UPLOAD_INCOMPLETE');
    const resumed = await stream(node.client, [{ resume: { uploadId: result.uploadId } }, chunk(0, photo)]);
    assert.equal(resumed.error, undefined, resumed.error?.details);
    assert.equal(resumed.response?.sha256, sha256(photo));
  });

  it('fails the media item on a SHA-256 mismatch', async () => {
    const result = await stream(node.client, [header(photo.length, 'f'.repeat(64)), chunk(0, photo)]);
    assert.equal(result.code, 'CHECKSUM_MISMATCH');
    const record = await backends.media.get(result.mediaId);
    assert.equal(record?.status, 'failed');
    assert.equal(record?.errorCode, 'CHECKSUM_MISMATCH');
  });

  it('rejects a declared length over the maximum', async () => {
    const result = await stream(node.client, [header(10 * 1024 * 1024 * 1024)]);
    assert.equal(result.code, 'UPLOAD_TOO_LARGE');
    assert.match(result.error?.details ?? '', /10737418240 bytes/);
  });

  it('rejects a resume of an unknown upload', async () => {
    const result = await stream(node.client, [{ resume: { uploadId: randomUUID() } }]);
    assert.equal(result.code, 'UPLOAD_NOT_FOUND');
    assert.equal(result.error?.code, GrpcStatus.NOT_FOUND);
  });

  it('rejects a stream that starts with a chunk', async () => {
    const result = await stream(node.client, [chunk(0, photo)]);
    assert.equal(result.code, 'REQUEST_INVALID');
  });

  it('rejects a resume of a completed upload', async () => {
    const done = await stream(node.client, [header(photo.length), chunk(0, photo)]);
    assert.ok(done.response);
    const again = await stream(node.client, [{ resume: { uploadId: done.uploadId } }]);
    assert.equal(again.code, 'UPLOAD_ALREADY_COMPLETED');
  });

  it('lets only one of two writers advance the offset', async () => {
    const opened = await stream(node.client, [header(photo.length), chunk(0, photo.subarray(0, 10))]);
    const session = await backends.sessions.get(opened.uploadId);
    assert.ok(session);
    const part = { partNumber: 1, etag: '"x"', length: 5 };
    const results = await Promise.all([
      backends.sessions.advanceOffset(session, part, 0, 5),
      backends.sessions.advanceOffset(session, part, 0, 5),
    ]);
    assert.deepEqual(results.sort(), [false, true]);
    assert.equal((await backends.sessions.get(opened.uploadId))?.offset, 5);
  });

  it('reports a non-image upload as failed after the scan', async () => {
    const bytes = randomBytes(4096);
    const result = await stream(node.client, [header(bytes.length), chunk(0, bytes)]);
    assert.ok(result.response, result.error?.details);
    const media = await waitForFinal(node.client, result.response.mediaId);
    assert.equal(media.status, MediaStatus.MEDIA_STATUS_FAILED);
    assert.equal(media.errorCode, 'NOT_AN_IMAGE');
  });
});
