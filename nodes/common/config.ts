// Typed configuration for every Shoebox process. Nothing else reads process.env.
//
// Values come from the environment, falling back to $SHOEBOX_STATE_DIR/stack.env
// (written by the deploy scripts: endpoints and generated credentials), then to
// the defaults below.

import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';

import { ConfigInvalidError } from './errors.js';

const MiB = 1024 * 1024;

/** S3 multipart minimum: every part but the last must be at least 5 MiB. */
export const MIN_PART_SIZE = 5 * MiB;

export interface S3Config {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Bucket where uploads are assembled before scanning (replicated pool). */
  stagingBucket: string;
  /** Bucket of published originals and variants (erasure-coded pool). */
  canonicalBucket: string;
  /** Bucket of infected uploads, never served (replicated pool). */
  quarantineBucket: string;
  /** S3 LocationConstraint that places a bucket on the erasure-coded pool. */
  ecLocationConstraint: string;
  /** RGW user that may only PUT into the staging bucket: signs presigned direct-upload URLs. */
  stagingWriter: { accessKeyId: string; secretAccessKey: string };
  /** Lifetime of a presigned direct-upload URL in seconds; default 900. */
  directUrlTtlSeconds: number;
  /** Send part and object bodies as UNSIGNED-PAYLOAD instead of hashing them for SigV4; default true. */
  unsignedPayload: boolean;
}

export interface Config {
  /** Checkout root, found from this file's location. */
  rootDir: string;
  /** Directory of all runtime state; default `<root>/.state`. */
  stateDir: string;
  /**
   * Name of this node in logs and as the owner of the media it processes;
   * default `<hostname>:<gRPC port>`, stable across restarts so a restarted
   * node resumes its own pending items at once.
   */
  nodeName: string;
  /** gRPC listen address, `host:port`; default `127.0.0.1:50051`. */
  grpcAddress: string;
  /** HTTP listen host and port; default 127.0.0.1:8080. */
  httpHost: string;
  httpPort: number;
  /** Base URL put in front of variant paths in JSON; default `http://<httpHost>:<httpPort>`. */
  publicBaseUrl: string;
  cassandra: {
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    /** Replication factor in the local data centre; default 1 (single host). */
    replicationFactor: number;
  };
  s3: S3Config;
  clamd: {
    host: string;
    port: number;
    /** Time allowed for one scan, in ms; default 60000. */
    timeoutMs: number;
    /** Scan attempts before the media item fails closed; default 4. */
    maxAttempts: number;
  };
  upload: {
    /** Size of one S3 part in bytes; default 8 MiB, at least 5 MiB. */
    partSize: number;
    /** Largest accepted upload in bytes; default 96 MiB (below clamd's 128 MiB stream limit). */
    maxLength: number;
    /** Largest accepted chunk in bytes; default 4 MiB. */
    maxChunkLength: number;
    /** Session lifetime in seconds; default 86400 (24 h). */
    sessionTtlSeconds: number;
  };
  image: {
    /** Largest accepted width x height, checked from the header; default 100 megapixels. */
    maxPixels: number;
    /** Long-side sizes of the variants, in px. */
    variantSizes: number[];
  };
  /**
   * Whether this node runs the scan and variant pipeline (SHOEBOX_PROCESS_MEDIA,
   * default true). An ingest-only node leaves received items in the pending
   * queue for processing nodes, which poll it every `pendingPollMs`.
   */
  processMedia: boolean;
  /** How often a processing node polls the pending queue, in ms; default 5000. */
  pendingPollMs: number;
  /**
   * Age after which a processing node claims a pending item that another node
   * owns, in ms; default 300000. The owner may have crashed, or be slow: a
   * claim is an estimate either way, so keep it well above processing time.
   */
  pendingStaleMs: number;
  /** Worker threads for upload sessions and processing; default: available cores. */
  workers: number;
  /** Ceph admin access for operator tools and tests; '' when the stack was not started by deploy/ceph.sh. */
  ceph: {
    conf: string;
    keyring: string;
    /** Erasure-coded data pool behind the canonical bucket. */
    ecPool: string;
  };
  /** pino level; default `info`. */
  logLevel: string;
  /** Bearer token the CLI sends (SHOEBOX_TOKEN); '' when unset. */
  clientToken: string;
  /** Directory of the shared test corpus; default `<root>/../shared/corpus`. */
  corpusDir: string;
}

function findRoot(): string {
  // Compiled files live in <root>/dist/nodes/common, sources in <root>/nodes/common.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new ConfigInvalidError('rootDir', dir, 'no package.json found above the running module');
}

type Env = Record<string, string | undefined>;

function readStackEnv(stateDir: string): Env {
  const file = join(stateDir, 'stack.env');
  if (!existsSync(file)) return {};
  return parseEnv(readFileSync(file, 'utf8')) as Env;
}

function str(env: Env, key: string, fallback?: string): string {
  const value = env[key];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new ConfigInvalidError(key, undefined, 'is required; start the stack with `task up` or set it in the environment');
}

function int(env: Env, key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigInvalidError(key, raw, 'must be a non-negative decimal integer');
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigInvalidError(key, raw, `must be between ${min} and ${max}`);
  return value;
}

function bool(env: Env, key: string, fallback: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigInvalidError(key, raw, 'must be true, false, 1 or 0');
}

function hostPort(key: string, value: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) throw new ConfigInvalidError(key, value, 'must be host:port');
  return { host: match[1]!, port: Number(match[2]) };
}

/** Loads the configuration; `overrides` win over the environment (used by tests). */
export function loadConfig(overrides: Env = {}): Config {
  const rootDir = findRoot();
  const early: Env = { ...process.env, ...overrides };
  const stateDir = resolve(str(early, 'SHOEBOX_STATE_DIR', join(rootDir, '.state')));
  const env: Env = { ...readStackEnv(stateDir), ...early };

  const http = hostPort('SHOEBOX_HTTP_ADDRESS', str(env, 'SHOEBOX_HTTP_ADDRESS', '127.0.0.1:8080'));
  const grpcAddress = str(env, 'SHOEBOX_GRPC_ADDRESS', '127.0.0.1:50051');
  hostPort('SHOEBOX_GRPC_ADDRESS', grpcAddress);
  const partSize = int(env, 'SHOEBOX_PART_SIZE', 8 * MiB, MIN_PART_SIZE, 512 * MiB);
  const maxLength = int(env, 'SHOEBOX_MAX_UPLOAD_LENGTH', 96 * MiB, 1, 5 * 1024 * MiB);
  const sizes = str(env, 'SHOEBOX_VARIANT_SIZES', '256,1024,2048').split(',').map((s) => s.trim());
  for (const size of sizes) {
    if (!/^\d+$/.test(size) || Number(size) < 16 || Number(size) > 8192) {
      throw new ConfigInvalidError('SHOEBOX_VARIANT_SIZES', size, 'each size must be an integer from 16 to 8192');
    }
  }

  return {
    rootDir,
    stateDir,
    nodeName: str(env, 'SHOEBOX_NODE_NAME', `${hostname()}:${grpcAddress.split(':').pop()}`),
    grpcAddress,
    httpHost: http.host,
    httpPort: http.port,
    publicBaseUrl: str(env, 'SHOEBOX_PUBLIC_BASE_URL', `http://${http.host}:${http.port}`).replace(/\/+$/, ''),
    cassandra: {
      contactPoints: str(env, 'SHOEBOX_CASSANDRA_CONTACT_POINTS', '127.0.0.1:9042').split(','),
      localDataCenter: str(env, 'SHOEBOX_CASSANDRA_LOCAL_DC', 'datacenter1'),
      keyspace: str(env, 'SHOEBOX_CASSANDRA_KEYSPACE', 'shoebox'),
      replicationFactor: int(env, 'SHOEBOX_CASSANDRA_REPLICATION_FACTOR', 1, 1, 9),
    },
    s3: {
      endpoint: str(env, 'SHOEBOX_S3_ENDPOINT', 'http://127.0.0.1:7480'),
      region: str(env, 'SHOEBOX_S3_REGION', 'default'),
      accessKeyId: str(env, 'SHOEBOX_S3_ACCESS_KEY_ID'),
      secretAccessKey: str(env, 'SHOEBOX_S3_SECRET_ACCESS_KEY'),
      stagingBucket: str(env, 'SHOEBOX_STAGING_BUCKET', 'shoebox-staging'),
      canonicalBucket: str(env, 'SHOEBOX_CANONICAL_BUCKET', 'shoebox-canonical'),
      quarantineBucket: str(env, 'SHOEBOX_QUARANTINE_BUCKET', 'shoebox-quarantine'),
      ecLocationConstraint: str(env, 'SHOEBOX_S3_EC_LOCATION_CONSTRAINT', 'default:ec-placement'),
      stagingWriter: {
        accessKeyId: str(env, 'SHOEBOX_S3_STAGING_WRITER_ACCESS_KEY_ID', ''),
        secretAccessKey: str(env, 'SHOEBOX_S3_STAGING_WRITER_SECRET_ACCESS_KEY', ''),
      },
      directUrlTtlSeconds: int(env, 'SHOEBOX_DIRECT_URL_TTL_SECONDS', 900, 1, 7 * 86_400),
      unsignedPayload: bool(env, 'SHOEBOX_S3_UNSIGNED_PAYLOAD', true),
    },
    clamd: {
      host: str(env, 'SHOEBOX_CLAMD_HOST', '127.0.0.1'),
      port: int(env, 'SHOEBOX_CLAMD_PORT', 3310, 1, 65535),
      timeoutMs: int(env, 'SHOEBOX_CLAMD_TIMEOUT_MS', 60_000, 100),
      maxAttempts: int(env, 'SHOEBOX_CLAMD_MAX_ATTEMPTS', 4, 1, 20),
    },
    upload: {
      partSize,
      maxLength,
      maxChunkLength: int(env, 'SHOEBOX_MAX_CHUNK_LENGTH', 4 * MiB, 1, 64 * MiB),
      sessionTtlSeconds: int(env, 'SHOEBOX_SESSION_TTL_SECONDS', 86_400, 1),
    },
    image: {
      maxPixels: int(env, 'SHOEBOX_MAX_PIXELS', 100_000_000, 1),
      variantSizes: sizes.map(Number).sort((a, b) => a - b),
    },
    ceph: {
      conf: str(env, 'SHOEBOX_CEPH_CONF', ''),
      keyring: str(env, 'SHOEBOX_CEPH_KEYRING', ''),
      ecPool: str(env, 'SHOEBOX_CEPH_EC_POOL', ''),
    },
    processMedia: bool(env, 'SHOEBOX_PROCESS_MEDIA', true),
    pendingPollMs: int(env, 'SHOEBOX_PENDING_POLL_MS', 5_000, 100, 3_600_000),
    pendingStaleMs: int(env, 'SHOEBOX_PENDING_STALE_MS', 300_000, 1_000),
    workers: int(env, 'SHOEBOX_WORKERS', availableParallelism(), 1, 64),
    logLevel: str(env, 'SHOEBOX_LOG_LEVEL', 'info'),
    clientToken: str(env, 'SHOEBOX_TOKEN', ''),
    corpusDir: resolve(str(env, 'SHOEBOX_CORPUS_DIR', join(rootDir, '..', 'shared', 'corpus'))),
  };
}
