// The upload session: one instance per upload id, owned by one session actor
// in one worker thread. Three ways in, one state:
//   stream  (gRPC, tus) - sequential chunks, buffered into parts of `partSize`
//                         bytes; at the end of every PATCH, tus persists the
//                         bytes it added after the last full part as a tail
//                         segment object
//   chunks  (REST)      - random-access chunks, one chunk per part
//   direct  (presigned) - the client PUTs the staging object to RGW itself
// Every part is written to the staging multipart upload before the offset
// moves in Cassandra, and the offset only moves conditionally, from the value
// this instance last saw.

import { createHash } from 'node:crypto';

import { crc32c } from '@node-rs/crc32';
import type { Logger } from 'pino';

import type { Config } from '../nodes/common/config.js';
import {
  ChecksumMismatchError,
  ChunkChecksumMismatchError,
  ChunkConflictError,
  ChunkTooLargeError,
  ChunksMissingError,
  NotAnImageError,
  RequestInvalidError,
  UploadAlreadyCompletedError,
  UploadConflictError,
  UploadEmptyError,
  UploadExpiredError,
  UploadIncompleteError,
  UploadLengthExceededError,
  UploadLockedError,
  UploadNotFoundError,
  UploadOffsetMismatchError,
  UploadTooLargeError,
  type ShoeboxError,
} from '../nodes/common/errors.js';
import type { MediaRepository } from '../storage/media.js';
import { objectKeys, type ObjectStore } from '../storage/s3.js';
import { DEFERRED_LENGTH, type SessionRepository, type UploadSessionRecord } from '../storage/sessions.js';
import { UploadDigest, digestStream, type Digest } from './digest.js';
import type { ChunkAck, NewUpload, SessionView, UploadResult } from './protocol.js';

export interface SessionDeps {
  config: Config;
  sessions: SessionRepository;
  media: MediaRepository;
  store: ObjectStore;
  log: Logger;
  /** Called once an upload is assembled and verified. */
  onReceived: (mediaId: string) => void;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_FILENAME_LENGTH = 255;
const MAX_METADATA_ENTRIES = 64;
const MAX_METADATA_VALUE_LENGTH = 1024;

/** Keeps the last path segment, drops control characters, trims to 255 characters. */
export function sanitizeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return clean.slice(0, MAX_FILENAME_LENGTH);
}

/** Checks a new upload's header; throws the catalog error for the first problem found. */
export function validateNewUpload(upload: NewUpload, maxLength: number): void {
  const deferred = upload.declaredLength === DEFERRED_LENGTH && upload.deferLength === true;
  if (!deferred && (!Number.isSafeInteger(upload.declaredLength) || upload.declaredLength < 0)) {
    throw new RequestInvalidError('declared_length', upload.declaredLength, 'must be a non-negative integer');
  }
  if (upload.declaredLength === 0 && !upload.allowEmpty) throw new UploadEmptyError();
  if (upload.declaredLength > maxLength) throw new UploadTooLargeError(upload.declaredLength, maxLength);
  if (upload.sha256 !== '' && !SHA256_HEX.test(upload.sha256)) {
    throw new RequestInvalidError('sha256', upload.sha256, 'must be 64 lowercase hex digits');
  }
  const entries = Object.entries(upload.metadata);
  if (entries.length > MAX_METADATA_ENTRIES) {
    throw new RequestInvalidError('metadata', `${entries.length} entries`, `at most ${MAX_METADATA_ENTRIES} entries are allowed`);
  }
  for (const [key, value] of entries) {
    if (value.length > MAX_METADATA_VALUE_LENGTH) {
      throw new RequestInvalidError(`metadata.${key}`, `${value.length} characters`, `values are limited to ${MAX_METADATA_VALUE_LENGTH} characters`);
    }
  }
}

/** Number of REST chunks of an upload: one per part, the last one shorter. */
export function chunkCount(length: number, partSize: number): number {
  return Math.max(1, Math.ceil(length / partSize));
}

/** Length of REST chunk (or direct part) `index`: a whole part, except the last one. */
export function chunkLength(index: number, length: number, partSize: number): number {
  return index === chunkCount(length, partSize) - 1 ? length - index * partSize : partSize;
}

export function toSessionView(record: UploadSessionRecord): SessionView {
  return {
    uploadId: record.uploadId,
    mediaId: record.mediaId,
    mode: record.mode,
    concat: record.concat,
    offset: record.offset,
    declaredLength: record.declaredLength,
    partSize: record.partSize,
    expiresAt: record.expiresAt.toISOString(),
    completed: record.completed,
    uploadMetadata: record.uploadMetadata,
  };
}

export class UploadSession {
  private record: UploadSessionRecord | undefined;
  /** Bytes after the last full part: the persisted tail, then bytes not yet persisted. */
  private buffered: Buffer[] = [];
  private bufferedLength = 0;
  /**
   * The pieces of the tail as last persisted (tus): always the first pieces
   * of `buffered`, restored when unpersisted bytes are dropped.
   */
  private persistedTail: Buffer[] | undefined;
  /** Checksums over bytes [0, parts + bufferedLength), when this instance saw all of them. */
  private hash: UploadDigest | undefined;
  /** Checksums over the durable bytes, to rewind to when unpersisted bytes are dropped. */
  private durableHash: UploadDigest | undefined;

  constructor(
    readonly uploadId: string,
    private readonly deps: SessionDeps,
  ) {}

  /** True when this instance contains nothing worth keeping: no session, or a completed one. */
  get retirable(): boolean {
    return this.record === undefined || this.record.completed;
  }

  /** Bytes in full, durable parts. */
  private get partsOffset(): number {
    const record = this.requireRecord();
    return record.offset - record.tailLength;
  }

  /** Creates the session, its media item (unless a tus partial) and the staging multipart upload. */
  async open(upload: NewUpload): Promise<SessionView> {
    const { config, sessions, media, store, log } = this.deps;
    const filename = sanitizeFilename(upload.filename);
    const mediaId = upload.mediaId;
    try {
      validateNewUpload(upload, config.upload.maxLength);
    } catch (error) {
      const shoeboxError = error as ShoeboxError;
      // A rejected header still leaves a failed media item, so the client
      // and the audit trail can see why.
      await media.create({
        mediaId,
        tenant: upload.tenant,
        uploadId: this.uploadId,
        status: 'failed',
        filename,
        declaredContentType: upload.contentType,
        length: Number.isSafeInteger(upload.declaredLength) ? Math.max(0, upload.declaredLength) : 0,
        metadata: {},
        errorCode: shoeboxError.code,
        reason: shoeboxError.message,
      });
      shoeboxError.details['mediaId'] = mediaId;
      throw shoeboxError;
    }

    const empty = upload.declaredLength === 0;
    const stagingKey = objectKeys.staging(this.uploadId);
    // Direct multipart uploads arrive with the staging writer's upload id.
    const s3UploadId =
      upload.directUploadId ?? (empty || upload.mode === 'direct' ? '' : await store.createMultipartUpload(config.s3.stagingBucket, stagingKey, 'application/octet-stream'));
    const now = new Date();
    const record: UploadSessionRecord = {
      uploadId: this.uploadId,
      mode: upload.mode,
      concat: upload.concat,
      tenant: upload.tenant,
      mediaId,
      filename,
      contentType: upload.contentType,
      declaredLength: upload.declaredLength,
      declaredSha256: upload.sha256,
      metadata: upload.metadata,
      offset: 0,
      tailLength: 0,
      uploadMetadata: upload.uploadMetadata,
      partSize: config.upload.partSize,
      s3UploadId,
      stagingKey,
      completed: empty,
      createdAt: now,
      expiresAt: new Date(now.getTime() + config.upload.sessionTtlSeconds * 1000),
    };
    await sessions.create(record);
    if (upload.concat !== 'partial') {
      // An empty upload completes at once and is rejected like any other
      // content that is not an image.
      const rejection = empty ? new NotAnImageError('an empty upload (0 bytes)') : undefined;
      await media.create({
        mediaId,
        tenant: upload.tenant,
        uploadId: this.uploadId,
        status: rejection ? 'failed' : 'receiving',
        filename,
        declaredContentType: upload.contentType,
        length: Math.max(0, upload.declaredLength),
        metadata: upload.metadata,
        ...(rejection ? { errorCode: rejection.code, reason: rejection.message } : {}),
      });
    }
    this.record = record;
    this.resetBuffer(undefined, UploadDigest.create());
    log.info({ event: 'session_created', uploadId: this.uploadId, mediaId, mode: upload.mode, declaredLength: upload.declaredLength }, 'session created');
    return toSessionView(record);
  }

  /**
   * Reloads the session from Cassandra and drops bytes that are not durable,
   * so the client resends from the stored offset. Works on any node.
   */
  async resume(tenant: string): Promise<SessionView> {
    const record = await this.sync(tenant);
    this.deps.log.info({ event: 'session_resumed', uploadId: this.uploadId, mediaId: record.mediaId, offset: record.offset }, 'session resumed');
    return toSessionView(record);
  }

  /**
   * Takes the tus write lock for `holder` and returns the current session.
   * When this instance has a copy, one lightweight transaction both takes
   * the lock and confirms the copy is current. Otherwise, or when the copy is
   * out of date, the session is read at SERIAL first.
   */
  async lock(tenant: string, holder: string): Promise<SessionView> {
    const { sessions } = this.deps;
    const cached = this.record;
    if (cached && cached.tenant === tenant && !cached.completed && cached.expiresAt.getTime() > Date.now()) {
      const outcome = await sessions.acquireLock(cached, holder);
      if (outcome === 'acquired') {
        // Bytes that were never persisted are dropped, as in sync().
        this.resetBuffer(this.persistedTail, this.durableHash);
        return toSessionView(cached);
      }
      if (outcome === 'locked') throw new UploadLockedError(this.uploadId);
    }
    const record = await this.sync(tenant);
    const outcome = await sessions.acquireLock(record, holder);
    if (outcome === 'locked') throw new UploadLockedError(this.uploadId);
    if (outcome !== 'acquired') {
      // Another writer changed the session between the read and the lock.
      this.record = undefined;
      throw new UploadConflictError(this.uploadId, record.offset);
    }
    return toSessionView(record);
  }

  /** Releases the tus write lock if `holder` still has it (after a failed request). */
  async unlock(holder: string): Promise<void> {
    if (this.record) await this.deps.sessions.releaseLock(this.record, holder);
  }

  /** Brings this instance in line with Cassandra (another node may have written since). */
  async sync(tenant: string): Promise<UploadSessionRecord> {
    const previous = this.record;
    const record = await this.load(tenant);
    if (previous && previous.offset === record.offset && previous.tailLength === record.tailLength) {
      this.resetBuffer(this.persistedTail, this.durableHash);
      return record;
    }
    const tail = record.tailLength > 0 ? await this.loadTail(record) : undefined;
    // This instance never saw the earlier bytes, so the SHA-256 is computed
    // from the assembled object at the end instead.
    this.resetBuffer(tail, record.offset === 0 ? UploadDigest.create() : undefined);
    return record;
  }

  /** Takes the next bytes of a stream upload; `checksum` is the client's CRC-32C of them, when it sent one. */
  async chunk(offset: number, data: Uint8Array, checksum?: number): Promise<ChunkAck> {
    const { config } = this.deps;
    const record = this.requireOpen();
    if (data.length > config.upload.maxChunkLength) throw new ChunkTooLargeError(data.length, config.upload.maxChunkLength);
    if (checksum !== undefined) {
      const actual = crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      if (actual !== checksum >>> 0) throw new ChunkChecksumMismatchError(this.uploadId, offset, checksum >>> 0, actual);
    }
    const receivedOffset = this.partsOffset + this.bufferedLength;
    if (offset !== receivedOffset) throw new UploadOffsetMismatchError(this.uploadId, offset, receivedOffset);
    const limit = record.declaredLength === DEFERRED_LENGTH ? config.upload.maxLength : record.declaredLength;
    if (offset + data.length > limit) throw new UploadLengthExceededError(this.uploadId, offset + data.length, limit);

    let rest = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    while (rest.length > 0) {
      const room = record.partSize - this.bufferedLength;
      const piece = rest.subarray(0, room);
      rest = rest.subarray(piece.length);
      this.buffered.push(piece);
      this.bufferedLength += piece.length;
      this.hash?.update(piece);
      if (this.bufferedLength === record.partSize) await this.flushPart();
    }
    await this.flushIfComplete();
    return { receivedOffset: this.partsOffset + this.bufferedLength, offset: record.offset };
  }

  /**
   * Persists the bytes after the last full part (end of a tus PATCH) and
   * returns the new offset. With `holder`, releases that holder's lock in
   * the same transaction.
   */
  async checkpoint(holder?: string): Promise<SessionView> {
    const { config, sessions, store } = this.deps;
    const record = this.requireRecord();
    if (record.completed || this.bufferedLength === record.tailLength) {
      if (holder !== undefined) await sessions.releaseLock(record, holder);
      return toSessionView(record);
    }
    // Only the bytes added since the last checkpoint are written, as a new
    // segment, so each byte is stored (and copied) once however many
    // PATCHes a part takes.
    const fresh = this.buffered.slice(this.persistedTail?.length ?? 0);
    const segment = fresh.length === 1 ? fresh[0]! : Buffer.concat(fresh, this.bufferedLength - record.tailLength);
    const segmentStart = this.partsOffset + record.tailLength;
    await store.putObject(config.s3.stagingBucket, objectKeys.tailSegment(this.uploadId, segmentStart), segment, 'application/octet-stream');
    const newOffset = this.partsOffset + this.bufferedLength;
    if (!(await sessions.checkpointTail(record, record.offset, newOffset, this.bufferedLength, holder))) {
      this.record = undefined;
      throw new UploadConflictError(this.uploadId, record.offset);
    }
    record.offset = newOffset;
    record.tailLength = this.bufferedLength;
    this.persistedTail = [...this.buffered];
    this.durableHash = this.hash?.copy();
    return toSessionView(record);
  }

  /** Sets the length of a deferred-length upload (tus Upload-Length on a PATCH). */
  async declareLength(length: number): Promise<SessionView> {
    const { config, sessions } = this.deps;
    const record = this.requireOpen();
    if (record.declaredLength !== DEFERRED_LENGTH) {
      if (record.declaredLength === length) return toSessionView(record);
      throw new RequestInvalidError('Upload-Length', length, `the upload's length is already ${record.declaredLength}`);
    }
    if (length > config.upload.maxLength) throw new UploadTooLargeError(length, config.upload.maxLength);
    const received = this.partsOffset + this.bufferedLength;
    if (length < received) throw new RequestInvalidError('Upload-Length', length, `${received} bytes were already received`);
    if (!(await sessions.declareLength(record, length))) throw new UploadConflictError(this.uploadId, record.offset);
    record.declaredLength = length;
    await this.flushIfComplete();
    return toSessionView(record);
  }

  /** Assembles the staging object once every byte is durable, and verifies it. */
  async finish(): Promise<UploadResult> {
    const { config, store, sessions } = this.deps;
    const record = this.requireOpen();
    if (record.declaredLength === DEFERRED_LENGTH || record.offset < record.declaredLength) {
      throw new UploadIncompleteError(this.uploadId, this.partsOffset + this.bufferedLength, record.declaredLength);
    }
    const existing = await store.headObject(config.s3.stagingBucket, record.stagingKey);
    if (existing?.length !== record.declaredLength) {
      // A previous attempt may have crashed between assembling and recording it.
      const parts = (await sessions.listParts(this.uploadId)).sort((a, b) => a.partNumber - b.partNumber);
      await store.completeMultipartUpload(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, parts);
    }
    const digest = this.hash ? this.hash.digest() : await this.digestStagingObject(record);
    this.hash = undefined;
    await this.deleteTailSegments();
    return this.accept(record, digest);
  }

  /** Stores one REST chunk as the part of the same index; an identical resend is a no-op. */
  async putChunk(index: number, data: Uint8Array, sha256: string): Promise<{ index: number; duplicate: boolean }> {
    const { config, sessions, store } = this.deps;
    const record = this.requireOpen();
    const count = chunkCount(record.declaredLength, record.partSize);
    if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
      throw new RequestInvalidError('index', index, `must be from 0 to ${count - 1}`);
    }
    const expectedLength = chunkLength(index, record.declaredLength, record.partSize);
    if (data.length !== expectedLength) {
      throw new RequestInvalidError('chunk', `${data.length} bytes`, `chunk ${index} must be exactly ${expectedLength} bytes`);
    }
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha256) throw new ChecksumMismatchError(this.uploadId, sha256, actual);

    const partNumber = index + 1;
    const existing = (await sessions.listParts(this.uploadId)).find((p) => p.partNumber === partNumber);
    if (existing) {
      if (existing.sha256 === actual) return { index, duplicate: true };
      throw new ChunkConflictError(this.uploadId, index);
    }
    const etag = await store.uploadPart(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, partNumber, data);
    const stored = await sessions.recordChunk(record, { partNumber, etag, length: data.length, sha256: actual });
    if (stored.sha256 !== actual) throw new ChunkConflictError(this.uploadId, index);
    return { index, duplicate: stored.etag !== etag };
  }

  /** Completes a REST chunk upload: every chunk present, assembled, SHA-256 verified. */
  async completeChunks(): Promise<UploadResult> {
    const { config, sessions, store } = this.deps;
    const record = this.requireOpen();
    const parts = (await sessions.listParts(this.uploadId)).sort((a, b) => a.partNumber - b.partNumber);
    const present = new Set(parts.map((p) => p.partNumber - 1));
    const missing: number[] = [];
    for (let index = 0; index < chunkCount(record.declaredLength, record.partSize); index++) if (!present.has(index)) missing.push(index);
    if (missing.length > 0) throw new ChunksMissingError(this.uploadId, missing);

    const existing = await store.headObject(config.s3.stagingBucket, record.stagingKey);
    if (existing?.length !== record.declaredLength) {
      await store.completeMultipartUpload(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, parts);
    }
    return this.accept(record, await this.digestStagingObject(record));
  }

  /** Completes a presigned direct upload: the object in RGW must match the declared length and SHA-256. */
  async completeDirect(): Promise<UploadResult> {
    const { config, store } = this.deps;
    const record = this.requireOpen();
    if (record.s3UploadId) await this.completeDirectParts(record);
    const head = await store.headObject(config.s3.stagingBucket, record.stagingKey);
    if (!head) throw new ChunksMissingError(this.uploadId, [0]);
    if (head.length !== record.declaredLength) {
      await store.deleteObject(config.s3.stagingBucket, record.stagingKey);
      throw new RequestInvalidError('object', `${head.length} bytes`, `the declared length is ${record.declaredLength} bytes; upload again`);
    }
    return this.accept(record, await this.digestStagingObject(record));
  }

  /** Assembles the parts a client sent to presigned part URLs, checking every part is there and sized right. */
  private async completeDirectParts(record: UploadSessionRecord): Promise<void> {
    const { config, store } = this.deps;
    const existing = await store.headObject(config.s3.stagingBucket, record.stagingKey);
    if (existing?.length === record.declaredLength) return;
    const parts = await store.listParts(config.s3.stagingBucket, record.stagingKey, record.s3UploadId);
    const count = chunkCount(record.declaredLength, record.partSize);
    const byNumber = new Map(parts.map((p) => [p.partNumber, p]));
    const missing: number[] = [];
    for (let index = 0; index < count; index++) {
      const part = byNumber.get(index + 1);
      const expected = chunkLength(index, record.declaredLength, record.partSize);
      if (!part || part.length !== expected) missing.push(index);
    }
    if (missing.length > 0) throw new ChunksMissingError(this.uploadId, missing);
    await store.completeMultipartUpload(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, parts.filter((p) => p.partNumber <= count));
  }

  /**
   * Builds a tus final upload from its partial uploads: their staging
   * objects are streamed, in order, into this session's multipart upload.
   */
  async concatenate(partials: UploadSessionRecord[]): Promise<UploadResult> {
    const { config, sessions, store } = this.deps;
    const record = this.requireOpen();
    const hash = UploadDigest.create();
    for (const partial of partials) {
      const object = await store.getObject(config.s3.stagingBucket, partial.stagingKey);
      if (!object) throw new UploadNotFoundError(partial.uploadId);
      for await (const piece of object.body) {
        const bytes = piece as Buffer;
        hash.update(bytes);
        let rest = bytes;
        while (rest.length > 0) {
          const room = record.partSize - this.bufferedLength;
          const slice = rest.subarray(0, room);
          rest = rest.subarray(slice.length);
          this.buffered.push(slice);
          this.bufferedLength += slice.length;
          if (this.bufferedLength === record.partSize) await this.flushPart();
        }
      }
    }
    if (this.bufferedLength > 0) await this.flushPart();
    const parts = (await sessions.listParts(this.uploadId)).sort((a, b) => a.partNumber - b.partNumber);
    await store.completeMultipartUpload(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, parts);
    for (const partial of partials) {
      await store.deleteObject(config.s3.stagingBucket, partial.stagingKey);
      await sessions.delete(partial.uploadId);
    }
    return this.accept(record, hash.digest());
  }

  /** Removes every trace of an unfinished upload: multipart upload, tail, session and media rows. */
  async terminate(tenant: string): Promise<void> {
    const { config, sessions, media, store, log } = this.deps;
    const record = await this.load(tenant, { allowCompleted: true });
    if (record.s3UploadId) await store.abortMultipartUpload(config.s3.stagingBucket, record.stagingKey, record.s3UploadId);
    await this.deleteTailSegments();
    if (!record.completed || record.concat === 'partial') await store.deleteObject(config.s3.stagingBucket, record.stagingKey);
    const item = await media.get(record.mediaId);
    if (item && (item.status === 'receiving' || item.status === 'failed')) await media.delete(item, 'upload terminated by the client');
    await sessions.delete(this.uploadId);
    this.record = undefined;
    this.resetBuffer(undefined, undefined);
    log.info({ event: 'session_terminated', uploadId: this.uploadId, mediaId: record.mediaId }, 'session terminated');
  }

  /** Marks the session completed and hands the media item to the pipeline (or fails it on a SHA-256 mismatch). */
  private async accept(record: UploadSessionRecord, digest: Digest): Promise<UploadResult> {
    const sha256 = digest.sha256;
    const { config, sessions, media, store, log } = this.deps;
    if (!(await sessions.markCompleted(record))) throw new UploadAlreadyCompletedError(this.uploadId, record.mediaId);
    record.completed = true;
    const result: UploadResult = { uploadId: this.uploadId, mediaId: record.mediaId, storedLength: record.declaredLength, sha256, status: 'received' };
    if (record.concat === 'partial') return result;

    if (record.declaredSha256 !== '' && record.declaredSha256 !== sha256) {
      const error = new ChecksumMismatchError(this.uploadId, record.declaredSha256, sha256);
      await media.setStatus(record.mediaId, 'failed', { errorCode: error.code, reason: error.message, sha256 });
      await store.deleteObject(config.s3.stagingBucket, record.stagingKey);
      error.details['mediaId'] = record.mediaId;
      log.warn({ event: 'upload_failed', uploadId: this.uploadId, mediaId: record.mediaId, code: error.code }, error.message);
      throw error;
    }
    await media.markReceived(record.mediaId, record.declaredLength, digest, config.processMedia ? config.nodeName : '');
    log.info({ event: 'upload_received', uploadId: this.uploadId, mediaId: record.mediaId, length: record.declaredLength, sha256 }, 'upload received');
    this.deps.onReceived(record.mediaId);
    return result;
  }

  private async flushIfComplete(): Promise<void> {
    const record = this.requireRecord();
    const received = this.partsOffset + this.bufferedLength;
    if (record.declaredLength !== DEFERRED_LENGTH && received === record.declaredLength && this.bufferedLength > 0) await this.flushPart();
  }

  private async flushPart(): Promise<void> {
    const { config, sessions, store, log } = this.deps;
    const record = this.requireOpen();
    const body = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedLength);
    const partsOffset = this.partsOffset;
    const partNumber = Math.floor(partsOffset / record.partSize) + 1;
    const newOffset = partsOffset + body.length;
    try {
      const etag = await store.uploadPart(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, partNumber, body);
      const applied = await sessions.advanceOffset(record, { partNumber, etag, length: body.length }, record.offset, newOffset);
      if (!applied) throw new UploadConflictError(this.uploadId, record.offset);
    } catch (error) {
      // Nothing past the durable offset survives a failed part: the client
      // resumes from the offset it reads back.
      this.resetBuffer(this.persistedTail, this.durableHash);
      if (error instanceof UploadConflictError) this.record = undefined;
      throw error;
    }
    const hadTail = record.tailLength > 0 || this.persistedTail !== undefined;
    record.offset = newOffset;
    record.tailLength = 0;
    this.persistedTail = undefined;
    // The part now contains the tail's bytes, so its segments are no longer read.
    if (hadTail) await this.deleteTailSegments();
    this.buffered = [];
    this.bufferedLength = 0;
    this.durableHash = this.hash?.copy();
    log.debug({ event: 'part_stored', uploadId: this.uploadId, partNumber, offset: newOffset }, 'part stored');
  }

  /**
   * Reads the persisted tail: the segments that start inside
   * [partsOffset, offset), in order. Segments outside it are leftovers (of a
   * checkpoint that lost its race, or already inside a part) and are ignored.
   */
  private async loadTail(record: UploadSessionRecord): Promise<Buffer[]> {
    const { config, store } = this.deps;
    const partsOffset = record.offset - record.tailLength;
    const prefix = objectKeys.tailPrefix(this.uploadId);
    const pieces: Buffer[] = [];
    let next = partsOffset;
    for (const key of await store.listKeys(config.s3.stagingBucket, prefix)) {
      const start = Number(key.slice(prefix.length));
      if (start !== next || start >= record.offset) continue;
      const bytes = await store.getObjectBytes(config.s3.stagingBucket, key);
      if (!bytes) break;
      pieces.push(bytes);
      next += bytes.length;
    }
    if (next - partsOffset !== record.tailLength) throw new UploadConflictError(this.uploadId, record.offset);
    return pieces;
  }

  private async deleteTailSegments(): Promise<void> {
    const { config, store } = this.deps;
    for (const key of await store.listKeys(config.s3.stagingBucket, objectKeys.tailPrefix(this.uploadId))) {
      await store.deleteObject(config.s3.stagingBucket, key);
    }
  }

  /** Sets the buffer to the persisted tail (or nothing) and the hash to the durable state. */
  private resetBuffer(tail: Buffer[] | undefined, durableHash: UploadDigest | undefined): void {
    this.persistedTail = tail;
    this.buffered = tail ? [...tail] : [];
    this.bufferedLength = tail ? tail.reduce((sum, piece) => sum + piece.length, 0) : 0;
    this.durableHash = durableHash?.copy();
    this.hash = durableHash?.copy();
  }

  private async digestStagingObject(record: UploadSessionRecord): Promise<Digest> {
    const object = await this.deps.store.getObject(this.deps.config.s3.stagingBucket, record.stagingKey);
    if (!object) throw new UploadNotFoundError(this.uploadId);
    return digestStream(object.body);
  }

  private async load(tenant: string, options: { allowCompleted?: boolean } = {}): Promise<UploadSessionRecord> {
    const record = await this.deps.sessions.get(this.uploadId);
    if (!record || record.tenant !== tenant) throw new UploadNotFoundError(this.uploadId);
    if (record.expiresAt.getTime() <= Date.now()) throw new UploadExpiredError(this.uploadId, record.expiresAt.toISOString());
    if (record.completed && !options.allowCompleted) throw new UploadAlreadyCompletedError(this.uploadId, record.mediaId);
    this.record = record;
    return record;
  }

  private requireRecord(): UploadSessionRecord {
    // A session instance without a record lost a race to another writer, or
    // was never opened here: the client must resume to learn the offset.
    if (!this.record) throw new UploadConflictError(this.uploadId, -1);
    return this.record;
  }

  private requireOpen(): UploadSessionRecord {
    const record = this.requireRecord();
    if (record.completed) throw new UploadAlreadyCompletedError(this.uploadId, record.mediaId);
    return record;
  }
}
