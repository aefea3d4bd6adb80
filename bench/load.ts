// One measured phase: N workers upload through one transport in a closed
// loop (each starts its next upload when the previous one ends), until
// --count uploads were started or --duration passed, whichever comes first.

import { setTimeout as sleep } from 'node:timers/promises';

import { ResourceMeter, resetPeakRss, sampleProcess, type ResourceUsage } from './procstat.js';
import type { Progress } from './progress.js';
import { LatencyRecorder, type LatencySummary, type PercentilePoint } from './stats.js';
import type { Transport, UploadInput, UploadResult } from './transports/index.js';
import type { ServerProcess } from './transports/types.js';
import { formatMs, megabytesPerSecond } from './units.js';

export interface Bounds {
  /** Uploads to start, at most. */
  count: number;
  /** Time after which no new upload starts, in ms. */
  durationMs: number;
  /** Time one upload may take before it counts as failed, in ms. */
  uploadTimeoutMs: number;
}

/** RSS of a server process after a number of finished uploads. */
export interface RssSample {
  uploads: number;
  label: string;
  rssBytes: number;
  /** V8 heap size of all the server's threads at the same time, where the server reports it. */
  heapTotalBytes?: number;
}

export interface PhaseResult {
  transport: string;
  description: string;
  concurrency: number;
  attempted: number;
  succeeded: number;
  failed: number;
  /** Up to 10 distinct error messages, with how often each occurred. */
  errors: Array<{ message: string; count: number }>;
  /** Payload bytes of successful uploads. */
  bytes: number;
  /** Bytes sent, including bytes sent again after retries. */
  bytesSent: number;
  retries: number;
  elapsedMs: number;
  megabytesPerSecond: number;
  uploadsPerSecond: number;
  latency: LatencySummary;
  latencyDistribution: PercentilePoint[];
  /** Client-observed per-chunk acknowledgements; null where the protocol has none. */
  chunkAck: LatencySummary | null;
  resources: ResourceUsage[];
  /** CPU time the bench process itself used in this phase (clients, hashing), in ms. */
  benchCpuMs: number;
  rssSamples: RssSample[];
  /** True when every server's peak RSS was reset at the start of the phase. */
  peakRssFromPhaseStart: boolean;
  /** CPU time of the shared stack's daemons over the phase, summed by daemon kind. */
  stackCpu: StackCpu[];
}

export interface StackCpu {
  label: string;
  cpuMs: number;
  cpuCores: number;
}

/** Sums the usage of daemons that share a label (the three OSDs, for example). */
export function sumByLabel(usages: ResourceUsage[]): StackCpu[] {
  const sums = new Map<string, StackCpu>();
  for (const usage of usages) {
    const sum = sums.get(usage.label) ?? { label: usage.label, cpuMs: 0, cpuCores: 0 };
    sum.cpuMs += usage.cpuMs;
    sum.cpuCores += usage.cpuCores;
    sums.set(usage.label, sum);
  }
  return [...sums.values()];
}

export interface PhaseOptions {
  transport: Transport;
  inputs: UploadInput[];
  concurrency: number;
  bounds: Bounds;
  progress: Progress;
  /** Take an RSS sample of each server after every this many finished uploads; 0 for none. */
  rssEvery?: number;
  /** Reads the servers' V8 heap size along with each RSS sample. */
  readHeapTotal?: () => Promise<number | undefined>;
  /** Shared stack daemons whose CPU time the phase records (never reset or signalled). */
  stack?: ServerProcess[];
  /** Awaited before each upload starts, for example to hold back while the node's backlog is high. */
  beforeUpload?: () => Promise<void>;
  /** Called with every finished upload, for scenario-specific checks. */
  onResult?: (result: UploadResult, input: UploadInput, index: number) => void | Promise<void>;
}

function timeout(ms: number, startedAt: number): Promise<UploadResult> {
  return sleep(ms, undefined, { ref: false }).then(() => ({
    ok: false,
    startedAt,
    latencyMs: ms,
    chunkAckMs: [],
    bytesSent: 0,
    retries: 0,
    id: '',
    error: `timed out after ${ms / 1000} s`,
  }));
}

export async function runPhase(options: PhaseOptions): Promise<PhaseResult> {
  const { transport, inputs, concurrency, bounds, progress } = options;
  const latency = new LatencyRecorder();
  const chunkAck = new LatencyRecorder();
  const errors = new Map<string, number>();
  const rssSamples: RssSample[] = [];
  let peakRssFromPhaseStart = true;
  for (const server of transport.servers) peakRssFromPhaseStart = resetPeakRss(server.pid) && peakRssFromPhaseStart;
  const meters = transport.servers.map((server) => new ResourceMeter(server.pid, server.label));
  const stackMeters = (options.stack ?? []).flatMap((daemon) => {
    try {
      return [new ResourceMeter(daemon.pid, daemon.label)];
    } catch {
      return [];
    }
  });
  const benchCpuBefore = process.cpuUsage();

  let next = 0;
  let succeeded = 0;
  let failed = 0;
  let bytes = 0;
  let bytesSent = 0;
  let retries = 0;
  const startedAt = performance.now();
  const deadline = startedAt + bounds.durationMs;
  const label = `${transport.name} x${concurrency}`;

  const worker = async (workerIndex: number): Promise<void> => {
    while (next < bounds.count && performance.now() < deadline) {
      await options.beforeUpload?.();
      if (next >= bounds.count || performance.now() >= deadline) break;
      const index = next++;
      const input = inputs[index % inputs.length]!;
      const uploadStarted = performance.now();
      const result = await Promise.race([transport.upload(input, workerIndex), timeout(bounds.uploadTimeoutMs, uploadStarted)]);
      bytesSent += result.bytesSent;
      retries += result.retries;
      for (const ms of result.chunkAckMs) chunkAck.record(ms);
      if (result.ok) {
        succeeded++;
        bytes += input.bytes.length;
        latency.record(result.latencyMs);
      } else {
        failed++;
        const message = result.error ?? 'failed without a message';
        if (errors.size < 10 || errors.has(message)) errors.set(message, (errors.get(message) ?? 0) + 1);
      }
      await options.onResult?.(result, input, index);
      const finished = succeeded + failed;
      if (options.rssEvery && finished % options.rssEvery === 0) {
        const heapTotalBytes = await options.readHeapTotal?.().catch(() => undefined);
        for (const server of transport.servers) {
          try {
            rssSamples.push({ uploads: finished, label: server.label, rssBytes: sampleProcess(server.pid).rssBytes, ...(heapTotalBytes === undefined ? {} : { heapTotalBytes }) });
          } catch {
            // The server exited; its failures show up in the upload results.
          }
        }
      }
      const elapsed = performance.now() - startedAt;
      progress.update(
        `${label}: ${finished}/${bounds.count} uploads, ${failed} failed, ${megabytesPerSecond(bytes, elapsed).toFixed(1)} MB/s, p50 ${formatMs(latency.percentileMs(50))}, ${(elapsed / 1000).toFixed(0)}/${bounds.durationMs / 1000} s`,
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  const elapsedMs = performance.now() - startedAt;
  const benchCpu = process.cpuUsage(benchCpuBefore);

  return {
    transport: transport.name,
    description: transport.description,
    concurrency,
    attempted: next,
    succeeded,
    failed,
    errors: [...errors].map(([message, count]) => ({ message, count })),
    bytes,
    bytesSent,
    retries,
    elapsedMs,
    megabytesPerSecond: megabytesPerSecond(bytes, elapsedMs),
    uploadsPerSecond: elapsedMs > 0 ? succeeded / (elapsedMs / 1000) : 0,
    latency: latency.summary(),
    latencyDistribution: latency.distribution(),
    chunkAck: chunkAck.count > 0 ? chunkAck.summary() : null,
    resources: meters.map((meter) => meter.usage()),
    benchCpuMs: (benchCpu.user + benchCpu.system) / 1000,
    rssSamples,
    peakRssFromPhaseStart,
    stackCpu: sumByLabel(stackMeters.map((meter) => meter.usage())),
  };
}
