// The ingest and peers scenarios: closed-loop uploads of the same inputs
// through each transport at each concurrency level, one phase at a time.
// ingest compares Shoebox gRPC with raw RGW across levels; peers adds the tus
// servers at one level. Throughput ratios compare each transport with raw
// RGW multipart and raw PutObject, the ceilings.

import { runPhase, type PhaseResult } from '../load.js';
import { collectRgwGarbage } from '../rgw-gc.js';
import { stackProcesses } from '../stack.js';
import { bearerHeaders } from '../token.js';
import { backlogGate, chunkAckBuckets, readHeapTotal, summarizeChunkAck, waitForIdle, type ServerChunkAck } from '../node-metrics.js';
import { errorList, latencyTable, markdownTable, phaseTable, stackCpuTable, type TargetCheck } from '../report.js';
import { lineChart, percentileChart } from '../svg.js';
import { GrpcTransport } from '../transports/grpc.js';
import { startTransport, type Transport } from '../transports/index.js';
import { formatBytes } from '../units.js';
import type { ScenarioContext, ScenarioOutput } from './context.js';

/** Time allowed for an ingest node to finish processing a phase's uploads before the next phase. */
const IDLE_TIMEOUT_MS = 300_000;

export interface Ratio {
  transport: string;
  concurrency: number;
  baseline: string;
  /** MB/s of the transport divided by MB/s of the baseline. */
  throughputRatio: number;
}

type MeasuredPhase = PhaseResult & { serverChunkAck?: ServerChunkAck };

async function measureTransport(context: ScenarioContext, transport: Transport): Promise<MeasuredPhase[]> {
  const { options, inputs, progress } = context;
  const phases: MeasuredPhase[] = [];
  const grpc = transport instanceof GrpcTransport ? transport : undefined;
  // Every Shoebox transport (gRPC, tus, REST, presigned) runs on an ingest node
  // that scans and processes in the background.
  const node = transport.node;
  const nodeHeaders = bearerHeaders(context.options.token);
  for (const concurrency of options.concurrency) {
    let before;
    if (node) {
      const waited = await waitForIdle(node.httpBase, nodeHeaders, IDLE_TIMEOUT_MS);
      if (waited > 1000) progress.log(`waited ${(waited / 1000).toFixed(1)} s for the node to finish processing earlier uploads`);
    }
    if (grpc) before = await chunkAckBuckets(grpc.node.httpBase, grpc.httpHeaders());
    const phase: MeasuredPhase = await runPhase({
      transport,
      inputs,
      concurrency,
      bounds: { count: options.count, durationMs: options.durationMs, uploadTimeoutMs: options.uploadTimeoutMs },
      progress,
      rssEvery: options.rssEvery,
      ...(node ? { readHeapTotal: () => readHeapTotal(node.httpBase, nodeHeaders) } : {}),
      stack: stackProcesses(context.config),
      ...(grpc && options.maxBacklog > 0 ? { beforeUpload: backlogGate(grpc.node.httpBase, grpc.httpHeaders(), options.maxBacklog) } : {}),
    });
    if (grpc && before) phase.serverChunkAck = summarizeChunkAck(before, await chunkAckBuckets(grpc.node.httpBase, grpc.httpHeaders()));
    progress.update(`${transport.name} x${concurrency}: ${phase.succeeded}/${phase.attempted} ok, ${phase.megabytesPerSecond.toFixed(1)} MB/s`, true);
    progress.done();
    phases.push(phase);
    // Free the phase's objects before the next phase, so the cluster does not fill up.
    if (node) await waitForIdle(node.httpBase, nodeHeaders, IDLE_TIMEOUT_MS).catch(() => undefined);
    await transport.deleteWritten?.();
    await collectRgwGarbage(context.config);
  }
  if (node) {
    // Let the node finish its queue, so no item of this run is left for the next node to pick up.
    await waitForIdle(node.httpBase, nodeHeaders, IDLE_TIMEOUT_MS).catch((error: unknown) => progress.log(`warning: ${(error as Error).message}`));
  }
  return phases;
}

/** Ratio of every phase's throughput to each other raw RGW phase at the same concurrency. */
export function computeRatios(phases: PhaseResult[]): Ratio[] {
  const ratios: Ratio[] = [];
  for (const phase of phases) {
    const baselines = phases.filter((p) => (p.transport === 'raw-multipart' || p.transport === 'raw-put') && p.concurrency === phase.concurrency && p !== phase);
    for (const baseline of baselines) {
      if (baseline.megabytesPerSecond <= 0) continue;
      ratios.push({
        transport: phase.transport,
        concurrency: phase.concurrency,
        baseline: baseline.transport,
        throughputRatio: phase.megabytesPerSecond / baseline.megabytesPerSecond,
      });
    }
  }
  return ratios;
}

export interface RssGrowth {
  fromUploads: number;
  toUploads: number;
  fromBytes: number;
  toBytes: number;
  change: number;
  /** The node's V8 heap size at the same two samples, when it reported it. */
  heap?: { fromBytes: number; toBytes: number };
}

/** RSS growth of the ingest node from the first sample at or after `from` uploads to the last sample. */
export function rssGrowth(phases: PhaseResult[], from: number): RssGrowth | null {
  for (const phase of phases) {
    if (phase.transport !== 'grpc' || phase.rssSamples.length === 0) continue;
    const first = phase.rssSamples.find((s) => s.uploads >= from);
    const last = phase.rssSamples.at(-1)!;
    if (!first || first === last) continue;
    const heap = first.heapTotalBytes !== undefined && last.heapTotalBytes !== undefined ? { fromBytes: first.heapTotalBytes, toBytes: last.heapTotalBytes } : undefined;
    return {
      fromUploads: first.uploads,
      toUploads: last.uploads,
      fromBytes: first.rssBytes,
      toBytes: last.rssBytes,
      change: last.rssBytes / first.rssBytes - 1,
      ...(heap ? { heap } : {}),
    };
  }
  return null;
}

function targetsFor(context: ScenarioContext, phases: PhaseResult[], ratios: Ratio[]): TargetCheck[] {
  const targets: TargetCheck[] = [];
  const at16 = ratios.find((r) => r.transport === 'grpc' && r.concurrency === 16 && r.baseline === 'raw-multipart');
  targets.push({
    target: 'gRPC ingest at 16 concurrent >= 0.9x raw RGW multipart throughput',
    measured: at16 ? `${at16.throughputRatio.toFixed(2)}x` : 'grpc and raw-multipart were not both run at concurrency 16',
    met: at16 ? at16.throughputRatio >= 0.9 : null,
  });
  const tus = ratios.find((r) => r.transport === 'shoebox-tus' && r.concurrency === 16 && r.baseline === 'raw-multipart');
  if (tus) {
    const peers = ratios.filter((r) => (r.transport === 'tus-node' || r.transport === 'tusd') && r.concurrency === 16 && r.baseline === 'raw-multipart');
    const ahead = peers.length === 2 && peers.every((peer) => tus.throughputRatio > peer.throughputRatio);
    targets.push({
      target: 'Shoebox tus at 16 concurrent >= 0.85x raw RGW multipart, and ahead of tus-node and tusd',
      measured: `${tus.throughputRatio.toFixed(2)}x; ${peers.map((p) => `${p.transport} ${p.throughputRatio.toFixed(2)}x`).join(', ') || 'no tus peers run'}`,
      met: peers.length === 2 ? tus.throughputRatio >= 0.85 && ahead : null,
    });
  }
  if (context.options.rssEvery > 0) {
    const growth = rssGrowth(phases, 1000);
    const reached = growth && growth.toUploads >= 10_000;
    targets.push({
      target: 'ingest node RSS flat within 10% from the 1,000th to the 10,000th upload',
      measured: growth
        ? `${formatBytes(growth.fromBytes)} at upload ${growth.fromUploads}, ${formatBytes(growth.toBytes)} at upload ${growth.toUploads} (${(growth.change * 100).toFixed(1)}%)` +
          (growth.heap ? `; V8 heaps of all threads ${formatBytes(growth.heap.fromBytes)} and ${formatBytes(growth.heap.toBytes)}` : '')
        : 'fewer than 1,000 gRPC uploads with RSS samples',
      met: growth && reached ? Math.abs(growth.change) <= 0.1 : null,
    });
  }
  return targets;
}

function serverChunkAckSection(phases: MeasuredPhase[]): string[] {
  const measured = phases.filter((p) => p.serverChunkAck);
  if (measured.length === 0) return [];
  const rows = measured.map((p) => {
    const ack = p.serverChunkAck!;
    return [p.concurrency, ack.count, `${ack.p50Ms.toFixed(1)} ms`, `${ack.p90Ms.toFixed(1)} ms`, `${ack.p95Ms.toFixed(1)} ms`, `${ack.p99Ms.toFixed(1)} ms`];
  });
  const bounds = measured[0]!.serverChunkAck!.bucketBoundsMs.join(', ');
  return [
    '## Node-side chunk acknowledgement (gRPC)\n',
    markdownTable(['concurrency', 'chunks', 'P50', 'P90', 'P95', 'P99'], rows),
    '',
    `These come from shoebox_chunk_ack_seconds, the time from a chunk arriving to its acknowledgement inside the node. ` +
      `They are interpolated inside the histogram buckets (${bounds} ms), so they are estimates.\n`,
  ];
}

function report(phases: MeasuredPhase[], ratios: Ratio[]): string {
  const parts: string[] = ['## Throughput\n', phaseTable(phases), ''];
  parts.push(
    'Server CPU is the user plus system time of the server process over the phase, and "cores busy" is that time divided by the phase\'s wall time. ' +
      'Shoebox also scans every upload with clamd in the background while the phase runs.\n',
  );
  parts.push('## Stack CPU\n', stackCpuTable(phases), '');
  parts.push(
    'CPU time of the shared daemons over each phase (the OSDs summed), read from /proc. ' +
      'Anything else using the stack at the same time is included, and clamd\'s figure is Shoebox\'s background scanning.\n',
  );

  if (ratios.length > 0) {
    const rows = ratios.map((r) => [r.transport, r.concurrency, r.baseline, `${r.throughputRatio.toFixed(2)}x`]);
    parts.push('## Ratios against raw RGW\n', markdownTable(['transport', 'concurrency', 'baseline', 'throughput ratio'], rows), '');
  }

  parts.push('## Latency\n', latencyTable(phases), '');
  parts.push(
    '"upload" runs from the first byte sent until the server confirmed the whole upload. ' +
      '"chunk ack" is the round trip of one acknowledged request (an S3 UploadPart or PutObject, a tus PATCH). ' +
      'gRPC client streaming has no per-chunk acknowledgement, so its chunk figures come from the node\'s own histogram.\n',
  );
  parts.push(...serverChunkAckSection(phases));

  parts.push('## Errors\n', errorList(phases), '');
  const descriptions = [...new Map(phases.map((p) => [p.transport, p.description]))].map(([name, text]) => `- ${name}: ${text}`);
  parts.push('## Transports\n', ...descriptions, '');
  if (phases.some((p) => !p.peakRssFromPhaseStart)) parts.push('Peak RSS could not be reset per phase here, so it counts from each server\'s start.\n');
  return parts.join('\n');
}

export async function runThroughput(context: ScenarioContext): Promise<ScenarioOutput> {
  const { options, progress } = context;
  const phases: MeasuredPhase[] = [];
  for (const name of options.transports) {
    progress.log(`starting transport ${name}`);
    const transport = await startTransport(name, context.transportContext, (line) => progress.log(line));
    try {
      phases.push(...(await measureTransport(context, transport)));
    } finally {
      await transport.close();
      await collectRgwGarbage(context.config);
    }
  }

  const ratios = computeRatios(phases);
  const svgs: Record<string, string> = {
    'latency.svg': percentileChart(
      `${options.scenario}: upload latency by transport and concurrency`,
      phases.map((p) => ({ label: `${p.transport} x${p.concurrency}`, count: p.latency.count, points: p.latencyDistribution })),
    ),
  };
  const rssSeries = phases.filter((p) => p.rssSamples.length > 0);
  if (rssSeries.length > 0) {
    svgs['rss.svg'] = lineChart({
      title: 'server RSS and V8 heap size by finished uploads',
      xLabel: 'uploads finished',
      yLabel: 'MiB',
      series: rssSeries.flatMap((p) => {
        const rss = { label: `${p.transport} x${p.concurrency} RSS`, points: p.rssSamples.map((s) => ({ x: s.uploads, y: s.rssBytes / 1024 / 1024 })) };
        const heapSamples = p.rssSamples.filter((s) => s.heapTotalBytes !== undefined);
        if (heapSamples.length === 0) return [rss];
        return [rss, { label: `${p.transport} x${p.concurrency} V8 heaps, all threads`, points: heapSamples.map((s) => ({ x: s.uploads, y: s.heapTotalBytes! / 1024 / 1024 })) }];
      }),
    });
  }
  return {
    sections: { phases, ratios },
    targets: targetsFor(context, phases, ratios),
    report: report(phases, ratios),
    svgs,
  };
}
