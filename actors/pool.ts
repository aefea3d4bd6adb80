// The main thread's side of the worker pool: starts one worker thread per
// shard, routes every command to the worker that owns its upload id or media
// id, and restarts a worker that dies (its in-flight commands fail with
// INTERNAL; sessions resume from Cassandra, media from the pending queue).

import { Worker } from 'node:worker_threads';

import type { Logger } from 'pino';

import { InternalError, ShuttingDownError, fromSerialized } from '../nodes/common/errors.js';
import type { CommandResult, WorkerCommand, WorkerForward, WorkerInit, WorkerReply, WorkerRequest } from './protocol.js';

const WORKER_RESTART_DELAY_MS = 1_000;
/** Smaller buffers are copied: Node allocates those under 4 KiB from a shared 8 KiB pool, and 64 KiB leaves a wide margin. */
const MIN_MOVE_BYTES = 64 * 1024;
/** Bytes of an ArrayBuffer outside the data that may still be moved with it: gRPC framing and the other Chunk fields. */
const MAX_MOVE_SLACK_BYTES = 64;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface Shard {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, Pending>;
}

/** FNV-1a over the id's UTF-16 code units: stable, cheap, evenly spread for UUIDs. */
export function shardOf(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/**
 * Returns the ArrayBuffer behind `data` when `data` covers (nearly) all of it, so
 * postMessage can move it to the worker instead of copying it twice
 * (serialize, then deserialize). A buffer that other live views may share is
 * copied instead: anything below 64 KiB, anything with more than 64 other
 * bytes, and SharedArrayBuffers.
 */
export function movableBuffer(data: Uint8Array): ArrayBuffer | undefined {
  const buffer = data.buffer;
  if (!(buffer instanceof ArrayBuffer)) return undefined;
  if (data.byteLength < MIN_MOVE_BYTES || buffer.byteLength - data.byteLength > MAX_MOVE_SLACK_BYTES) return undefined;
  return buffer;
}

export class WorkerPool {
  private readonly shards: Shard[] = [];
  private nextId = 1;
  private stopping = false;

  constructor(
    private readonly size: number,
    private readonly configOverrides: Record<string, string>,
    private readonly log: Logger,
    private readonly nodeName: string,
  ) {}

  async start(): Promise<void> {
    for (let index = 0; index < this.size; index++) this.shards.push(this.spawn(index));
    await Promise.all(this.shards.map((shard) => shard.ready));
  }

  /**
   * Sends a command to the worker that owns `routingId` and waits for its
   * reply. A command's `data` may be moved to the worker (see movableBuffer):
   * the caller must not read it after this call.
   */
  async send<C extends WorkerCommand>(routingId: string, command: C): Promise<CommandResult<C>> {
    if (this.stopping) throw new ShuttingDownError(this.nodeName);
    const index = shardOf(routingId, this.size);
    await this.shards[index]!.ready;
    // Read the shard again: a restarted worker replaced it while we waited.
    const shard = this.shards[index]!;
    const id = this.nextId++;
    return new Promise<CommandResult<C>>((resolve, reject) => {
      shard.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const request: WorkerRequest = { id, command };
      const moved = 'data' in command ? movableBuffer(command.data) : undefined;
      shard.worker.postMessage(request, moved ? [moved] : []);
    });
  }

  /** Sends to every worker (for stats). */
  async broadcast<C extends WorkerCommand>(command: C): Promise<Array<CommandResult<C>>> {
    return Promise.all(
      this.shards.map(async (_, index) => {
        await this.shards[index]!.ready;
        const shard = this.shards[index]!;
        const id = this.nextId++;
        return new Promise<CommandResult<C>>((resolve, reject) => {
          shard.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
          shard.worker.postMessage({ id, command } satisfies WorkerRequest);
        });
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.shards.map((shard) => shard.worker.terminate()));
  }

  private spawn(index: number): Shard {
    const init: WorkerInit = { index, poolSize: this.size, configOverrides: this.configOverrides };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    const pending = new Map<number, Pending>();
    let markReady: () => void = () => undefined;
    let failStart: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    const shard: Shard = { worker, ready, pending };

    worker.on('message', (message: WorkerReply | WorkerForward) => {
      if ('forward' in message) {
        const command = message.forward;
        this.send(command.mediaId, command).catch((error: unknown) =>
          this.log.warn({ event: 'request_failed', op: command.op, mediaId: command.mediaId, err: error }, 'forwarding a command to its worker failed; the pending queue poll picks the item up'),
        );
        return;
      }
      const reply = message;
      if (reply.id === 0) {
        markReady();
        return;
      }
      const waiter = pending.get(reply.id);
      if (!waiter) return;
      pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(fromSerialized(reply.error));
    });
    worker.on('error', (error) => {
      this.log.error({ event: 'worker_exited', worker: index, err: error }, 'worker thread failed');
      failStart(error);
    });
    worker.on('exit', (code) => {
      for (const waiter of pending.values()) waiter.reject(new InternalError(`worker ${index} exited with code ${code}`));
      pending.clear();
      if (this.stopping) return;
      this.log.error({ event: 'worker_exited', worker: index, code }, `worker thread exited; restarting it in ${WORKER_RESTART_DELAY_MS} ms`);
      const replacement = new Promise<Shard>((resolve) => setTimeout(() => resolve(this.spawn(index)), WORKER_RESTART_DELAY_MS));
      // Commands sent meanwhile wait for the replacement to be ready.
      this.shards[index] = {
        worker,
        pending,
        ready: replacement.then((next) => {
          this.shards[index] = next;
          return next.ready;
        }),
      };
    });
    return shard;
  }
}
