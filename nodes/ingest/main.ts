// The ingest node: gRPC UploadService, HTTP media API, and a pool of worker
// threads holding the session, scanner and derivative actors.
//
// Start-up fails fast: schema migrated and buckets verified before any port
// opens. SIGTERM or SIGINT drains open streams (up to the drain deadline),
// then stops the workers.

import { setFlagsFromString } from 'node:v8';

import { Server, ServerCredentials } from '@grpc/grpc-js';

import { WorkerPool } from '../../actors/pool.js';
import { UploadServiceService } from '../../proto/gen/shoebox/v1/upload.js';
import { createCassandraClient, migrate } from '../../storage/cassandra.js';
import { MediaRepository } from '../../storage/media.js';
import { ObjectStore, createS3Client } from '../../storage/s3.js';
import { SessionRepository } from '../../storage/sessions.js';
import { TokenRepository } from '../../storage/tokens.js';
import { Authenticator } from '../common/auth.js';
import { loadConfig } from '../common/config.js';
import { messageOf } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { createMetrics } from '../common/metrics.js';
import { createUploadService } from './grpc.js';
import { createHttpServer } from './http.js';

const DRAIN_DEADLINE_MS = 30_000;

// The worker threads' young generation starts at its full 16 MiB instead of
// growing from 1 MiB under load, so the node reaches its steady memory early
// rather than over its first few thousand uploads. Applies to isolates
// created from here on, so to every worker.
setFlagsFromString('--min-semi-space-size=16');

const config = loadConfig();
const log = createLogger(config.logLevel, { node: config.nodeName });

process.on('unhandledRejection', (error) => {
  // Start-up failures (Cassandra or RGW down, bad schema) end here. Log what
  // failed in one line and exit, instead of printing a stack dump.
  log.fatal({ event: 'node_stopped', err: error }, `ingest node failed: ${messageOf(error)}`);
  process.exit(1);
});

const applied = await migrate(config);
log.info({ event: 'schema_migrated', applied }, 'schema ready');

const store = new ObjectStore(createS3Client(config.s3), config.s3);
await store.ensureBuckets(config.upload.sessionTtlSeconds);
log.info({ event: 'buckets_ready', buckets: [config.s3.stagingBucket, config.s3.canonicalBucket, config.s3.quarantineBucket] }, 'buckets ready');

const cassandra = createCassandraClient(config.cassandra);
await cassandra.connect();
const sessions = new SessionRepository(cassandra);
const media = new MediaRepository(cassandra, config.nodeName);
const auth = new Authenticator(new TokenRepository(cassandra));
const pool = new WorkerPool(config.workers, { SHOEBOX_NODE_NAME: config.nodeName }, log, config.nodeName);
const metrics = createMetrics(true, async () => (await pool.broadcast({ op: 'stats' })).reduce((sum, s) => sum + s.backlog, 0));
await pool.start();

// Pick up media items that a previous run, or an ingest-only node, left
// between "received" and a final status, then keep polling for more. This
// node's own items go straight to the workers, which skip items already in
// flight. Unowned items, and items another node has owned for longer than
// pendingStaleMs, are first claimed with a lightweight transaction.
async function queuePending(): Promise<number> {
  let queued = 0;
  for (const item of await media.listPending()) {
    const mine = item.owner === config.nodeName;
    const claimable = item.owner === '' || Date.now() - item.since.getTime() > config.pendingStaleMs;
    if (!mine && !(claimable && (await media.claim(item, config.nodeName)))) continue;
    await pool.send(item.mediaId, { op: 'process', mediaId: item.mediaId });
    queued++;
  }
  return queued;
}
let pendingPoll: NodeJS.Timeout | undefined;
if (config.processMedia) {
  const recovered = await queuePending();
  if (recovered > 0) log.info({ event: 'media_recovered', count: recovered }, 'resumed processing of pending media');
  pendingPoll = setInterval(() => {
    queuePending().catch((error: unknown) => log.warn({ event: 'request_failed', err: messageOf(error) }, 'polling the pending queue failed'));
  }, config.pendingPollMs);
}


const grpcServer = new Server({
  'grpc.max_receive_message_length': config.upload.maxChunkLength + 64 * 1024,
});
grpcServer.addService(UploadServiceService, createUploadService({ config, auth, pool, sessions, media, metrics, log }));
await new Promise<void>((resolve, reject) =>
  grpcServer.bindAsync(config.grpcAddress, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
);

const http = await createHttpServer({
  config,
  workerMetrics: () => pool.broadcast({ op: 'metrics' }),
  stagingWriter: config.s3.stagingWriter.accessKeyId ? createS3Client(config.s3, { maxSockets: 8, credentials: config.s3.stagingWriter, unsignedPayload: false }) : undefined,
  auth,
  pool, sessions, media, store, metrics, log });
await http.listen({ host: config.httpHost, port: config.httpPort });
log.info({ event: 'node_started', grpc: config.grpcAddress, http: `${config.httpHost}:${config.httpPort}`, workers: config.workers }, 'ingest node started');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ event: 'node_stopping', signal }, 'draining open streams');
  clearInterval(pendingPoll);
  const drained = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), DRAIN_DEADLINE_MS);
    grpcServer.tryShutdown(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (!drained) grpcServer.forceShutdown();
  log.info({ event: 'stream_drained', drained }, drained ? 'all streams finished' : 'drain deadline passed; remaining streams cancelled');
  await http.close();
  await pool.stop();
  await cassandra.shutdown();
  log.info({ event: 'node_stopped' }, 'ingest node stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
