// Cassandra connection and schema migrations.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import cassandra from 'cassandra-driver';

import type { Config } from '../nodes/common/config.js';
import { StorageUnavailableError } from '../nodes/common/errors.js';

export type CassandraClient = cassandra.Client;

const KEYSPACE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

export function createCassandraClient(config: Config['cassandra'], withKeyspace = true): cassandra.Client {
  return new cassandra.Client({
    contactPoints: config.contactPoints,
    localDataCenter: config.localDataCenter,
    ...(withKeyspace ? { keyspace: config.keyspace } : {}),
    queryOptions: { prepare: true, consistency: cassandra.types.consistencies.localQuorum },
    socketOptions: { connectTimeout: 5_000, readTimeout: 15_000 },
    pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 1 } },
  });
}

/** Splits a .cql file into statements, dropping `--` comments. */
export function splitStatements(cql: string): string[] {
  return cql
    .split('\n')
    .map((line) => line.replace(/--.*$/, ''))
    .join('\n')
    .split(';')
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

/** Prefixes the table name of a CREATE, ALTER or DROP TABLE statement with the keyspace. */
export function qualify(statement: string, keyspace: string): string {
  return statement.replace(/^((CREATE (TABLE|TYPE|INDEX)( IF NOT EXISTS)?)|(DROP TABLE( IF EXISTS)?)|ALTER TABLE) (?!\w+\.)/i, `$1 ${keyspace}.`);
}

/**
 * Creates the keyspace (NetworkTopologyStrategy in the local data centre)
 * and applies every migration in storage/migrations that has not run yet, in
 * file-name order. Statements use IF NOT EXISTS, so two nodes migrating at
 * once do no harm. Returns the names of the migrations applied now.
 */
export async function migrate(config: Config): Promise<string[]> {
  const { keyspace, localDataCenter, replicationFactor } = config.cassandra;
  if (!KEYSPACE_NAME.test(keyspace)) throw new StorageUnavailableError('schema migration', `invalid keyspace name ${JSON.stringify(keyspace)}`);

  const admin = createCassandraClient(config.cassandra, false);
  try {
    await admin.connect();
    await admin.execute(
      `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ` +
        `{'class': 'NetworkTopologyStrategy', '${localDataCenter}': ${replicationFactor}}`,
    );
    await admin.execute(
      `CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations (name text PRIMARY KEY, applied_at timestamp)`,
    );
    const done = new Set((await admin.execute(`SELECT name FROM ${keyspace}.schema_migrations`)).rows.map((r) => r['name'] as string));

    const dir = join(config.rootDir, 'storage', 'migrations');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cql')).sort();
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      for (const statement of splitStatements(await readFile(join(dir, file), 'utf8'))) {
        await admin.execute(qualify(statement, keyspace));
      }
      await admin.execute(`INSERT INTO ${keyspace}.schema_migrations (name, applied_at) VALUES (?, toTimestamp(now()))`, [file], {
        prepare: true,
      });
      applied.push(file);
    }
    return applied;
  } catch (error) {
    throw new StorageUnavailableError(`schema migration on ${config.cassandra.contactPoints.join(',')}`, error);
  } finally {
    await admin.shutdown();
  }
}
