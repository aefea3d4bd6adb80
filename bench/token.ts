// The bearer token a run sends: --token, else SHOEBOX_TOKEN (read by
// loadConfig as clientToken), else a new token for the tenant `bench`,
// created the way `shoebox token create bench` creates one.

import type { Config } from '../nodes/common/config.js';
import { createCassandraClient, migrate } from '../storage/cassandra.js';
import { TokenRepository } from '../storage/tokens.js';

export const BENCH_TENANT = 'bench';

export interface ResolvedToken {
  token: string;
  /** Origin of the token, for the report. The token itself is never written to results. */
  source: '--token' | 'SHOEBOX_TOKEN' | `created for tenant ${typeof BENCH_TENANT}`;
}

export async function resolveToken(config: Config, fromOption: string): Promise<ResolvedToken> {
  if (fromOption) return { token: fromOption, source: '--token' };
  if (config.clientToken) return { token: config.clientToken, source: 'SHOEBOX_TOKEN' };
  await migrate(config);
  const cassandra = createCassandraClient(config.cassandra);
  await cassandra.connect();
  try {
    return { token: await new TokenRepository(cassandra).create(BENCH_TENANT), source: `created for tenant ${BENCH_TENANT}` };
  } finally {
    await cassandra.shutdown();
  }
}

/** Returns the `authorization` header for `token`, or no header when it is ''. */
export function bearerHeaders(token: string): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}
