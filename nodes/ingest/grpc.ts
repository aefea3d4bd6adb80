// The gRPC edge: UploadService over @grpc/grpc-js. Chunks go to the session
// actor of their upload id; everything read-only comes from Cassandra.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Metadata, type ServerErrorResponse, type ServerReadableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { WorkerPool } from '../../actors/pool.js';
import type { SessionView } from '../../actors/protocol.js';
import {
  MediaStatus as ProtoStatus,
  type UploadRequest,
  type UploadResponse,
  type UploadServiceServer,
} from '../../proto/gen/shoebox/v1/upload.js';
import { FINAL_STATUSES, type MediaRepository } from '../../storage/media.js';
import type { SessionRepository } from '../../storage/sessions.js';
import type { Authenticator } from '../common/auth.js';
import type { Config } from '../common/config.js';
import {
  MediaNotFoundError,
  RequestInvalidError,
  UploadNotFoundError,
  messageOf,
  toShoeboxError,
  type ShoeboxError,
} from '../common/errors.js';
import { toProtoMedia, toPublicMedia } from '../common/media-view.js';
import type { Metrics } from '../common/metrics.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WATCH_POLL_MS = 150;
const WATCH_MAX_MS = 15 * 60_000;

export interface GrpcDeps {
  config: Config;
  auth: Authenticator;
  pool: WorkerPool;
  sessions: SessionRepository;
  media: MediaRepository;
  metrics: Metrics;
  log: Logger;
}

export function requireUuid(field: string, value: string): string {
  if (!UUID.test(value)) throw new RequestInvalidError(field, value, 'must be a lowercase UUID');
  return value;
}

/** Turns a catalog error into a gRPC error with the code and ids in trailers. */
export function toGrpcError(error: unknown): ServerErrorResponse {
  const shoeboxError: ShoeboxError = toShoeboxError(error);
  const metadata = new Metadata();
  metadata.set('shoebox-error-code', shoeboxError.code);
  const mediaId = shoeboxError.details['mediaId'];
  if (typeof mediaId === 'string') metadata.set('shoebox-media-id', mediaId);
  const uploadId = shoeboxError.details['uploadId'];
  if (typeof uploadId === 'string') metadata.set('shoebox-upload-id', uploadId);
  return Object.assign(new Error(shoeboxError.message), { code: shoeboxError.grpcStatus, details: shoeboxError.message, metadata });
}

export function createUploadService(deps: GrpcDeps): UploadServiceServer {
  const { config, auth, pool, sessions, media, metrics, log } = deps;

  const tenantOf = (metadata: Metadata) => auth.tenantOf(String(metadata.get('authorization')[0] ?? '') || undefined);

  async function openStream(tenant: string, first: UploadRequest): Promise<SessionView> {
    if (first.header) {
      const header = first.header;
      const uploadId = randomUUID();
      metrics.uploadsStarted.inc({ api: 'grpc' });
      return pool.send(uploadId, {
        op: 'open',
        uploadId,
        upload: {
          mediaId: randomUUID(),
          mode: 'stream',
          concat: '',
          uploadMetadata: '',
          tenant,
          filename: header.filename,
          contentType: header.contentType,
          declaredLength: header.declaredLength,
          sha256: header.sha256.toLowerCase(),
          metadata: header.metadata,
        },
      });
    }
    if (first.resume) {
      const uploadId = requireUuid('resume.upload_id', first.resume.uploadId);
      metrics.chunkRetries.inc({ api: 'grpc' });
      return pool.send(uploadId, { op: 'resume', uploadId, tenant });
    }
    throw new RequestInvalidError('first message', first.chunk ? 'chunk' : 'empty', 'must be a header or a resume');
  }

  async function upload(call: ServerReadableStream<UploadRequest, UploadResponse>): Promise<UploadResponse> {
    const tenant = await tenantOf(call.metadata);
    const iterator = call[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done) throw new RequestInvalidError('stream', 'empty', 'must start with a header or a resume');
    const session = await openStream(tenant, first.value as UploadRequest);
    const uploadId = session.uploadId;
    const metadata = new Metadata();
    metadata.set('shoebox-upload-id', uploadId);
    metadata.set('shoebox-media-id', session.mediaId);
    metadata.set('shoebox-offset', String(session.offset));
    call.sendMetadata(metadata);

    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      const message = next.value as UploadRequest;
      if (!message.chunk) throw new RequestInvalidError('message', message.header ? 'header' : 'resume', 'only chunks may follow the first message');
      const started = process.hrtime.bigint();
      const { offset, data, crc32c } = message.chunk;
      // Read before the send: the worker pool may move `data` to the worker.
      const length = data.length;
      try {
        await pool.send(uploadId, { op: 'chunk', uploadId, offset, data, crc32c });
      } catch (error) {
        metrics.chunksRejected.inc({ code: toShoeboxError(error).code });
        throw error;
      }
      metrics.bytesReceived.inc({ api: 'grpc' }, length);
      metrics.chunkAckSeconds.observe({ api: 'grpc' }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    if (call.cancelled) throw new RequestInvalidError('stream', 'cancelled', 'the client cancelled the call');
    const result = await pool.send(uploadId, { op: 'finish', uploadId });
    return {
      uploadId: result.uploadId,
      mediaId: result.mediaId,
      storedLength: result.storedLength,
      sha256: result.sha256,
      status: ProtoStatus.MEDIA_STATUS_RECEIVED,
    };
  }

  return {
    upload(call, callback: sendUnaryData<UploadResponse>) {
      upload(call)
        .then((response) => {
          metrics.uploadsFinished.inc({ api: 'grpc', result: 'received' });
          callback(null, response);
        })
        .catch((error: unknown) => {
          const shoeboxError = toShoeboxError(error);
          metrics.uploadsFinished.inc({ api: 'grpc', result: shoeboxError.code });
          log.info({ event: 'upload_failed', code: shoeboxError.code, err: messageOf(error) }, 'upload stream ended with an error');
          // Stop reading what the client still sends; the error ends the call.
          call.removeAllListeners('data');
          callback(toGrpcError(shoeboxError));
        });
    },

    getUploadSession(call, callback) {
      (async () => {
        const tenant = await tenantOf(call.metadata);
        const uploadId = requireUuid('upload_id', call.request.uploadId);
        const record = await sessions.get(uploadId);
        if (!record || record.tenant !== tenant) throw new UploadNotFoundError(uploadId);
        return {
          uploadId,
          mediaId: record.mediaId,
          offset: record.offset,
          declaredLength: record.declaredLength,
          partSize: record.partSize,
          expiresAt: record.expiresAt.toISOString(),
          completed: record.completed,
        };
      })().then(
        (session) => callback(null, session),
        (error: unknown) => callback(toGrpcError(error)),
      );
    },

    getMedia(call, callback) {
      (async () => {
        const tenant = await tenantOf(call.metadata);
        const mediaId = requireUuid('media_id', call.request.mediaId);
        const record = await media.get(mediaId);
        if (!record || record.tenant !== tenant) throw new MediaNotFoundError(mediaId);
        return toProtoMedia(toPublicMedia(record, config.publicBaseUrl));
      })().then(
        (view) => callback(null, view),
        (error: unknown) => callback(toGrpcError(error)),
      );
    },

    watchMedia(call) {
      (async () => {
        const tenant = await tenantOf(call.metadata);
        const mediaId = requireUuid('media_id', call.request.mediaId);
        const deadline = Date.now() + WATCH_MAX_MS;
        let lastStatus = '';
        while (!call.cancelled && Date.now() < deadline) {
          const record = await media.get(mediaId);
          if (!record || record.tenant !== tenant) throw new MediaNotFoundError(mediaId);
          if (record.status !== lastStatus) call.write(toProtoMedia(toPublicMedia(record, config.publicBaseUrl)));
          lastStatus = record.status;
          if (FINAL_STATUSES.has(record.status)) break;
          await sleep(WATCH_POLL_MS);
        }
      })().then(
        () => call.end(),
        (error: unknown) => call.destroy(toGrpcError(error)),
      );
    },
  };
}
