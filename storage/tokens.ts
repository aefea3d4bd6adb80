// Tenant bearer tokens: created by an operator command, stored as SHA-256
// hashes, checked on every request with a short in-process cache.

import { createHash, randomBytes } from 'node:crypto';

import { RequestInvalidError, StorageUnavailableError } from '../nodes/common/errors.js';
import type { CassandraClient } from './cassandra.js';

const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const TOKEN_PREFIX = 'sbx_';
/** How long a verified token is trusted without asking Cassandra again. */
const CACHE_MS = 30_000;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TokenRepository {
  private readonly cache = new Map<string, { tenant: string | undefined; until: number }>();

  constructor(private readonly client: CassandraClient) {}

  /** Creates a token for `tenant` and returns it; only its hash is stored. */
  async create(tenant: string): Promise<string> {
    if (!TENANT_NAME.test(tenant)) {
      throw new RequestInvalidError('tenant', tenant, 'must be 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit');
    }
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    try {
      await this.client.execute('INSERT INTO tenant_tokens (token_hash, tenant, created_at) VALUES (?, ?, ?)', [
        hashToken(token),
        tenant,
        new Date(),
      ]);
    } catch (error) {
      throw new StorageUnavailableError('Cassandra: create token', error);
    }
    return token;
  }

  /** Returns the token's tenant, or undefined for an unknown token. */
  async tenantOf(token: string): Promise<string | undefined> {
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    if (cached && cached.until > Date.now()) return cached.tenant;
    let tenant: string | undefined;
    try {
      const row = (await this.client.execute('SELECT tenant FROM tenant_tokens WHERE token_hash = ?', [hash])).first();
      tenant = row ? (row['tenant'] as string) : undefined;
    } catch (error) {
      throw new StorageUnavailableError('Cassandra: read token', error);
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { tenant, until: Date.now() + CACHE_MS });
    return tenant;
  }
}
