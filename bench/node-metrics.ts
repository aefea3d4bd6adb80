// Reading an ingest node's /metrics: the processing backlog, and the node's
// own chunk acknowledgement histogram (shoebox_chunk_ack_seconds).

import { setTimeout as sleep } from 'node:timers/promises';

import { assertLoopback } from './net.js';
import { bucketDelta, bucketPercentile, histogramBuckets, metricValue, parseExposition, type Bucket, type Sample } from './prometheus.js';

export const BACKLOG_METRIC = 'shoebox_processing_backlog';
export const CHUNK_ACK_METRIC = 'shoebox_chunk_ack_seconds';

export async function scrapeMetrics(httpBase: string, headers: Record<string, string>): Promise<Sample[]> {
  assertLoopback('node HTTP base', httpBase);
  const response = await fetch(`${httpBase}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${httpBase}/metrics returned ${response.status}`);
  return parseExposition(await response.text());
}

export async function readBacklog(httpBase: string, headers: Record<string, string>): Promise<number> {
  const value = metricValue(await scrapeMetrics(httpBase, headers), BACKLOG_METRIC);
  if (value === undefined) throw new Error(`${httpBase}/metrics has no ${BACKLOG_METRIC}`);
  return value;
}

/**
 * Waits until the node has no media item left to process, so background
 * scanning of one phase does not use CPU in the next. Returns the wait in ms,
 * or throws after `timeoutMs`.
 */
export async function waitForIdle(httpBase: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const backlog = await readBacklog(httpBase, headers);
    if (backlog === 0) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`the node still had ${backlog} media items to process after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/**
 * Returns a function that resolves once the node's backlog is at most `max`,
 * so the load loop cannot run ahead of processing. Concurrent callers share
 * one scrape every 250 ms at most.
 */
export function backlogGate(httpBase: string, headers: Record<string, string>, max: number): () => Promise<void> {
  let last = { at: 0, backlog: 0 };
  let pending: Promise<number> | undefined;
  const current = async (): Promise<number> => {
    if (performance.now() - last.at < 250) return last.backlog;
    pending ??= readBacklog(httpBase, headers).finally(() => (pending = undefined));
    const backlog = await pending;
    last = { at: performance.now(), backlog };
    return backlog;
  };
  return async () => {
    while ((await current()) > max) await sleep(250);
  };
}

export async function chunkAckBuckets(httpBase: string, headers: Record<string, string>): Promise<Bucket[]> {
  return histogramBuckets(await scrapeMetrics(httpBase, headers), CHUNK_ACK_METRIC, { api: 'grpc' });
}

/** Node-side per-chunk acknowledgement time over a phase, estimated from histogram buckets. */
export interface ServerChunkAck {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Bucket bounds of the histogram, in ms: estimates are only as fine as these. */
  bucketBoundsMs: number[];
}

export function summarizeChunkAck(before: Bucket[], after: Bucket[]): ServerChunkAck {
  const delta = bucketDelta(before, after);
  const ms = (percentile: number): number => bucketPercentile(delta, percentile) * 1000;
  return {
    count: delta.at(-1)?.count ?? 0,
    p50Ms: ms(50),
    p90Ms: ms(90),
    p95Ms: ms(95),
    p99Ms: ms(99),
    bucketBoundsMs: delta.filter((b) => Number.isFinite(b.le)).map((b) => b.le * 1000),
  };
}

/**
 * Returns the V8 heap size of every thread of the node (the main thread's
 * nodejs_heap_size_total_bytes plus each worker's heap_total), or undefined
 * when the node does not report them.
 */
export async function readHeapTotal(httpBase: string, headers: Record<string, string>): Promise<number | undefined> {
  const samples = await scrapeMetrics(httpBase, headers);
  const main = metricValue(samples, 'nodejs_heap_size_total_bytes');
  const workers = metricValue(samples, 'shoebox_worker_memory_bytes', { kind: 'heap_total' });
  return main === undefined || workers === undefined ? undefined : main + workers;
}
