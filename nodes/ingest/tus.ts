// tus 1.0.0 resumable uploads at /files/, on the same session actors as gRPC.
//
// Implemented here rather than with @tus/server: its DataStore receives neither
// the Upload-Checksum header nor the Upload-Concat list, so the checksum and
// concatenation extensions could not be built on it, and its PATCH handler
// reports an offset the store returns mid-part while S3 parts must be at
// least 5 MiB. Extensions: creation, creation-with-upload,
// creation-defer-length, termination, checksum, expiration, concatenation.

import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import type { WorkerPool } from '../../actors/pool.js';
import type { SessionView } from '../../actors/protocol.js';
import { DEFERRED_LENGTH, LOCK_SECONDS, type ConcatRole, type SessionRepository, type UploadSessionRecord } from '../../storage/sessions.js';
import type { Config } from '../common/config.js';
import {
  ChecksumAlgorithmUnsupportedError,
  ChecksumMismatchError,
  RequestInvalidError,
  ShoeboxError,
  TusVersionUnsupportedError,
  UploadExpiredError,
  UploadLengthExceededError,
  UploadNotFoundError,
  UploadOffsetMismatchError,
  UploadTooLargeError,
  fromHttpError,
  messageOf,
} from '../common/errors.js';
import type { Metrics } from '../common/metrics.js';
import { requireUuid } from './grpc.js';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = [
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'termination',
  'checksum',
  'expiration',
  'concatenation',
] as const;
export const TUS_CHECKSUM_ALGORITHMS = ['sha1', 'sha256'] as const;
const TUS_CONTENT_TYPE = 'application/offset+octet-stream';
/** Bytes handed to the session actor at a time, at most the node's chunk limit. */
const PIECE_BYTES = 4 * 1024 * 1024;
const DECIMAL = /^\d{1,16}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface TusDeps {
  config: Config;
  pool: WorkerPool;
  sessions: SessionRepository;
  metrics: Metrics;
  log: Logger;
}

/** Parses a decimal header (Upload-Length, Upload-Offset); undefined when absent. */
export function parseDecimalHeader(name: string, value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) || !DECIMAL.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new RequestInvalidError(name, value, 'must be one non-negative decimal integer');
  }
  return Number(value);
}

/**
 * Parses Upload-Metadata (tus 1.0.0, creation): comma-separated pairs of a key
 * and a Base64 value. Keys are unique, non-empty, without spaces or commas, and
 * a pair with an empty value may leave out the space.
 */
export function parseUploadMetadata(header: string | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (header === undefined || header.trim() === '') return metadata;
  for (const pair of header.split(',')) {
    const parts = pair.trim().split(' ');
    const [key, value = ''] = parts;
    if (!key || parts.length > 2) throw new RequestInvalidError('Upload-Metadata', pair, 'each pair must be "key base64value"');
    if (Object.hasOwn(metadata, key)) throw new RequestInvalidError('Upload-Metadata', key, 'keys must be unique');
    if (value.length % 4 !== 0 || !BASE64.test(value)) throw new RequestInvalidError('Upload-Metadata', pair, 'the value is not Base64');
    metadata[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return metadata;
}

/** Parses Upload-Checksum: "<algorithm> <base64 digest>". */
export function parseUploadChecksum(header: string | undefined): { algorithm: string; digest: Buffer } | undefined {
  if (header === undefined) return undefined;
  const [algorithm = '', encoded = '', ...rest] = header.trim().split(' ');
  if (rest.length > 0 || !encoded || !BASE64.test(encoded)) throw new RequestInvalidError('Upload-Checksum', header, 'must be "<algorithm> <base64 digest>"');
  if (!(TUS_CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new ChecksumAlgorithmUnsupportedError(algorithm, TUS_CHECKSUM_ALGORITHMS);
  }
  return { algorithm, digest: Buffer.from(encoded, 'base64') };
}

/** Upload ids of an Upload-Concat "final;" list, given as URLs or paths ending in /files/<id>. */
export function parseConcatFinal(value: string): string[] {
  const list = value.slice('final;'.length).trim();
  if (!list) throw new RequestInvalidError('Upload-Concat', value, 'a final upload must list its partial uploads');
  return list.split(/\s+/).map((url) => {
    const id = /\/files\/([^/?#]+)\/?$/.exec(url)?.[1] ?? '';
    return requireUuid('Upload-Concat', id);
  });
}

/** Maps catalog errors to the status codes the tus protocol prescribes. */
function tusStatusOf(error: ShoeboxError): number {
  switch (error.code) {
    case 'UPLOAD_CONFLICT':
      return 409;
    case 'UPLOAD_ALREADY_COMPLETED':
      return 409;
    default:
      return error.httpStatus;
  }
}

export function registerTus(app: FastifyInstance, deps: TusDeps): void {
  const { config, pool, sessions, metrics, log } = deps;
  const pieceBytes = Math.min(PIECE_BYTES, config.upload.maxChunkLength);

  app.addContentTypeParser(TUS_CONTENT_TYPE, (_request, payload, done) => done(null, payload));

  app.register(async (tus) => {
    // Every response carries Tus-Resumable; every request but OPTIONS must too,
    // checked before the body is read (tus 1.0.0, Tus-Resumable).
    tus.addHook('onRequest', async (request, reply) => {
      void reply.header('Tus-Resumable', TUS_VERSION).header('Cache-Control', 'no-store');
      if (request.method === 'OPTIONS') return;
      const version = request.headers['tus-resumable'];
      if (version !== TUS_VERSION) {
        void reply.header('Tus-Version', TUS_VERSION);
        throw new TusVersionUnsupportedError(typeof version === 'string' ? version : undefined);
      }
    });

    tus.setErrorHandler((error, request, reply) => {
      const shoeboxError = fromHttpError(error);
      const status = tusStatusOf(shoeboxError);
      if (status >= 500) log.error({ event: 'request_failed', url: request.url, err: error }, shoeboxError.message);
      void reply.status(status).send({ error: { code: shoeboxError.code, message: shoeboxError.message } });
    });

    const options = async (_request: FastifyRequest, reply: FastifyReply) => {
      void reply
        .status(204)
        .header('Tus-Version', TUS_VERSION)
        .header('Tus-Extension', TUS_EXTENSIONS.join(','))
        .header('Tus-Max-Size', String(config.upload.maxLength))
        .header('Tus-Checksum-Algorithm', TUS_CHECKSUM_ALGORITHMS.join(','));
      return reply.send();
    };
    tus.options('/files/', options);
    tus.options('/files/:id', options);

    tus.post('/files/', async (request, reply) => {
      const concat = headerOf(request, 'upload-concat');
      const deferLength = headerOf(request, 'upload-defer-length');
      let length = parseDecimalHeader('Upload-Length', request.headers['upload-length']);
      const metadataHeader = headerOf(request, 'upload-metadata') ?? '';
      const metadata = parseUploadMetadata(metadataHeader);

      let partialIds: string[] = [];
      if (concat !== undefined && concat !== 'partial') {
        if (!concat.startsWith('final;')) throw new RequestInvalidError('Upload-Concat', concat, 'must be "partial" or "final;<urls>"');
        if (length !== undefined) throw new RequestInvalidError('Upload-Length', length, 'a final upload must not declare its length');
        partialIds = parseConcatFinal(concat);
        length = 0;
        for (const id of partialIds) length += (await loadRecord(sessions, id, request.tenant)).declaredLength;
      } else if (deferLength !== undefined) {
        if (deferLength !== '1') throw new RequestInvalidError('Upload-Defer-Length', deferLength, 'must be 1');
        if (length !== undefined) throw new RequestInvalidError('Upload-Length', length, 'must not be sent with Upload-Defer-Length');
      } else if (length === undefined) {
        throw new RequestInvalidError('Upload-Length', undefined, 'is required unless Upload-Defer-Length: 1 is sent');
      }
      if (length !== undefined && length > config.upload.maxLength) throw new UploadTooLargeError(length, config.upload.maxLength);

      let role: ConcatRole = '';
      if (concat === 'partial') role = 'partial';
      if (partialIds.length > 0) role = 'final';
      const uploadId = randomUUID();
      const session = await pool.send(uploadId, {
        op: 'open',
        uploadId,
        upload: {
          mediaId: randomUUID(),
          mode: 'stream',
          concat: role,
          tenant: request.tenant,
          filename: metadata['filename'] ?? metadata['name'] ?? '',
          contentType: metadata['filetype'] ?? metadata['type'] ?? '',
          declaredLength: length ?? DEFERRED_LENGTH,
          sha256: '',
          metadata,
          uploadMetadata: metadataHeader,
          deferLength: length === undefined,
          allowEmpty: true,
        },
      });
      metrics.uploadsStarted.inc({ api: 'tus' });
      void reply.status(201).header('Location', `/files/${uploadId}`).header('Upload-Expires', new Date(session.expiresAt).toUTCString());
      void reply.header('Shoebox-Media-Id', session.mediaId);

      if (partialIds.length > 0) {
        await pool.send(uploadId, { op: 'concatenate', uploadId, tenant: request.tenant, partialIds });
        return reply.send();
      }
      if (request.headers['content-type'] === TUS_CONTENT_TYPE) {
        // creation-with-upload: the body is the first PATCH.
        const offset = await withLock(uploadId, request.tenant, (locked, holder) => writeBody(request, locked, 0, holder));
        void reply.header('Upload-Offset', String(offset));
      }
      return reply.send();
    });

    tus.head<{ Params: { id: string } }>('/files/:id', async (request, reply) => {
      const record = await loadRecord(sessions, request.params.id, request.tenant);
      void reply.status(200).header('Upload-Expires', record.expiresAt.toUTCString());
      if (record.declaredLength === DEFERRED_LENGTH) void reply.header('Upload-Defer-Length', '1');
      else void reply.header('Upload-Length', String(record.declaredLength));
      if (record.uploadMetadata) void reply.header('Upload-Metadata', record.uploadMetadata);
      if (record.concat === 'partial') void reply.header('Upload-Concat', 'partial');
      // A final upload reports its offset only once it is assembled.
      if (record.concat !== 'final' || record.completed) void reply.header('Upload-Offset', String(record.offset));
      if (record.concat === 'final') void reply.header('Upload-Concat', 'final');
      void reply.header('Shoebox-Media-Id', record.mediaId);
      return reply.send();
    });

    tus.patch<{ Params: { id: string } }>('/files/:id', async (request, reply) => {
      const uploadId = requireUuid('upload id', request.params.id);
      if (request.headers['content-type'] !== TUS_CONTENT_TYPE) {
        return reply.status(415).send({ error: { code: 'REQUEST_INVALID', message: `Content-Type must be ${TUS_CONTENT_TYPE}` } });
      }
      const offset = parseDecimalHeader('Upload-Offset', request.headers['upload-offset']);
      if (offset === undefined) throw new RequestInvalidError('Upload-Offset', undefined, 'is required');
      const newLength = parseDecimalHeader('Upload-Length', request.headers['upload-length']);
      const checksum = parseUploadChecksum(headerOf(request, 'upload-checksum'));

      let expiresAt = '';
      const stored = await withLock(uploadId, request.tenant, async (locked, holder) => {
        let session = locked;
        expiresAt = session.expiresAt;
        if (session.concat === 'final') {
          const forbidden = new RequestInvalidError('upload', uploadId, 'a final upload cannot be patched');
          forbidden.details['httpStatus'] = 403;
          throw forbidden;
        }
        // tus 1.0.0, PATCH: "If the offsets do not match, the Server MUST
        // respond with the 409 Conflict status without modifying the upload".
        if (offset !== session.offset) throw new UploadOffsetMismatchError(uploadId, offset, session.offset);
        if (newLength !== undefined) session = await pool.send(uploadId, { op: 'declareLength', uploadId, length: newLength });
        return writeBody(request, session, offset, holder, checksum);
      });
      void reply.status(204).header('Upload-Offset', String(stored)).header('Upload-Expires', new Date(expiresAt).toUTCString());
      return reply.send();
    });

    tus.delete<{ Params: { id: string } }>('/files/:id', async (request, reply) => {
      const uploadId = requireUuid('upload id', request.params.id);
      // Terminating deletes the session row, and the lock with it.
      await withLock(uploadId, request.tenant, () => pool.send(uploadId, { op: 'terminate', uploadId, tenant: request.tenant }));
      return reply.status(204).send();
    });
  });

  /**
   * Runs `work` holding the upload's write lock, which keeps requests to one
   * upload apart across nodes. `work` gets the current session and the
   * holder id. A successful PATCH releases the lock in its checkpoint; after
   * a failure it is released here.
   */
  async function withLock<T>(uploadId: string, tenant: string, work: (session: SessionView, holder: string) => Promise<T>): Promise<T> {
    const holder = randomUUID();
    const session = await pool.send(uploadId, { op: 'lock', uploadId, tenant, holder });
    try {
      return await work(session, holder);
    } catch (error) {
      await pool.send(uploadId, { op: 'unlock', uploadId, holder }).catch((releaseError: unknown) =>
        log.warn({ event: 'request_failed', uploadId, err: messageOf(releaseError) }, `lock release failed; the lock ends by itself within ${LOCK_SECONDS} s`),
      );
      throw error;
    }
  }

  /**
   * Feeds a PATCH body to the session actor, persists what arrived (also
   * when the client disconnects mid-body), completes the upload at its last
   * byte, and returns the stored offset.
   */
  async function writeBody(
    request: FastifyRequest,
    session: SessionView,
    offset: number,
    holder: string,
    checksum?: { algorithm: string; digest: Buffer },
  ): Promise<number> {
    const uploadId = session.uploadId;
    const length = session.declaredLength;
    const limit = length === DEFERRED_LENGTH ? config.upload.maxLength : length;
    const declared = parseDecimalHeader('Content-Length', request.headers['content-length']);
    if (declared !== undefined && offset + declared > limit) throw new UploadLengthExceededError(uploadId, offset + declared, limit);

    const body = request.body as Readable;
    let position = offset;
    let pending: Buffer[] = [];
    let pendingLength = 0;
    const hash = checksum ? createHash(checksum.algorithm) : undefined;
    const held: Buffer[] = [];
    let heldLength = 0;
    let overLimit = false;
    let aborted = false;

    const send = async (data: Buffer) => {
      // Read before the send: the worker pool may move `data` to the worker.
      const length = data.length;
      // No CRC-32C: the bytes only cross from this thread to the worker.
      await pool.send(uploadId, { op: 'chunk', uploadId, offset: position, data });
      position += length;
      metrics.bytesReceived.inc({ api: 'tus' }, length);
    };

    try {
      for await (const piece of body) {
        let bytes = piece as Buffer;
        const room = limit - (position + pendingLength + heldLength);
        if (bytes.length > room) {
          // tus 1.0.0: nothing past Upload-Length (or the maximum size) is stored.
          bytes = bytes.subarray(0, Math.max(0, room));
          overLimit = true;
        }
        if (hash) {
          // With a checksum, nothing is stored until the whole body is verified.
          hash.update(bytes);
          held.push(bytes);
          heldLength += bytes.length;
        } else {
          pending.push(bytes);
          pendingLength += bytes.length;
          while (pendingLength >= pieceBytes) {
            // Exactly one piece, in a buffer of its own that the worker pool
            // can move. The bytes past it are at the end of the last read.
            const last = pending[pending.length - 1]!;
            const rest = pendingLength - pieceBytes;
            const data = Buffer.concat(pending, pieceBytes);
            pending = rest > 0 ? [last.subarray(last.length - rest)] : [];
            pendingLength = rest;
            await send(data);
          }
        }
        if (overLimit) break;
      }
    } catch (error) {
      aborted = true;
      log.info({ event: 'chunk_rejected', uploadId, err: messageOf(error) }, 'PATCH body ended early; keeping what arrived');
    }

    if (hash && checksum) {
      const actual = hash.digest();
      if (aborted || !actual.equals(checksum.digest)) {
        metrics.chunksRejected.inc({ code: 'CHECKSUM_MISMATCH' });
        throw new ChecksumMismatchError(uploadId, checksum.digest.toString('base64'), actual.toString('base64'));
      }
      pending = held;
      pendingLength = heldLength;
    }
    for (let start = 0, all = Buffer.concat(pending, pendingLength); start < all.length; start += pieceBytes) {
      await send(all.subarray(start, start + pieceBytes));
    }

    const view = await pool.send(uploadId, { op: 'checkpoint', uploadId, holder });
    if (overLimit) throw new UploadLengthExceededError(uploadId, limit + 1, limit);
    if (view.declaredLength !== DEFERRED_LENGTH && view.offset === view.declaredLength && !view.completed) {
      await pool.send(uploadId, { op: 'finish', uploadId });
      metrics.uploadsFinished.inc({ api: 'tus', result: 'received' });
    }
    return view.offset;
  }
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (Array.isArray(value)) throw new RequestInvalidError(name, value, 'must be sent once');
  return value;
}

async function loadRecord(sessions: SessionRepository, id: string, tenant: string): Promise<UploadSessionRecord> {
  const uploadId = requireUuid('upload id', id);
  const record = await sessions.get(uploadId);
  if (!record || record.tenant !== tenant) throw new UploadNotFoundError(uploadId);
  if (record.expiresAt.getTime() <= Date.now()) throw new UploadExpiredError(uploadId, record.expiresAt.toISOString());
  return record;
}
