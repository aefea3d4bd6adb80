// Starts real ingest nodes as child processes against the running stack, and
// gives tests direct access to the same Cassandra and RGW for checks.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { freePort } from '../../bench/net.js';
import { loadConfig, type Config } from '../../nodes/common/config.js';
import { createClient } from '../../nodes/client/upload.js';
import { createCassandraClient, migrate, type CassandraClient } from '../../storage/cassandra.js';
import { MediaRepository } from '../../storage/media.js';
import { ObjectStore, createS3Client } from '../../storage/s3.js';
import { SessionRepository } from '../../storage/sessions.js';
import { TokenRepository } from '../../storage/tokens.js';
import type { UploadServiceClient } from '../../proto/gen/shoebox/v1/upload.js';

export const config: Config = loadConfig();

/** Tenants every test acts for, each with a fresh bearer token. */
export const TEST_TENANT = 'test';
export const OTHER_TENANT = 'test-other';

async function createTokens(): Promise<{ test: string; other: string }> {
  await migrate(config);
  const cassandra = createCassandraClient(config.cassandra);
  await cassandra.connect();
  try {
    const tokens = new TokenRepository(cassandra);
    return { test: await tokens.create(TEST_TENANT), other: await tokens.create(OTHER_TENANT) };
  } finally {
    await cassandra.shutdown();
  }
}

const tokens = await createTokens();
export const testToken = tokens.test;
export const otherToken = tokens.other;
export const authHeaders = { authorization: `Bearer ${testToken}` };

/** fetch with the test tenant's bearer token. */
export function authedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...authHeaders, ...(init.headers as Record<string, string> | undefined) } });
}

/** Two loopback ports the OS reports free, for a node that a test restarts on the same ports. */
export async function freePorts(): Promise<{ grpc: number; http: number }> {
  return { grpc: await freePort(), http: await freePort() };
}

export interface RunningNode {
  name: string;
  grpcAddress: string;
  httpBase: string;
  process: ChildProcess;
  client: UploadServiceClient;
  logFile: string;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Sends SIGTERM and waits for a clean exit. */
  stop(): Promise<number | null>;
}

async function waitForHealth(httpBase: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`ingest node exited with code ${child.exitCode} before it was healthy; log: ${logFile}`);
    try {
      const response = await fetch(`${httpBase}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`ingest node at ${httpBase} not healthy within 60 s; log: ${logFile}`);
}

/** Starts an ingest node on fresh loopback ports; `env` overrides its config. */
export async function startNode(env: Record<string, string> = {}, ports?: { grpc: number; http: number }): Promise<RunningNode> {
  const { grpc: grpcPort, http: httpPort } = ports ?? (await freePorts());
  const name = `test-${grpcPort}`;
  const logDir = join(config.stateDir, 'test-logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const grpcAddress = `127.0.0.1:${grpcPort}`;
  const httpBase = `http://127.0.0.1:${httpPort}`;
  const child = spawn(process.execPath, [join(config.rootDir, 'dist/nodes/ingest/main.js')], {
    env: {
      ...process.env,
      SHOEBOX_GRPC_ADDRESS: grpcAddress,
      SHOEBOX_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
      SHOEBOX_NODE_NAME: name,
      SHOEBOX_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitForHealth(httpBase, child, logFile);
  const client = createClient(grpcAddress, testToken);
  return {
    name,
    grpcAddress,
    httpBase,
    process: child,
    client,
    logFile,
    async kill() {
      client.close();
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      client.close();
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Backends {
  cassandra: CassandraClient;
  sessions: SessionRepository;
  media: MediaRepository;
  store: ObjectStore;
  close(): Promise<void>;
}

export async function connectBackends(): Promise<Backends> {
  await migrate(config);
  const cassandra = createCassandraClient(config.cassandra);
  await cassandra.connect();
  const store = new ObjectStore(createS3Client(config.s3), config.s3);
  await store.ensureBuckets(config.upload.sessionTtlSeconds);
  return {
    cassandra,
    sessions: new SessionRepository(cassandra),
    media: new MediaRepository(cassandra, 'test'),
    store,
    close: () => cassandra.shutdown(),
  };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Runs `work` over `items` with at most `limit` at once, keeping input order in the results. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(runners);
  return results;
}
