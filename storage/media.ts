// Media items, the pending-processing queue and the audit trail in Cassandra.

import cassandra from 'cassandra-driver';

import { StorageUnavailableError } from '../nodes/common/errors.js';
import type { Digest } from '../actors/digest.js';
import type { CassandraClient } from './cassandra.js';

const { Uuid, TimeUuid } = cassandra.types;

export const MEDIA_STATUSES = ['receiving', 'received', 'scanning', 'processing', 'ready', 'quarantined', 'failed'] as const;
export type MediaStatus = (typeof MEDIA_STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<MediaStatus> = new Set(['ready', 'quarantined', 'failed']);

export interface VariantRecord {
  /** For example "thumb-256.webp". */
  name: string;
  contentType: string;
  width: number;
  height: number;
  length: number;
  etag: string;
}

/** EXIF fields that may be shown to anyone who can see the media item. */
export interface PublicExif {
  make?: string;
  model?: string;
  /** RFC 3339, with the camera's UTC offset when it recorded one. */
  capturedAt?: string;
  orientation?: number;
}

/** Private location; stored, never served. */
export interface GpsRecord {
  latitude: number;
  longitude: number;
  altitude?: number;
}

export interface MediaRecord {
  mediaId: string;
  tenant: string;
  uploadId: string;
  status: MediaStatus;
  errorCode: string;
  reason: string;
  filename: string;
  declaredContentType: string;
  /** Sniffed from the bytes; '' until processed. */
  contentType: string;
  length: number;
  sha256: string;
  /** CRC-32C of the received bytes; undefined for items received before it was recorded. */
  crc32c: number | undefined;
  width: number;
  height: number;
  exif: PublicExif;
  gps: GpsRecord | undefined;
  variants: VariantRecord[];
  signature: string;
  metadata: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

/** Fields that a status change may set alongside the status. */
export type MediaUpdate = Partial<
  Pick<MediaRecord, 'errorCode' | 'reason' | 'contentType' | 'length' | 'sha256' | 'width' | 'height' | 'exif' | 'gps' | 'variants' | 'signature'>
>;

const COLUMN_OF: Record<keyof MediaUpdate, string> = {
  errorCode: 'error_code',
  reason: 'reason',
  contentType: 'content_type',
  length: 'length',
  sha256: 'sha256',
  width: 'width',
  height: 'height',
  exif: 'exif',
  gps: 'gps',
  variants: 'variants',
  signature: 'signature',
};

const JSON_FIELDS = new Set<keyof MediaUpdate>(['exif', 'gps', 'variants']);

const PIPELINE_QUEUE = 'pipeline';

export interface PendingItem {
  mediaId: string;
  /** When it was queued or last claimed. */
  since: Date;
  /** Node processing it, or '' for none. */
  owner: string;
}

function parseJson<T>(value: unknown, fallback: T): T {
  if (typeof value !== 'string' || value === '') return fallback;
  return JSON.parse(value) as T;
}

function toRecord(row: cassandra.types.Row): MediaRecord {
  return {
    mediaId: row['media_id'].toString(),
    tenant: row['tenant'] ?? '',
    uploadId: row['upload_id']?.toString() ?? '',
    status: row['status'] as MediaStatus,
    errorCode: row['error_code'] ?? '',
    reason: row['reason'] ?? '',
    filename: row['filename'] ?? '',
    declaredContentType: row['declared_content_type'] ?? '',
    contentType: row['content_type'] ?? '',
    length: Number(row['length'] ?? 0),
    sha256: row['sha256'] ?? '',
    // Stored as a signed int: Cassandra has no unsigned 32-bit type.
    crc32c: typeof row['crc32c'] === 'number' ? row['crc32c'] >>> 0 : undefined,
    width: row['width'] ?? 0,
    height: row['height'] ?? 0,
    exif: parseJson<PublicExif>(row['exif'], {}),
    gps: parseJson<GpsRecord | undefined>(row['gps'], undefined),
    variants: parseJson<VariantRecord[]>(row['variants'], []),
    signature: row['signature'] ?? '',
    metadata: (row['metadata'] as Record<string, string> | null) ?? {},
    createdAt: row['created_at'] as Date,
    updatedAt: row['updated_at'] as Date,
  };
}

export class MediaRepository {
  constructor(
    private readonly client: CassandraClient,
    private readonly node: string,
  ) {}

  async create(media: Pick<MediaRecord, 'mediaId' | 'tenant' | 'uploadId' | 'status' | 'filename' | 'declaredContentType' | 'length' | 'metadata'> & MediaUpdate): Promise<void> {
    const now = new Date();
    const id = Uuid.fromString(media.mediaId);
    await this.run('create media', () =>
      this.client.batch(
        [
          {
            query: `INSERT INTO media (media_id, tenant, upload_id, status, error_code, reason, filename, declared_content_type,
                      length, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            params: [
              id,
              media.tenant,
              Uuid.fromString(media.uploadId),
              media.status,
              media.errorCode ?? '',
              media.reason ?? '',
              media.filename,
              media.declaredContentType,
              media.length,
              media.metadata,
              now,
              now,
            ],
          },
          { query: 'INSERT INTO media_by_tenant (tenant, created_at, media_id) VALUES (?, ?, ?)', params: [media.tenant, now, id] },
        ],
        { prepare: true },
      ),
    );
    await this.audit(media.mediaId, `media_${media.status}`, media.reason ?? '');
  }

  async get(mediaId: string): Promise<MediaRecord | undefined> {
    const result = await this.run('read media', () => this.client.execute('SELECT * FROM media WHERE media_id = ?', [Uuid.fromString(mediaId)]));
    const row = result.first();
    return row ? toRecord(row) : undefined;
  }

  /** Sets the status and the given fields, and records the change in the audit trail. */
  async setStatus(mediaId: string, status: MediaStatus, update: MediaUpdate = {}, detail = ''): Promise<void> {
    const columns = ['status = ?', 'updated_at = ?'];
    const params: unknown[] = [status, new Date()];
    for (const [field, value] of Object.entries(update) as Array<[keyof MediaUpdate, unknown]>) {
      if (value === undefined) continue;
      columns.push(`${COLUMN_OF[field]} = ?`);
      params.push(JSON_FIELDS.has(field) ? JSON.stringify(value) : value);
    }
    params.push(Uuid.fromString(mediaId));
    await this.run(`set media status ${status}`, () => this.client.execute(`UPDATE media SET ${columns.join(', ')} WHERE media_id = ?`, params));
    await this.audit(mediaId, `media_${status}`, detail || update.reason || '');
  }

  /** Deletes the media item and its tenant index row; the audit trail keeps a record of the deletion. */
  async delete(record: MediaRecord, reason: string): Promise<void> {
    const id = Uuid.fromString(record.mediaId);
    await this.run('delete media', () =>
      this.client.batch(
        [
          { query: 'DELETE FROM media WHERE media_id = ?', params: [id] },
          { query: 'DELETE FROM media_by_tenant WHERE tenant = ? AND created_at = ? AND media_id = ?', params: [record.tenant, record.createdAt, id] },
          { query: 'DELETE FROM pending_media WHERE queue = ? AND media_id = ?', params: [PIPELINE_QUEUE, id] },
        ],
        { prepare: true },
      ),
    );
    await this.audit(record.mediaId, 'media_deleted', reason);
  }

  /**
   * Marks an item received and queues it for the pipeline in one logged
   * batch, so a crash cannot leave a received item that no node picks up.
   */
  async markReceived(mediaId: string, length: number, digest: Digest, owner: string): Promise<void> {
    const id = Uuid.fromString(mediaId);
    const now = new Date();
    await this.run('mark media received', () =>
      this.client.batch(
        [
          {
            query: 'UPDATE media SET status = ?, updated_at = ?, length = ?, sha256 = ?, crc32c = ? WHERE media_id = ?',
            params: ['received', now, length, digest.sha256, digest.crc32c | 0, id],
          },
          { query: 'INSERT INTO pending_media (queue, media_id, since, owner) VALUES (?, ?, ?, ?)', params: [PIPELINE_QUEUE, id, now, owner] },
        ],
        { prepare: true, logged: true },
      ),
    );
    await this.audit(mediaId, 'media_received', '');
  }

  async dequeue(mediaId: string): Promise<void> {
    await this.run('dequeue media', () =>
      this.client.execute('DELETE FROM pending_media WHERE queue = ? AND media_id = ?', [PIPELINE_QUEUE, Uuid.fromString(mediaId)]),
    );
  }

  async listPending(): Promise<PendingItem[]> {
    const result = await this.run('list pending media', () =>
      this.client.execute('SELECT media_id, since, owner FROM pending_media WHERE queue = ?', [PIPELINE_QUEUE], { fetchSize: 10_000 }),
    );
    return result.rows.map((row) => ({
      mediaId: row['media_id'].toString(),
      since: row['since'] as Date,
      owner: (row['owner'] as string | null) ?? '',
    }));
  }

  /** Takes a pending item over from its current owner; false when another node claimed it first. */
  async claim(item: PendingItem, owner: string): Promise<boolean> {
    if (await this.claimFrom(item.mediaId, item.owner, owner)) return true;
    // '' and null both mean unowned (rows queued before owners existed hold null).
    return item.owner === '' && (await this.claimFrom(item.mediaId, null, owner));
  }

  private async claimFrom(mediaId: string, expected: string | null, owner: string): Promise<boolean> {
    const result = await this.run('claim pending media', () =>
      this.client.execute('UPDATE pending_media SET owner = ?, since = ? WHERE queue = ? AND media_id = ? IF owner = ?', [
        owner,
        new Date(),
        PIPELINE_QUEUE,
        Uuid.fromString(mediaId),
        expected,
      ]),
    );
    return result.wasApplied();
  }

  async audit(mediaId: string, event: string, detail: string): Promise<void> {
    await this.run('write audit event', () =>
      this.client.execute('INSERT INTO audit_events (media_id, event_id, event, node, detail) VALUES (?, ?, ?, ?, ?)', [
        Uuid.fromString(mediaId),
        TimeUuid.now(),
        event,
        this.node,
        detail,
      ]),
    );
  }

  async listAudit(mediaId: string): Promise<Array<{ event: string; at: Date; node: string; detail: string }>> {
    const result = await this.run('read audit events', () =>
      this.client.execute('SELECT event_id, event, node, detail FROM audit_events WHERE media_id = ?', [Uuid.fromString(mediaId)]),
    );
    return result.rows.map((row) => ({
      event: row['event'] as string,
      at: (row['event_id'] as cassandra.types.TimeUuid).getDate(),
      node: row['node'] as string,
      detail: row['detail'] as string,
    }));
  }

  private async run<T>(what: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      throw new StorageUnavailableError(`Cassandra: ${what}`, error);
    }
  }
}
