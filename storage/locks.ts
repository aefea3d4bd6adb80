// Upload locks across processes: a lightweight transaction inserts the lock
// row with a TTL, so a crashed holder frees it when the TTL runs out.

import { randomUUID } from 'node:crypto';

import cassandra from 'cassandra-driver';

import { StorageUnavailableError } from '../nodes/common/errors.js';
import type { CassandraClient } from './cassandra.js';

const { Uuid } = cassandra.types;

export class UploadLocks {
  constructor(
    private readonly client: CassandraClient,
    /** Seconds a lock lives unless released first. */
    private readonly ttlSeconds = 120,
  ) {}

  /** Takes the lock of `uploadId`; returns a release function, or undefined when another holder has it. */
  async tryLock(uploadId: string): Promise<(() => Promise<void>) | undefined> {
    const holder = randomUUID();
    const id = Uuid.fromString(uploadId);
    let applied: boolean;
    try {
      const result = await this.client.execute('INSERT INTO upload_locks (upload_id, holder) VALUES (?, ?) IF NOT EXISTS USING TTL ?', [
        id,
        holder,
        this.ttlSeconds,
      ]);
      applied = result.wasApplied();
    } catch (error) {
      throw new StorageUnavailableError('Cassandra: take upload lock', error);
    }
    if (!applied) return undefined;
    return async () => {
      try {
        await this.client.execute('DELETE FROM upload_locks WHERE upload_id = ? IF holder = ?', [id, holder]);
      } catch (error) {
        throw new StorageUnavailableError('Cassandra: release upload lock', error);
      }
    };
  }
}
