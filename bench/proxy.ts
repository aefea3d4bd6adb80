// A fault-injecting TCP proxy on 127.0.0.1 for the flaky scenario. It
// forwards each client connection to one target and, per connection, can cap
// the bandwidth, add one-way delay, stall once, or reset the connection after
// a number of client-to-server bytes. What happens to connection k depends
// only on the seed and k (planConnection), so runs are repeatable.

import { connect, createServer, type Server, type Socket } from 'node:net';

import type { FaultOptions } from './cli.js';
import { assertLoopback } from './net.js';
import { Rng, deriveSeed } from './rng.js';

export interface ConnectionPlan {
  /** Reset both sockets once this many client-to-server bytes were forwarded; null for never. */
  resetAfterBytes: number | null;
  /** Stop forwarding for `stallMs` once this many client-to-server bytes were forwarded; null for never. */
  stallAfterBytes: number | null;
  stallMs: number;
}

/** Smallest byte position for a fault, so the HTTP/2 preface and the first request always get through. */
const MIN_FAULT_OFFSET = 4 * 1024;

/**
 * Decides the faults of connection `index`. A reset or stall lands at a
 * uniformly drawn point between 10% and 90% of `expectedBytes` (the bytes a
 * connection is expected to carry upstream), so it happens mid-transfer.
 */
export function planConnection(seed: number, index: number, faults: FaultOptions, expectedBytes: number): ConnectionPlan {
  const rng = new Rng(deriveSeed(seed, 'connection', index));
  const low = Math.max(MIN_FAULT_OFFSET, Math.floor(expectedBytes * 0.1));
  const high = Math.max(low, Math.floor(expectedBytes * 0.9));
  const reset = rng.chance(faults.resetRate);
  const resetAt = rng.int(low, high);
  const stall = rng.chance(faults.stallRate);
  const stallAt = rng.int(low, high);
  return { resetAfterBytes: reset ? resetAt : null, stallAfterBytes: stall ? stallAt : null, stallMs: faults.stallMs };
}

export interface ProxyStats {
  connections: number;
  resets: number;
  stalls: number;
  bytesUp: number;
  bytesDown: number;
}

/** Largest piece the shaper sends at once, so a bandwidth cap spreads evenly. */
const SLICE = 16 * 1024;
/** Bytes a direction may hold in its queue before the source is paused. */
const HIGH_WATER = 256 * 1024;

/**
 * One direction of a connection: forwards `source` to `target` after the
 * link's delay, no faster than `bandwidth` bytes per second.
 */
class Link {
  private readonly queue: Array<{ data: Buffer; due: number }> = [];
  private queued = 0;
  private freeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private endRequested = false;
  forwarded = 0;

  constructor(
    private readonly source: Socket,
    private readonly target: Socket,
    private readonly latencyMs: number,
    private readonly bandwidth: number,
    private readonly onBytes: (total: number) => void,
  ) {
    source.on('data', (data: Buffer) => this.accept(data));
    source.on('end', () => this.enqueueEnd());
  }

  /** Holds back everything not yet sent until `until` (performance.now() time). */
  stallUntil(until: number): void {
    this.freeAt = Math.max(this.freeAt, until);
    for (const item of this.queue) item.due = Math.max(item.due, until);
  }

  private accept(data: Buffer): void {
    for (let offset = 0; offset < data.length; offset += SLICE) {
      const slice = data.subarray(offset, Math.min(data.length, offset + SLICE));
      const now = performance.now();
      const start = Math.max(now, this.freeAt);
      this.freeAt = this.bandwidth > 0 ? start + (slice.length / this.bandwidth) * 1000 : start;
      this.queue.push({ data: slice, due: this.freeAt + this.latencyMs });
      this.queued += slice.length;
    }
    if (this.queued > HIGH_WATER) this.source.pause();
    this.schedule();
  }

  private enqueueEnd(): void {
    this.endRequested = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.waitingForDrain) return;
    const first = this.queue[0];
    if (!first) {
      if (this.endRequested && !this.target.destroyed) this.target.end();
      return;
    }
    this.timer = setTimeout(() => this.flush(), Math.max(0, first.due - performance.now()));
  }

  private flush(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      if (this.target.destroyed) return;
      const { data } = this.queue.shift()!;
      this.queued -= data.length;
      this.forwarded += data.length;
      const writable = this.target.write(data);
      this.onBytes(this.forwarded);
      if (!writable) {
        this.waitingForDrain = true;
        this.target.once('drain', () => {
          this.waitingForDrain = false;
          this.schedule();
        });
        break;
      }
    }
    if (this.queued < HIGH_WATER / 2 && this.source.isPaused()) this.source.resume();
    this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

export class FaultProxy {
  readonly stats: ProxyStats = { connections: 0, resets: 0, stalls: 0, bytesUp: 0, bytesDown: 0 };
  private server: Server | undefined;
  /** Teardown of every open connection; each adds the connection's bytes to `stats` once. */
  private readonly open = new Set<() => void>();

  constructor(
    private readonly target: { host: string; port: number },
    private readonly faults: FaultOptions,
    private readonly seed: number,
    private readonly expectedBytes: number,
  ) {
    assertLoopback('proxy target', `${target.host}:${target.port}`);
  }

  /** Starts listening on a free port of 127.0.0.1; returns `127.0.0.1:PORT`. */
  async listen(): Promise<string> {
    const server = createServer((client) => this.handle(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no TCP address');
    return `127.0.0.1:${address.port}`;
  }

  private handle(client: Socket): void {
    const index = this.stats.connections++;
    const plan = planConnection(this.seed, index, this.faults, this.expectedBytes);
    const upstream = connect(this.target.port, this.target.host);
    client.setNoDelay(true);
    upstream.setNoDelay(true);

    let stalled = false;
    let reset = false;
    const down = new Link(upstream, client, this.faults.latencyMs, this.faults.bandwidth, () => undefined);
    const up: Link = new Link(client, upstream, this.faults.latencyMs, this.faults.bandwidth, (total) => {
      if (!stalled && plan.stallAfterBytes !== null && total >= plan.stallAfterBytes) {
        stalled = true;
        this.stats.stalls++;
        const until = performance.now() + plan.stallMs;
        up.stallUntil(until);
        down.stallUntil(until);
      }
      if (!reset && plan.resetAfterBytes !== null && total >= plan.resetAfterBytes) {
        reset = true;
        this.stats.resets++;
        // An RST rather than a FIN, so the peer gets ECONNRESET, as after a dropped mobile link.
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
    });

    let closed = false;
    const teardown = (): void => {
      if (closed) return;
      closed = true;
      up.close();
      down.close();
      this.stats.bytesUp += up.forwarded;
      this.stats.bytesDown += down.forwarded;
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
      this.open.delete(teardown);
    };
    this.open.add(teardown);
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
  }

  /** Closes every connection and stops listening; `stats` is complete once this resolves. */
  async close(): Promise<void> {
    for (const teardown of [...this.open]) teardown();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
