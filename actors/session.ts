// The upload session: one instance per upload id, owned by one session actor
// in one worker thread. It verifies chunks, buffers them into parts of
// `partSize` bytes, writes each part to the staging multipart upload, and only
// then advances the offset in Cassandra (conditionally, from the value it last
// saw). On the last byte it assembles the object and verifies its SHA-256.

import { createHash, randomUUID, type Hash } from 'node:crypto';

import { crc32c } from '@node-rs/crc32';
import type { Logger } from 'pino';

import type { Config } from '../nodes/common/config.js';
import {
  ChecksumMismatchError,
  ChunkChecksumMismatchError,
  ChunkTooLargeError,
  RequestInvalidError,
  UploadAlreadyCompletedError,
  UploadConflictError,
  UploadEmptyError,
  UploadExpiredError,
  UploadIncompleteError,
  UploadLengthExceededError,
  UploadNotFoundError,
  UploadOffsetMismatchError,
  UploadTooLargeError,
  type ShoeboxError,
} from '../nodes/common/errors.js';
import type { MediaRepository } from '../storage/media.js';
import { objectKeys, type ObjectStore } from '../storage/s3.js';
import type { SessionRepository, UploadSessionRecord } from '../storage/sessions.js';
import type { ChunkAck, NewUpload, SessionView, UploadResult } from './protocol.js';

export interface SessionDeps {
  config: Config;
  sessions: SessionRepository;
  media: MediaRepository;
  store: ObjectStore;
  log: Logger;
  /** Called once the upload is assembled and verified. */
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
  if (!Number.isSafeInteger(upload.declaredLength) || upload.declaredLength < 0) {
    throw new RequestInvalidError('declared_length', upload.declaredLength, 'must be a non-negative integer');
  }
  if (upload.declaredLength === 0) throw new UploadEmptyError();
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

export class UploadSession {
  private record: UploadSessionRecord | undefined;
  /** Chunks accepted but not yet in a durable part. */
  private buffered: Buffer[] = [];
  private bufferedLength = 0;
  /** SHA-256 over bytes [0, offset + bufferedLength), when this instance saw all of them. */
  private hash: Hash | undefined;
  /** SHA-256 over bytes [0, offset), to rewind to when buffered bytes are dropped. */
  private durableHash: Hash | undefined;

  constructor(
    readonly uploadId: string,
    private readonly deps: SessionDeps,
  ) {}

  get bufferedBytes(): number {
    return this.bufferedLength;
  }

  /** Creates the session, its media item and the staging multipart upload. */
  async open(upload: NewUpload): Promise<SessionView> {
    const { config, sessions, media, store, log } = this.deps;
    const mediaId = randomUUID();
    const filename = sanitizeFilename(upload.filename);
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
        length: Number.isSafeInteger(upload.declaredLength) ? upload.declaredLength : 0,
        metadata: {},
        errorCode: shoeboxError.code,
        reason: shoeboxError.message,
      });
      shoeboxError.details['mediaId'] = mediaId;
      throw shoeboxError;
    }

    const stagingKey = objectKeys.staging(this.uploadId);
    const s3UploadId = await store.createMultipartUpload(config.s3.stagingBucket, stagingKey, 'application/octet-stream');
    const now = new Date();
    const record: UploadSessionRecord = {
      uploadId: this.uploadId,
      tenant: upload.tenant,
      mediaId,
      filename,
      contentType: upload.contentType,
      declaredLength: upload.declaredLength,
      declaredSha256: upload.sha256,
      metadata: upload.metadata,
      offset: 0,
      partSize: config.upload.partSize,
      s3UploadId,
      stagingKey,
      completed: false,
      createdAt: now,
      expiresAt: new Date(now.getTime() + config.upload.sessionTtlSeconds * 1000),
    };
    await sessions.create(record);
    await media.create({
      mediaId,
      tenant: upload.tenant,
      uploadId: this.uploadId,
      status: 'receiving',
      filename,
      declaredContentType: upload.contentType,
      length: upload.declaredLength,
      metadata: upload.metadata,
    });
    this.record = record;
    this.hash = createHash('sha256');
    this.durableHash = this.hash.copy();
    log.info({ event: 'session_created', uploadId: this.uploadId, mediaId, declaredLength: upload.declaredLength }, 'session created');
    return this.view();
  }

  /**
   * Reloads the session from Cassandra and drops buffered bytes, so the
   * client resends from the durable offset. Works on any node.
   */
  async resume(tenant: string): Promise<SessionView> {
    const previousOffset = this.record?.offset;
    const record = await this.load(tenant);
    this.dropBuffer();
    if (record.offset !== previousOffset) {
      // Another node stored parts since; this instance never saw them.
      this.hash = record.offset === 0 ? createHash('sha256') : undefined;
      this.durableHash = this.hash?.copy();
    }
    this.deps.log.info({ event: 'session_resumed', uploadId: this.uploadId, mediaId: record.mediaId, offset: record.offset }, 'session resumed');
    return this.view();
  }

  async chunk(offset: number, data: Uint8Array, checksum: number): Promise<ChunkAck> {
    const { config } = this.deps;
    const record = this.requireOpen();
    if (data.length > config.upload.maxChunkLength) throw new ChunkTooLargeError(data.length, config.upload.maxChunkLength);
    const actual = crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (actual !== checksum >>> 0) throw new ChunkChecksumMismatchError(this.uploadId, offset, checksum >>> 0, actual);
    const receivedOffset = record.offset + this.bufferedLength;
    if (offset !== receivedOffset) throw new UploadOffsetMismatchError(this.uploadId, offset, receivedOffset);
    if (offset + data.length > record.declaredLength) throw new UploadLengthExceededError(this.uploadId, offset + data.length, record.declaredLength);

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
    if (record.offset + this.bufferedLength === record.declaredLength && this.bufferedLength > 0) await this.flushPart();
    return { receivedOffset: record.offset + this.bufferedLength, offset: record.offset };
  }

  /** Assembles the staging object once every byte is durable, and verifies it. */
  async finish(): Promise<UploadResult> {
    const { config, sessions, media, store, log } = this.deps;
    const record = this.requireOpen();
    if (record.offset < record.declaredLength) throw new UploadIncompleteError(this.uploadId, record.offset + this.bufferedLength, record.declaredLength);

    const bucket = config.s3.stagingBucket;
    const existing = await store.headObject(bucket, record.stagingKey);
    if (existing?.length !== record.declaredLength) {
      // A previous attempt may have crashed between assembling and recording it.
      const parts = (await sessions.listParts(this.uploadId)).sort((a, b) => a.partNumber - b.partNumber);
      await store.completeMultipartUpload(bucket, record.stagingKey, record.s3UploadId, parts);
    }
    const sha256 = this.hash ? this.hash.digest('hex') : await this.hashStagingObject(record);
    this.hash = undefined;

    if (!(await sessions.markCompleted(record))) throw new UploadAlreadyCompletedError(this.uploadId, record.mediaId);
    record.completed = true;

    if (record.declaredSha256 !== '' && record.declaredSha256 !== sha256) {
      const error = new ChecksumMismatchError(this.uploadId, record.declaredSha256, sha256);
      await media.setStatus(record.mediaId, 'failed', { errorCode: error.code, reason: error.message, sha256 });
      await store.deleteObject(bucket, record.stagingKey);
      error.details['mediaId'] = record.mediaId;
      log.warn({ event: 'upload_failed', uploadId: this.uploadId, mediaId: record.mediaId, code: error.code }, error.message);
      throw error;
    }

    await media.setStatus(record.mediaId, 'received', { length: record.declaredLength, sha256 });
    await media.enqueue(record.mediaId);
    log.info({ event: 'upload_received', uploadId: this.uploadId, mediaId: record.mediaId, length: record.declaredLength, sha256 }, 'upload received');
    this.deps.onReceived(record.mediaId);
    return { uploadId: this.uploadId, mediaId: record.mediaId, storedLength: record.declaredLength, sha256, status: 'received' };
  }

  private async flushPart(): Promise<void> {
    const { config, sessions, store, log } = this.deps;
    const record = this.requireOpen();
    const body = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedLength);
    const partNumber = Math.floor(record.offset / record.partSize) + 1;
    const newOffset = record.offset + body.length;
    try {
      const etag = await store.uploadPart(config.s3.stagingBucket, record.stagingKey, record.s3UploadId, partNumber, body);
      const applied = await sessions.advanceOffset(record, { partNumber, etag, length: body.length }, record.offset, newOffset);
      if (!applied) throw new UploadConflictError(this.uploadId, record.offset);
    } catch (error) {
      // Nothing past the durable offset survives a failed part: the client
      // resumes from the offset it reads back.
      this.dropBuffer();
      if (error instanceof UploadConflictError) this.record = undefined;
      throw error;
    }
    record.offset = newOffset;
    this.buffered = [];
    this.bufferedLength = 0;
    this.durableHash = this.hash?.copy();
    log.debug({ event: 'part_stored', uploadId: this.uploadId, partNumber, offset: newOffset }, 'part stored');
  }

  private dropBuffer(): void {
    this.buffered = [];
    this.bufferedLength = 0;
    this.hash = this.durableHash?.copy();
  }

  private async hashStagingObject(record: UploadSessionRecord): Promise<string> {
    const object = await this.deps.store.getObject(this.deps.config.s3.stagingBucket, record.stagingKey);
    if (!object) throw new UploadNotFoundError(this.uploadId);
    const hash = createHash('sha256');
    for await (const piece of object.body) hash.update(piece as Buffer);
    return hash.digest('hex');
  }

  private async load(tenant: string): Promise<UploadSessionRecord> {
    const record = await this.deps.sessions.get(this.uploadId);
    if (!record || record.tenant !== tenant) throw new UploadNotFoundError(this.uploadId);
    if (record.expiresAt.getTime() <= Date.now()) throw new UploadExpiredError(this.uploadId, record.expiresAt.toISOString());
    if (record.completed) throw new UploadAlreadyCompletedError(this.uploadId, record.mediaId);
    this.record = record;
    return record;
  }

  private requireOpen(): UploadSessionRecord {
    // A session instance without a record lost a race to another writer, or
    // was never opened here: the client must resume to learn the offset.
    if (!this.record) throw new UploadConflictError(this.uploadId, -1);
    if (this.record.completed) throw new UploadAlreadyCompletedError(this.uploadId, this.record.mediaId);
    return this.record;
  }

  private view(): SessionView {
    const record = this.requireOpen();
    return {
      uploadId: record.uploadId,
      mediaId: record.mediaId,
      offset: record.offset,
      declaredLength: record.declaredLength,
      partSize: record.partSize,
      expiresAt: record.expiresAt.toISOString(),
      completed: record.completed,
    };
  }
}
