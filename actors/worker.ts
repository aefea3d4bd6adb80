// Worker-thread entry. Each worker runs one nact actor system holding:
//   sessions   - a router with one child session actor per upload id of this shard
//   scanner    - scans received media with clamd (supervised)
//   derivative - inspects, renders variants and promotes (supervised)
// The main thread routes every upload id and media id to one worker, so one
// session actor owns each upload on this node.

import { parentPort, workerData } from 'node:worker_threads';

import { dispatch, query, spawn, spawnStateless, start, stop, type Ref } from 'nact';

import { loadConfig } from '../nodes/common/config.js';
import { InternalError, ShoeboxError, UploadIncompleteError, UploadNotFoundError, toShoeboxError } from '../nodes/common/errors.js';
import { createLogger } from '../nodes/common/log.js';
import { createPipelineMetrics } from '../nodes/common/metrics.js';
import { createCassandraClient } from '../storage/cassandra.js';
import { MediaRepository } from '../storage/media.js';
import { ObjectStore, createS3Client } from '../storage/s3.js';
import { SessionRepository, type UploadSessionRecord } from '../storage/sessions.js';
import { Pipeline, Scanner, backoffMs } from './pipeline.js';
import { shardOf } from './pool.js';
import type { SessionCommand, WorkerForward, WorkerInit, WorkerReply, WorkerRequest, WorkerStats } from './protocol.js';
import { UploadSession, toSessionView, type SessionDeps } from './session.js';

if (!parentPort) throw new Error('actors/worker.js must run in a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;

const config = loadConfig(init.configOverrides);
const log = createLogger(config.logLevel, { node: config.nodeName, worker: init.index });
const cassandra = createCassandraClient(config.cassandra);
const store = new ObjectStore(createS3Client(config.s3), config.s3);
const sessionRepository = new SessionRepository(cassandra);
const mediaRepository = new MediaRepository(cassandra, config.nodeName);
const pipelineMetrics = createPipelineMetrics(init.index);
const pipeline = new Pipeline({ config, media: mediaRepository, store, log, metrics: pipelineMetrics }, new Scanner(config.clamd));

/** Time a session actor may sit idle before it stops; buffered bytes are not durable anyway. */
const SESSION_IDLE_MS = 15 * 60_000;
/** Maximum time of one session command: one part upload plus its Cassandra writes. */
const SESSION_COMMAND_TIMEOUT_MS = 180_000;
const MAX_PROCESS_ATTEMPTS = 4;

type Reply = { ok: true; value: unknown } | { ok: false; error: ShoeboxError };
type SessionMessage = { command: SessionCommand; sender: Ref<Reply> };
type PipelineMessage = { mediaId: string; attempt: number };
/** A clean item on its way to processing, with the bytes the scan read when they fit the hand-off budget. */
type DerivativeMessage = PipelineMessage & { bytes?: Buffer };

/**
 * Bytes of scanned objects waiting in memory for the derivative actor. Above
 * it, an item goes on without its bytes and processing reads it again, so a
 * scanner running ahead of processing cannot fill the worker's memory.
 */
const HANDOFF_BUDGET_BYTES = 256 * 1024 * 1024;
let handoffBytes = 0;

const inFlight = new Set<string>();
const system = start();

function logCrash(actor: string) {
  return (msg: unknown, error: Error | undefined, ctx: { resume: symbol }) => {
    // Bytes handed from the scanner stay out of the log line.
    const text = JSON.stringify(msg, (key, value: unknown) => (key === 'bytes' ? '<bytes>' : value));
    log.error({ event: 'actor_crashed', actor, msg: text?.slice(0, 200), err: error }, 'actor crashed; resuming');
    return ctx.resume;
  };
}

const derivative = spawn(
  system,
  async (state: null, msg: DerivativeMessage, ctx) => {
    const bytes = msg.bytes;
    if (bytes) handoffBytes -= bytes.length;
    try {
      await pipeline.process(msg.mediaId, bytes);
      inFlight.delete(msg.mediaId);
    } catch (error) {
      if (msg.attempt >= MAX_PROCESS_ATTEMPTS) {
        const item = await mediaRepository.get(msg.mediaId);
        if (item) await pipeline.fail(item, new InternalError(`processing failed ${msg.attempt} times: ${toShoeboxError(error).message}`, error));
        inFlight.delete(msg.mediaId);
      } else {
        log.warn({ event: 'media_failed', mediaId: msg.mediaId, attempt: msg.attempt, err: error }, 'processing failed, will retry');
        setTimeout(() => dispatch(ctx.self, { mediaId: msg.mediaId, attempt: msg.attempt + 1 }), backoffMs(msg.attempt));
      }
    }
    return state;
  },
  'derivative',
  { initialState: null, onCrash: logCrash('derivative') as never },
);

const scanner = spawn(
  system,
  async (state: null, msg: PipelineMessage, ctx) => {
    try {
      const outcome = await pipeline.scan(msg.mediaId);
      if (outcome.verdict === 'clean') {
        const bytes = outcome.bytes && handoffBytes + outcome.bytes.length <= HANDOFF_BUDGET_BYTES ? outcome.bytes : undefined;
        if (bytes) handoffBytes += bytes.length;
        dispatch(derivative, { mediaId: msg.mediaId, attempt: 1, ...(bytes ? { bytes } : {}) });
      } else {
        inFlight.delete(msg.mediaId);
      }
    } catch (error) {
      // Cassandra or RGW failed around the scan itself: try the whole step again.
      log.warn({ event: 'scan_retry', mediaId: msg.mediaId, attempt: msg.attempt, err: error }, 'scan step failed, will retry');
      setTimeout(() => dispatch(ctx.self, { mediaId: msg.mediaId, attempt: msg.attempt + 1 }), backoffMs(msg.attempt));
    }
    return state;
  },
  'scanner',
  { initialState: null, onCrash: logCrash('scanner') as never },
);

/**
 * Processes a received item in the worker that owns its media id. The session
 * that received it lives in the worker of its upload id, while the pending
 * queue poll routes by media id. Without this, two workers could process the
 * same item at once, and the later one could overwrite the earlier "ready".
 */
function processHere(mediaId: string): void {
  if (shardOf(mediaId, init.poolSize) === init.index) enqueueMedia(mediaId);
  else port.postMessage({ forward: { op: 'process', mediaId } } satisfies WorkerForward);
}

function enqueueMedia(mediaId: string): void {
  if (inFlight.has(mediaId)) return;
  inFlight.add(mediaId);
  dispatch(scanner, { mediaId, attempt: 1 });
}

const sessionDeps: SessionDeps = {
  config,
  sessions: sessionRepository,
  media: mediaRepository,
  store,
  log,
  // An ingest-only node leaves received items in the pending queue for processing nodes.
  onReceived: config.processMedia ? processHere : () => undefined,
};

async function runSessionCommand(session: UploadSession, command: SessionCommand): Promise<unknown> {
  switch (command.op) {
    case 'open':
      return session.open(command.upload);
    case 'resume':
      return session.resume(command.tenant);
    case 'sync':
      return toSessionView(await session.sync(command.tenant));
    case 'chunk':
      return session.chunk(command.offset, command.data, command.crc32c);
    case 'lock':
      return session.lock(command.tenant, command.holder);
    case 'unlock':
      return session.unlock(command.holder);
    case 'checkpoint':
      return session.checkpoint(command.holder);
    case 'declareLength':
      return session.declareLength(command.length);
    case 'finish':
      return session.finish();
    case 'putChunk':
      await session.sync(command.tenant);
      return session.putChunk(command.index, command.data, command.sha256);
    case 'completeChunks':
      await session.sync(command.tenant);
      return session.completeChunks();
    case 'completeDirect':
      await session.sync(command.tenant);
      return session.completeDirect();
    case 'concatenate':
      await session.sync(command.tenant);
      return session.concatenate(await loadPartials(command.tenant, command.partialIds));
    case 'terminate':
      return session.terminate(command.tenant);
  }
}

/** Loads the partial uploads of a tus final upload, checking each is complete and the tenant's own. */
async function loadPartials(tenant: string, ids: string[]): Promise<UploadSessionRecord[]> {
  const partials: UploadSessionRecord[] = [];
  for (const id of ids) {
    const partial = await sessionRepository.get(id);
    if (!partial || partial.tenant !== tenant || partial.concat !== 'partial') throw new UploadNotFoundError(id);
    if (!partial.completed) throw new UploadIncompleteError(id, partial.offset, partial.declaredLength);
    partials.push(partial);
  }
  return partials;
}

type RoutedSessionMessage = SessionMessage & { uploadId: string };

const sessions: Ref<RoutedSessionMessage> = spawnStateless(
  system,
  (msg: RoutedSessionMessage, ctx) => {
    let child = ctx.children.get(msg.uploadId) as Ref<SessionMessage> | undefined;
    child ??= spawn(
      ctx.self,
      async (session: UploadSession, message: SessionMessage, childCtx) => {
        try {
          dispatch(message.sender, { ok: true, value: await runSessionCommand(session, message.command) });
        } catch (error) {
          dispatch(message.sender, { ok: false, error: toShoeboxError(error) });
        }
        // A completed or unknown session has nothing worth keeping. Kept
        // for the whole idle period, one actor per upload would make memory
        // grow with the upload rate.
        if (session.retirable) stop(childCtx.self);
        return session;
      },
      msg.uploadId,
      {
        shutdownAfter: SESSION_IDLE_MS,
        initialStateFunc: () => new UploadSession(msg.uploadId, sessionDeps),
        onCrash: logCrash('session') as never,
        // Commands that were queued behind the last one go back through the
        // router, which starts a fresh actor for them.
        afterStop: (_state: UploadSession, stopped: { mailbox: Array<{ message: SessionMessage }> }) => {
          for (const queued of stopped.mailbox) dispatch(sessions, { uploadId: msg.uploadId, ...queued.message });
        },
      },
    );
    dispatch(child, { command: msg.command, sender: msg.sender });
  },
  'sessions',
);

async function handle(command: WorkerRequest['command']): Promise<unknown> {
  switch (command.op) {
    case 'process':
      enqueueMedia(command.mediaId);
      return undefined;
    case 'metrics':
      return pipelineMetrics.registry.getMetricsAsJSON();
    case 'stats': {
      const stats: WorkerStats = { backlog: inFlight.size };
      return stats;
    }
    default: {
      const uploadId = command.uploadId;
      const reply = (await query(
        sessions,
        (sender: Ref<Reply>) => ({ uploadId, command, sender }),
        SESSION_COMMAND_TIMEOUT_MS,
      )) as Reply;
      if (!reply.ok) throw reply.error;
      return reply.value;
    }
  }
}

port.on('message', (request: WorkerRequest) => {
  handle(request.command)
    .then((value) => port.postMessage({ id: request.id, ok: true, value } satisfies WorkerReply))
    .catch((error: unknown) => {
      const shoeboxError = toShoeboxError(error);
      if (shoeboxError.code === 'INTERNAL') log.error({ event: 'request_failed', op: request.command.op, err: error }, shoeboxError.message);
      port.postMessage({ id: request.id, ok: false, error: shoeboxError.toJSON() } satisfies WorkerReply);
    });
});

await cassandra.connect();
log.info({ event: 'worker_started', worker: init.index }, 'worker started');
port.postMessage({ id: 0, ok: true, value: 'ready' } satisfies WorkerReply);
