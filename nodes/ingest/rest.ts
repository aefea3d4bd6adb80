// The REST chunk API and presigned direct uploads, on the same session
// actors as gRPC and tus. Route schemas are the OpenAPI document
// (served at /openapi.json): fastify validates every request against them.

import { randomUUID } from 'node:crypto';

import { CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FastifyInstance } from 'fastify';

import type { WorkerPool } from '../../actors/pool.js';
import { chunkCount, chunkLength } from '../../actors/session.js';
import type { SessionRepository, UploadSessionRecord } from '../../storage/sessions.js';
import type { Config } from '../common/config.js';
import { ChunkTooLargeError, RequestInvalidError, StorageUnavailableError, UploadNotFoundError } from '../common/errors.js';
import { objectKeys } from '../../storage/s3.js';
import type { Metrics } from '../common/metrics.js';
import { requireUuid } from './grpc.js';

export interface RestDeps {
  config: Config;
  pool: WorkerPool;
  sessions: SessionRepository;
  metrics: Metrics;
  /** Signs presigned URLs with the staging-writer user's keys; undefined when it is not configured. */
  stagingWriter: S3Client | undefined;
}

const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;

const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid', description: 'Upload id returned by POST /uploads' } },
} as const;

const CREATE_BODY = {
  type: 'object',
  required: ['filename', 'contentType', 'length', 'sha256'],
  additionalProperties: false,
  properties: {
    filename: { type: 'string', maxLength: 1024, description: 'Client-side name, for display only' },
    contentType: { type: 'string', maxLength: 255, description: 'Claimed type; the server sniffs the bytes anyway' },
    length: { type: 'integer', minimum: 1, description: 'Total size in bytes' },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Lowercase hex SHA-256 of the whole upload' },
    mode: { type: 'string', enum: ['chunks', 'direct'], default: 'chunks', description: 'chunks: PUT /uploads/{id}/chunk; direct: presigned PUT to storage' },
    metadata: { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 }, maxProperties: 64 },
  },
} as const;

const UPLOAD_VIEW = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    mediaId: { type: 'string' },
    mode: { type: 'string' },
    status: { type: 'string', enum: ['open', 'completed'] },
    length: { type: 'integer' },
    chunkSize: { type: 'integer' },
    chunkCount: { type: 'integer' },
    receivedChunks: { type: 'array', items: { type: 'integer' } },
    missingChunks: { type: 'array', items: { type: 'integer' } },
    expiresAt: { type: 'string', format: 'date-time' },
    parts: {
      type: 'array',
      description: 'direct mode above chunkSize bytes: PUT part N (chunkSize bytes, the last one shorter) to its URL, then complete',
      items: {
        type: 'object',
        properties: {
          partNumber: { type: 'integer' },
          method: { type: 'string' },
          url: { type: 'string' },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
        },
      },
    },
    put: {
      type: 'object',
      description: 'direct mode up to chunkSize bytes: send the bytes with exactly this method, URL and headers',
      properties: {
        method: { type: 'string' },
        url: { type: 'string' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        expiresAt: { type: 'string', format: 'date-time' },
      },
    },
  },
} as const;

const RESULT = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    mediaId: { type: 'string' },
    status: { type: 'string' },
    length: { type: 'integer' },
    sha256: { type: 'string' },
  },
} as const;

interface CreateBody {
  filename: string;
  contentType: string;
  length: number;
  sha256: string;
  mode: 'chunks' | 'direct';
  metadata?: Record<string, string>;
}

async function createDirectMultipart(config: Config, writer: S3Client, key: string, contentType: string): Promise<string> {
  try {
    const out = await writer.send(
      new CreateMultipartUploadCommand({ Bucket: config.s3.stagingBucket, Key: key, ContentType: contentType, ACL: 'bucket-owner-full-control' }),
    );
    if (!out.UploadId) throw new Error('no UploadId in the response');
    return out.UploadId;
  } catch (error) {
    throw new StorageUnavailableError(`CreateMultipartUpload ${key} as the staging writer`, error);
  }
}

/** Presigns one UploadPart URL per part; each signature binds the part's Content-Length. */
async function presignParts(config: Config, writer: S3Client, record: UploadSessionRecord, s3UploadId: string) {
  const count = chunkCount(record.declaredLength, record.partSize);
  const parts = [];
  for (let index = 0; index < count; index++) {
    const length = chunkLength(index, record.declaredLength, record.partSize);
    const url = await getSignedUrl(
      writer,
      new UploadPartCommand({ Bucket: config.s3.stagingBucket, Key: record.stagingKey, UploadId: s3UploadId, PartNumber: index + 1, ContentLength: length }),
      { expiresIn: config.s3.directUrlTtlSeconds, signableHeaders: new Set(['content-length']) },
    );
    parts.push({ partNumber: index + 1, method: 'PUT', url, headers: { 'content-length': String(length) } });
  }
  return parts;
}

export function registerRest(app: FastifyInstance, deps: RestDeps): void {
  const { config, pool, sessions, metrics, stagingWriter } = deps;
  const chunkBodyLimit = config.upload.partSize;

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: chunkBodyLimit }, (_request, body, done) => done(null, body));

  async function view(record: UploadSessionRecord) {
    const count = chunkCount(record.declaredLength, record.partSize);
    const received = record.mode === 'chunks' ? (await sessions.listParts(record.uploadId)).map((p) => p.partNumber - 1).sort((a, b) => a - b) : [];
    const have = new Set(received);
    return {
      id: record.uploadId,
      mediaId: record.mediaId,
      mode: record.mode,
      status: record.completed ? 'completed' : 'open',
      length: record.declaredLength,
      chunkSize: record.partSize,
      chunkCount: count,
      receivedChunks: received,
      missingChunks: record.mode === 'chunks' ? Array.from({ length: count }, (_, i) => i).filter((i) => !have.has(i)) : [],
      expiresAt: record.expiresAt.toISOString(),
    };
  }

  async function load(id: string, tenant: string): Promise<UploadSessionRecord> {
    const uploadId = requireUuid('id', id);
    const record = await sessions.get(uploadId);
    if (!record || record.tenant !== tenant || record.mode === 'stream') throw new UploadNotFoundError(uploadId);
    return record;
  }

  app.post<{ Body: CreateBody }>(
    '/uploads',
    {
      schema: {
        summary: 'Start an upload',
        description: 'Creates an upload session. chunks mode: send chunks of chunkSize bytes (the last one shorter) in any order, then complete. direct mode: PUT the whole upload to the returned presigned URL, then complete.',
        body: CREATE_BODY,
        response: { 201: UPLOAD_VIEW, 400: ERROR_SCHEMA, 401: ERROR_SCHEMA, 413: ERROR_SCHEMA },
      },
    },
    async (request, reply) => {
      const { filename, contentType, length, sha256, mode, metadata = {} } = request.body;
      if (mode === 'direct' && !stagingWriter) throw new RequestInvalidError('mode', mode, 'direct uploads are not configured on this node (no staging-writer keys)');
      const uploadId = randomUUID();
      // Larger direct uploads go in parts, each to its own presigned URL.
      const multipart = mode === 'direct' && stagingWriter !== undefined && length > config.upload.partSize;
      const directUploadId = multipart ? await createDirectMultipart(config, stagingWriter, objectKeys.staging(uploadId), contentType) : undefined;
      await pool.send(uploadId, {
        op: 'open',
        uploadId,
        upload: {
          mediaId: randomUUID(),
          mode,
          concat: '',
          tenant: request.tenant,
          filename,
          contentType,
          declaredLength: length,
          sha256,
          metadata,
          uploadMetadata: '',
          ...(directUploadId ? { directUploadId } : {}),
        },
      });
      metrics.uploadsStarted.inc({ api: mode === 'direct' ? 'direct' : 'rest' });
      const record = await load(uploadId, request.tenant);
      const body: Record<string, unknown> = await view(record);
      if (multipart && stagingWriter && directUploadId) {
        body['parts'] = await presignParts(config, stagingWriter, record, directUploadId);
      } else if (mode === 'direct' && stagingWriter) {
        // The signature covers the key, Content-Type, Content-Length and the
        // x-amz-acl header, so RGW rejects another key, type or size, and any
        // use after expiry. The canned ACL lets the bucket owner (Shoebox)
        // read what the staging-writer user wrote; RGW 16 ignores it as a
        // query parameter, so it stays a signed header the client must send.
        const url = await getSignedUrl(
          stagingWriter,
          new PutObjectCommand({
            Bucket: config.s3.stagingBucket,
            Key: record.stagingKey,
            ContentType: contentType,
            ContentLength: length,
            ACL: 'bucket-owner-full-control',
          }),
          {
            expiresIn: config.s3.directUrlTtlSeconds,
            signableHeaders: new Set(['content-type', 'content-length', 'x-amz-acl']),
            unhoistableHeaders: new Set(['x-amz-acl']),
          },
        );
        body['put'] = {
          method: 'PUT',
          url,
          headers: { 'content-type': contentType, 'content-length': String(length), 'x-amz-acl': 'bucket-owner-full-control' },
          expiresAt: new Date(Date.now() + config.s3.directUrlTtlSeconds * 1000).toISOString(),
        };
      }
      return reply.status(201).send(body);
    },
  );

  app.put<{ Params: { id: string }; Querystring: { index: number }; Headers: { 'x-chunk-sha256': string } }>(
    '/uploads/:id/chunk',
    {
      schema: {
        summary: 'Send one chunk',
        description: 'Stores chunk `index` (0-based). Resending identical bytes is a no-op; different bytes for a received chunk: 409.',
        params: ID_PARAMS,
        querystring: { type: 'object', required: ['index'], properties: { index: { type: 'integer', minimum: 0 } } },
        headers: {
          type: 'object',
          required: ['x-chunk-sha256'],
          properties: { 'x-chunk-sha256': { type: 'string', pattern: '^[0-9a-f]{64}$', description: "Lowercase hex SHA-256 of the chunk's bytes" } },
        },
        response: {
          200: { type: 'object', properties: { index: { type: 'integer' }, duplicate: { type: 'boolean' } } },
          400: ERROR_SCHEMA,
          409: ERROR_SCHEMA,
          460: ERROR_SCHEMA,
        },
      },
    },
    async (request) => {
      const record = await load(request.params.id, request.tenant);
      if (record.mode !== 'chunks') throw new RequestInvalidError('mode', record.mode, 'chunks go only to uploads created in chunks mode');
      const body = request.body;
      if (!Buffer.isBuffer(body)) throw new RequestInvalidError('Content-Type', request.headers['content-type'], 'must be application/octet-stream');
      if (body.length > record.partSize) throw new ChunkTooLargeError(body.length, record.partSize);
      // Read before the send: the worker pool may move the body to the worker.
      const length = body.length;
      const stored = await pool.send(record.uploadId, {
        op: 'putChunk',
        uploadId: record.uploadId,
        tenant: request.tenant,
        index: request.query.index,
        data: body,
        sha256: request.headers['x-chunk-sha256'],
      });
      if (stored.duplicate) metrics.chunkRetries.inc({ api: 'rest' });
      else metrics.bytesReceived.inc({ api: 'rest' }, length);
      return stored;
    },
  );

  app.post<{ Params: { id: string } }>(
    '/uploads/:id/complete',
    {
      schema: {
        summary: 'Complete an upload',
        description: 'Assembles the upload and verifies its SHA-256; the media item then moves through scanning and processing. 409 lists missing chunks.',
        params: ID_PARAMS,
        response: { 202: RESULT, 409: ERROR_SCHEMA, 460: ERROR_SCHEMA },
      },
    },
    async (request, reply) => {
      const record = await load(request.params.id, request.tenant);
      const op = record.mode === 'direct' ? 'completeDirect' : 'completeChunks';
      const result = await pool.send(record.uploadId, { op, uploadId: record.uploadId, tenant: request.tenant });
      metrics.uploadsFinished.inc({ api: record.mode === 'direct' ? 'direct' : 'rest', result: 'received' });
      return reply.status(202).send({ id: result.uploadId, mediaId: result.mediaId, status: result.status, length: result.storedLength, sha256: result.sha256 });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/uploads/:id',
    { schema: { summary: 'Read an upload', params: ID_PARAMS, response: { 200: UPLOAD_VIEW, 404: ERROR_SCHEMA } } },
    async (request) => view(await load(request.params.id, request.tenant)),
  );

  app.delete<{ Params: { id: string } }>(
    '/uploads/:id',
    { schema: { summary: 'Abandon an upload', description: 'Removes the session and everything stored for it.', params: ID_PARAMS, response: { 404: ERROR_SCHEMA } } },
    async (request, reply) => {
      const record = await load(request.params.id, request.tenant);
      await pool.send(record.uploadId, { op: 'terminate', uploadId: record.uploadId, tenant: request.tenant });
      return reply.status(204).send();
    },
  );
}
