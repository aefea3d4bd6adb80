// Upload session state in Cassandra. Any node can load a session and resume
// it; the offset only moves forward through a lightweight transaction, so two
// writers can never both advance it from the same value.

import cassandra from 'cassandra-driver';

import { StorageUnavailableError } from '../nodes/common/errors.js';
import type { CassandraClient } from './cassandra.js';

const { Uuid } = cassandra.types;

export type UploadMode = 'stream' | 'chunks' | 'direct';
export type ConcatRole = '' | 'partial' | 'final';

/** Length of an upload whose size the client has not declared yet (tus creation-defer-length). */
export const DEFERRED_LENGTH = -1;

export interface UploadSessionRecord {
  uploadId: string;
  mode: UploadMode;
  /** tus concatenation role; a partial upload never becomes a media item itself. */
  concat: ConcatRole;
  tenant: string;
  mediaId: string;
  filename: string;
  contentType: string;
  declaredLength: number;
  /** Lowercase hex, or '' when the client declared none. */
  declaredSha256: string;
  metadata: Record<string, string>;
  /** Bytes durably stored: full parts plus the persisted tail. */
  offset: number;
  /** Bytes after the last full part, stored as the tail object. */
  tailLength: number;
  /** The tus Upload-Metadata header as the client sent it, echoed on HEAD. */
  uploadMetadata: string;
  partSize: number;
  s3UploadId: string;
  stagingKey: string;
  completed: boolean;
  createdAt: Date;
  expiresAt: Date;
}

export interface PartRecord {
  partNumber: number;
  etag: string;
  length: number;
  /** Lowercase hex SHA-256 of the part, recorded for REST chunks; '' otherwise. */
  sha256?: string;
}

/** Seconds a tus write lock lasts unless released first. acquireLock takes a lock past its lock_until, so a crashed holder blocks the upload this long at most. */
export const LOCK_SECONDS = 120;

/** lock_until of a free lock. */
const UNLOCKED = new Date(0);

export type LockOutcome =
  /** The caller holds the lock. */
  | 'acquired'
  /** Another holder has it. */
  | 'locked'
  /** The session no longer has the values the caller expected. */
  | 'changed'
  /** No session row. */
  | 'missing';

/** Rows outlive the session by a day, so a late request learns it expired (410) rather than not found. */
const EXPIRED_GRACE_SECONDS = 86_400;

function ttlSeconds(expiresAt: Date): number {
  return Math.max(1, Math.ceil((expiresAt.getTime() - Date.now()) / 1000) + EXPIRED_GRACE_SECONDS);
}

function toRecord(row: cassandra.types.Row): UploadSessionRecord {
  return {
    uploadId: row['upload_id'].toString(),
    mode: (row['mode'] as UploadMode | null) ?? 'stream',
    concat: (row['concat'] as ConcatRole | null) ?? '',
    tenant: row['tenant'] ?? '',
    mediaId: row['media_id'].toString(),
    filename: row['filename'] ?? '',
    contentType: row['content_type'] ?? '',
    declaredLength: Number(row['declared_length']),
    declaredSha256: row['declared_sha256'] ?? '',
    metadata: (row['metadata'] as Record<string, string> | null) ?? {},
    offset: Number(row['stored_offset']),
    tailLength: Number(row['tail_length'] ?? 0),
    uploadMetadata: row['upload_metadata'] ?? '',
    partSize: row['part_size'] as number,
    s3UploadId: row['s3_upload_id'] ?? '',
    stagingKey: row['staging_key'] ?? '',
    completed: row['completed'] === true,
    createdAt: row['created_at'] as Date,
    expiresAt: row['expires_at'] as Date,
  };
}

export class SessionRepository {
  constructor(private readonly client: CassandraClient) {}

  /** Inserts a new session; rows expire with the session. */
  async create(session: UploadSessionRecord): Promise<void> {
    await this.run('create session', () =>
      this.client.execute(
        `INSERT INTO upload_sessions (upload_id, mode, concat, tenant, media_id, filename, content_type, declared_length, declared_sha256,
           metadata, stored_offset, tail_length, upload_metadata, part_size, s3_upload_id, staging_key, completed, created_at, expires_at, lock_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?`,
        [
          Uuid.fromString(session.uploadId),
          session.mode,
          session.concat,
          session.tenant,
          Uuid.fromString(session.mediaId),
          session.filename,
          session.contentType,
          session.declaredLength,
          session.declaredSha256,
          session.metadata,
          session.offset,
          session.tailLength,
          session.uploadMetadata,
          session.partSize,
          session.s3UploadId,
          session.stagingKey,
          session.completed,
          session.createdAt,
          session.expiresAt,
          UNLOCKED,
          ttlSeconds(session.expiresAt),
        ],
      ),
    );
  }

  /**
   * Takes the tus write lock of a session for `holder` in one lightweight
   * transaction. The transaction applies only while the session still has
   * the offset, tail, length and completion of `session`, so the caller's
   * copy is known to be current once it holds the lock.
   */
  async acquireLock(session: UploadSessionRecord, holder: string): Promise<LockOutcome> {
    const now = new Date();
    const attempt = (free: 'expired' | 'never set') =>
      this.run('take upload lock', () =>
        this.client.execute(
          `UPDATE upload_sessions USING TTL ? SET lock_holder = ?, lock_until = ? WHERE upload_id = ?
           IF ${free === 'expired' ? 'lock_until < ?' : 'lock_until = null'} AND stored_offset = ? AND tail_length = ? AND declared_length = ? AND completed = ?`,
          [
            ttlSeconds(session.expiresAt),
            holder,
            new Date(now.getTime() + LOCK_SECONDS * 1000),
            Uuid.fromString(session.uploadId),
            ...(free === 'expired' ? [now] : []),
            session.offset,
            session.tailLength,
            session.declaredLength,
            session.completed,
          ],
        ),
      );
    let result = await attempt('expired');
    // A row written before the lock columns existed has no lock_until.
    if (!result.wasApplied() && result.first()?.['lock_until'] === null) result = await attempt('never set');
    if (result.wasApplied()) return 'acquired';
    // A failed condition returns the row's current values; none when the row is gone.
    const row = result.first();
    if (!row || row['stored_offset'] === undefined) return 'missing';
    const lockUntil = row['lock_until'] as Date | null;
    if (lockUntil && lockUntil.getTime() >= now.getTime()) return 'locked';
    return 'changed';
  }

  /** Releases the lock if `holder` still has it. */
  async releaseLock(session: UploadSessionRecord, holder: string): Promise<void> {
    await this.run('release upload lock', () =>
      this.client.execute('UPDATE upload_sessions USING TTL ? SET lock_until = ? WHERE upload_id = ? IF lock_holder = ?', [
        ttlSeconds(session.expiresAt),
        UNLOCKED,
        Uuid.fromString(session.uploadId),
        holder,
      ]),
    );
  }

  async get(uploadId: string): Promise<UploadSessionRecord | undefined> {
    const result = await this.run('read session', () =>
      this.client.execute('SELECT * FROM upload_sessions WHERE upload_id = ?', [Uuid.fromString(uploadId)], {
        consistency: cassandra.types.consistencies.serial,
      }),
    );
    const row = result.first();
    return row ? toRecord(row) : undefined;
  }

  /**
   * Records a durable part and moves the offset from `expectedOffset` to
   * `newOffset`. Returns false when another writer moved the offset first.
   */
  async advanceOffset(session: UploadSessionRecord, part: PartRecord, expectedOffset: number, newOffset: number): Promise<boolean> {
    const id = Uuid.fromString(session.uploadId);
    const ttl = ttlSeconds(session.expiresAt);
    // The part row first: a part row without an advanced offset is harmless
    // (it is overwritten when the part is sent again), the reverse is not.
    await this.run('record part', () =>
      this.client.execute(
        'INSERT INTO upload_parts (upload_id, part_number, etag, length) VALUES (?, ?, ?, ?) USING TTL ?',
        [id, part.partNumber, part.etag, part.length, ttl],
      ),
    );
    const result = await this.run('advance offset', () =>
      this.client.execute(
        'UPDATE upload_sessions USING TTL ? SET stored_offset = ?, tail_length = 0 WHERE upload_id = ? IF stored_offset = ?',
        [ttl, newOffset, id, expectedOffset],
      ),
    );
    return result.wasApplied();
  }

  /**
   * Records a persisted tail: the offset moves from `expectedOffset` to
   * `newOffset`, of which the last `tailLength` bytes are in the tail object.
   * With `releaseHolder`, the same transaction releases that holder's lock.
   * Returns false when another writer moved the offset first, or the lock
   * has another holder.
   */
  async checkpointTail(session: UploadSessionRecord, expectedOffset: number, newOffset: number, tailLength: number, releaseHolder?: string): Promise<boolean> {
    const id = Uuid.fromString(session.uploadId);
    const ttl = ttlSeconds(session.expiresAt);
    const result = await this.run('checkpoint tail', () =>
      releaseHolder === undefined
        ? this.client.execute('UPDATE upload_sessions USING TTL ? SET stored_offset = ?, tail_length = ? WHERE upload_id = ? IF stored_offset = ?', [
            ttl,
            newOffset,
            tailLength,
            id,
            expectedOffset,
          ])
        : this.client.execute(
            'UPDATE upload_sessions USING TTL ? SET stored_offset = ?, tail_length = ?, lock_until = ? WHERE upload_id = ? IF stored_offset = ? AND lock_holder = ?',
            [ttl, newOffset, tailLength, UNLOCKED, id, expectedOffset, releaseHolder],
          ),
    );
    return result.wasApplied();
  }

  /** Sets a deferred length once; returns false when it was already set. */
  async declareLength(session: UploadSessionRecord, length: number): Promise<boolean> {
    const result = await this.run('declare length', () =>
      this.client.execute('UPDATE upload_sessions USING TTL ? SET declared_length = ? WHERE upload_id = ? IF declared_length = ?', [
        ttlSeconds(session.expiresAt),
        length,
        Uuid.fromString(session.uploadId),
        DEFERRED_LENGTH,
      ]),
    );
    return result.wasApplied();
  }

  /**
   * Records a REST chunk's part unless that part number is already recorded.
   * Returns the part that is now stored: this one, or the earlier one.
   */
  async recordChunk(session: UploadSessionRecord, part: PartRecord): Promise<PartRecord> {
    const result = await this.run('record chunk', () =>
      this.client.execute(
        'INSERT INTO upload_parts (upload_id, part_number, etag, length, sha256) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?',
        [Uuid.fromString(session.uploadId), part.partNumber, part.etag, part.length, part.sha256 ?? '', ttlSeconds(session.expiresAt)],
      ),
    );
    if (result.wasApplied()) return part;
    const row = result.first();
    return { partNumber: row['part_number'] as number, etag: row['etag'] as string, length: row['length'] as number, sha256: (row['sha256'] as string) ?? '' };
  }

  async listParts(uploadId: string): Promise<PartRecord[]> {
    const result = await this.run('list parts', () =>
      this.client.execute('SELECT part_number, etag, length, sha256 FROM upload_parts WHERE upload_id = ?', [Uuid.fromString(uploadId)]),
    );
    return result.rows.map((row) => ({
      partNumber: row['part_number'] as number,
      etag: row['etag'] as string,
      length: row['length'] as number,
      sha256: (row['sha256'] as string | null) ?? '',
    }));
  }

  /** Marks the session completed; returns false when it already was. */
  async markCompleted(session: UploadSessionRecord): Promise<boolean> {
    const result = await this.run('complete session', () =>
      this.client.execute('UPDATE upload_sessions USING TTL ? SET completed = true WHERE upload_id = ? IF completed = false', [
        ttlSeconds(session.expiresAt),
        Uuid.fromString(session.uploadId),
      ]),
    );
    return result.wasApplied();
  }

  async delete(uploadId: string): Promise<void> {
    const id = Uuid.fromString(uploadId);
    await this.run('delete session', () =>
      this.client.batch(
        [
          { query: 'DELETE FROM upload_parts WHERE upload_id = ?', params: [id] },
          { query: 'DELETE FROM upload_sessions WHERE upload_id = ?', params: [id] },
        ],
        { logged: false },
      ),
    );
  }

  private async run<T>(what: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      throw new StorageUnavailableError(`Cassandra: ${what}`, error);
    }
  }
}
