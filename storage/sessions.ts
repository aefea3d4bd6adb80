// Upload session state in Cassandra. Any node can load a session and resume
// it; the offset only moves forward through a lightweight transaction, so two
// writers can never both advance it from the same value.

import cassandra from 'cassandra-driver';

import { StorageUnavailableError } from '../nodes/common/errors.js';
import type { CassandraClient } from './cassandra.js';

const { Uuid } = cassandra.types;

export interface UploadSessionRecord {
  uploadId: string;
  tenant: string;
  mediaId: string;
  filename: string;
  contentType: string;
  declaredLength: number;
  /** Lowercase hex, or '' when the client declared none. */
  declaredSha256: string;
  metadata: Record<string, string>;
  /** Bytes in durable parts. */
  offset: number;
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
}

function ttlSeconds(expiresAt: Date): number {
  return Math.max(1, Math.ceil((expiresAt.getTime() - Date.now()) / 1000));
}

function toRecord(row: cassandra.types.Row): UploadSessionRecord {
  return {
    uploadId: row['upload_id'].toString(),
    tenant: row['tenant'] ?? '',
    mediaId: row['media_id'].toString(),
    filename: row['filename'] ?? '',
    contentType: row['content_type'] ?? '',
    declaredLength: Number(row['declared_length']),
    declaredSha256: row['declared_sha256'] ?? '',
    metadata: (row['metadata'] as Record<string, string> | null) ?? {},
    offset: Number(row['stored_offset']),
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
        `INSERT INTO upload_sessions (upload_id, tenant, media_id, filename, content_type, declared_length, declared_sha256,
           metadata, stored_offset, part_size, s3_upload_id, staging_key, completed, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?`,
        [
          Uuid.fromString(session.uploadId),
          session.tenant,
          Uuid.fromString(session.mediaId),
          session.filename,
          session.contentType,
          session.declaredLength,
          session.declaredSha256,
          session.metadata,
          session.offset,
          session.partSize,
          session.s3UploadId,
          session.stagingKey,
          session.completed,
          session.createdAt,
          session.expiresAt,
          ttlSeconds(session.expiresAt),
        ],
      ),
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
        'UPDATE upload_sessions USING TTL ? SET stored_offset = ? WHERE upload_id = ? IF stored_offset = ?',
        [ttl, newOffset, id, expectedOffset],
      ),
    );
    return result.wasApplied();
  }

  async listParts(uploadId: string): Promise<PartRecord[]> {
    const result = await this.run('list parts', () =>
      this.client.execute('SELECT part_number, etag, length FROM upload_parts WHERE upload_id = ?', [Uuid.fromString(uploadId)]),
    );
    return result.rows.map((row) => ({
      partNumber: row['part_number'] as number,
      etag: row['etag'] as string,
      length: row['length'] as number,
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
