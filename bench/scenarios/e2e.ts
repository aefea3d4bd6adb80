// The e2e scenario: uploads start at a steady rate whether or not earlier
// ones have finished (open loop), and each is timed from its first byte sent
// until WatchMedia reports it ready with every variant. The node's processing
// backlog is sampled from /metrics throughout.

import { setTimeout as sleep } from 'node:timers/promises';

import { MediaStatus } from '../../proto/gen/shoebox/v1/upload.js';
import { describeGrpcError, streamUpload, watchUntilFinal } from '../grpc-client.js';
import { sumByLabel, type StackCpu } from '../load.js';
import { readBacklog, waitForIdle } from '../node-metrics.js';
import { ResourceMeter, resetPeakRss, type ResourceUsage } from '../procstat.js';
import { stackProcesses } from '../stack.js';
import { markdownTable, latencyCells, LATENCY_HEADER, type TargetCheck } from '../report.js';
import { Rng, deriveSeed } from '../rng.js';
import { LatencyRecorder, type LatencySummary, type PercentilePoint } from '../stats.js';
import { lineChart, percentileChart } from '../svg.js';
import { GrpcTransport } from '../transports/grpc.js';
import { formatBytes, formatMs } from '../units.js';
import type { ScenarioContext, ScenarioOutput } from './context.js';

/** Connections the uploads are spread over, round robin. */
const CONNECTIONS = 8;

/** Start offsets of the uploads in ms from the run start: evenly spaced, or Poisson arrivals from the seed. */
export function arrivalOffsets(rate: number, durationMs: number, kind: 'uniform' | 'poisson', seed: number, maxCount: number): number[] {
  const offsets: number[] = [];
  const meanGapMs = 1000 / rate;
  const rng = new Rng(deriveSeed(seed, 'arrivals', 0));
  for (let at = 0; at < durationMs && offsets.length < maxCount; ) {
    offsets.push(at);
    at += kind === 'uniform' ? meanGapMs : rng.exponential(meanGapMs);
  }
  return offsets;
}

interface BacklogSample {
  /** Seconds since the run start. */
  t: number;
  backlog: number | null;
  /** Uploads the bench started that have no final status yet. */
  inFlight: number;
}

interface Item {
  ok: boolean;
  /** From the first byte sent until the item was reported ready, in ms. */
  readyMs?: number;
  /** From the first byte sent until the UploadResponse, in ms. */
  uploadMs?: number;
  /** How late the upload started against its schedule, in ms. */
  lagMs: number;
  status: string;
  error?: string;
}

/** Maximum wait for items left by earlier runs before the clock starts. */
const IDLE_TIMEOUT_MS = 600_000;

export async function runE2e(context: ScenarioContext): Promise<ScenarioOutput> {
  const { options, config, inputs, progress } = context;
  const transport = await GrpcTransport.start(context.transportContext);
  const expectedVariants = config.image.variantSizes.length + 1;
  const offsets = arrivalOffsets(options.rate, options.durationMs, options.arrivals, options.seed, options.count);
  const items: Item[] = [];
  const samples: BacklogSample[] = [];
  const headers = transport.httpHeaders();
  let resources: ResourceUsage[] = [];
  let stackCpu: StackCpu[] = [];
  let finished = 0;
  let inFlight = 0;
  const firstByteToReady = new LatencyRecorder();
  const upload = new LatencyRecorder();
  const processing = new LatencyRecorder();

  try {
    // A new node first claims items that earlier runs left unprocessed (an
    // ingest-only run leaves all of its items), so the clock starts once the
    // node has caught up.
    const waited = await waitForIdle(transport.node.httpBase, headers, IDLE_TIMEOUT_MS);
    if (waited > 1000) progress.log(`waited ${(waited / 1000).toFixed(1)} s for the node to process items left by earlier runs`);
    for (const server of transport.servers) resetPeakRss(server.pid);
    const meters = [...transport.servers, ...stackProcesses(config)].map((server) => new ResourceMeter(server.pid, server.label));
    const runStart = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = (performance.now() - runStart) / 1000;
        const backlog = await readBacklog(transport.node.httpBase, headers).catch(() => null);
        samples.push({ t, backlog, inFlight });
        await sleep(options.sampleIntervalMs);
      }
    })();

    const uploadOne = async (index: number, scheduledAt: number): Promise<void> => {
      const input = inputs[index % inputs.length]!;
      const client = transport.client(index % CONNECTIONS);
      const lagMs = performance.now() - scheduledAt;
      inFlight++;
      let watch: Promise<{ status: MediaStatus; variants: number; at: number }> | undefined;
      try {
        const outcome = await streamUpload(client, input, options.chunkSize, (_uploadId, mediaId) => {
          // Watch from the moment the id is known, so no status change is missed.
          watch = watchUntilFinal(client, mediaId).then(({ media, at }) => ({ status: media.status, variants: media.variants.length, at }));
          watch.catch(() => undefined);
        });
        if (!watch) throw new Error('the server sent no media id');
        const final = await Promise.race([
          watch,
          sleep(options.readyTimeoutMs, undefined, { ref: false }).then(() => {
            throw new Error(`not final within ${options.readyTimeoutMs / 1000} s`);
          }),
        ]);
        const uploadMs = outcome.endedAt - outcome.startedAt;
        const readyMs = final.at - outcome.startedAt;
        const ready = final.status === MediaStatus.MEDIA_STATUS_READY && final.variants >= expectedVariants;
        if (ready) {
          firstByteToReady.record(readyMs);
          upload.record(uploadMs);
          processing.record(Math.max(0, final.at - outcome.endedAt));
        }
        items.push({
          ok: ready,
          readyMs,
          uploadMs,
          lagMs,
          status: MediaStatus[final.status] ?? String(final.status),
          ...(ready ? {} : { error: `final status ${MediaStatus[final.status]} with ${final.variants} of ${expectedVariants} variants` }),
        });
      } catch (error) {
        items.push({ ok: false, lagMs, status: 'error', error: describeGrpcError(error) });
      } finally {
        inFlight--;
        finished++;
        progress.update(
          `e2e ${options.rate}/s: ${finished}/${offsets.length} finished, ${inFlight} in flight, backlog ${samples.at(-1)?.backlog ?? '?'}, P95 ready ${formatMs(firstByteToReady.percentileMs(95))}`,
        );
      }
    };

    const running: Array<Promise<void>> = [];
    for (const [index, offset] of offsets.entries()) {
      const scheduledAt = runStart + offset;
      const wait = scheduledAt - performance.now();
      if (wait > 0) await sleep(wait);
      running.push(uploadOne(index, scheduledAt));
    }
    await Promise.all(running);
    sampling = false;
    await sampler;
    resources = meters.map((meter) => meter.usage());
    stackCpu = sumByLabel(resources.slice(transport.servers.length));
    resources = resources.slice(0, transport.servers.length);
    progress.done();
  } finally {
    await transport.close();
  }

  const succeeded = items.filter((item) => item.ok).length;
  const lag = items.map((item) => item.lagMs);
  const errors = new Map<string, number>();
  for (const item of items) if (!item.ok) errors.set(item.error ?? item.status, (errors.get(item.error ?? item.status) ?? 0) + 1);
  const summary: Record<string, LatencySummary> = {
    firstByteToReady: firstByteToReady.summary(),
    upload: upload.summary(),
    receivedToReady: processing.summary(),
  };
  const distribution: Record<string, PercentilePoint[]> = {
    firstByteToReady: firstByteToReady.distribution(),
    upload: upload.distribution(),
    receivedToReady: processing.distribution(),
  };
  const p95 = summary['firstByteToReady']!.p95Ms;
  const isTargetRun =
    options.rate === 2 && options.inputs.every((spec) => (spec.kind === 'corpus-dimensions' || spec.kind === 'jpeg') && spec.width === 2560 && spec.height === 1600);
  const targets: TargetCheck[] = [
    {
      target: 'e2e 2560x1600 JPEGs at 2 uploads/s: P95 first byte to ready < 2 s',
      measured: isTargetRun ? `P95 ${formatMs(p95)} over ${succeeded} uploads (${items.length - succeeded} not ready)` : 'this run used another rate or other inputs',
      met: isTargetRun && succeeded > 0 ? p95 < 2000 && succeeded === items.length : null,
    },
  ];

  const reportParts = [
    '## Result\n',
    `${offsets.length} uploads scheduled at ${options.rate}/s (${options.arrivals}) over ${options.durationMs / 1000} s; ${succeeded} ready with all ${expectedVariants} variants, ${items.length - succeeded} not.`,
    `Start lag against the schedule: max ${formatMs(Math.max(0, ...lag))}.`,
    '',
    markdownTable(['what', ...LATENCY_HEADER], [
      ['first byte to ready', ...latencyCells(summary['firstByteToReady']!)],
      ['first byte to received (upload)', ...latencyCells(summary['upload']!)],
      ['received to ready (processing, as seen by WatchMedia)', ...latencyCells(summary['receivedToReady']!)],
    ]),
    '',
    'Readiness comes from WatchMedia, which polls Cassandra every 150 ms on the node, so "ready" can be reported up to 150 ms after it happened.',
    '',
    '## Node resources\n',
    markdownTable(['process', 'CPU (s)', 'cores busy', 'peak RSS'], [
      ...resources.map((r) => [r.label, (r.cpuMs / 1000).toFixed(1), r.cpuCores.toFixed(2), formatBytes(r.peakRssBytes)]),
      ...stackCpu.map((s) => [`${s.label} (shared stack)`, (s.cpuMs / 1000).toFixed(1), s.cpuCores.toFixed(2), '-']),
    ]),
    '',
    '## Backlog\n',
    `Max processing backlog (shoebox_processing_backlog): ${Math.max(0, ...samples.map((s) => s.backlog ?? 0))}; max uploads in flight: ${Math.max(0, ...samples.map((s) => s.inFlight))}. See backlog.svg.`,
    '',
    '## Errors\n',
    errors.size ? [...errors].map(([message, count]) => `- ${count} x ${message}`).join('\n') : 'none',
  ];
  return {
    sections: { uploads: { scheduled: offsets.length, succeeded, failed: items.length - succeeded }, latency: summary, distribution, backlog: samples, resources, stackCpu, maxStartLagMs: Math.max(0, ...lag), errors: [...errors].map(([message, count]) => ({ message, count })) },
    targets,
    report: reportParts.join('\n'),
    svgs: {
      'latency.svg': percentileChart(`e2e at ${options.rate} uploads/s: latency percentiles`, [
        { label: 'first byte to ready', count: summary['firstByteToReady']!.count, points: distribution['firstByteToReady']! },
        { label: 'first byte to received', count: summary['upload']!.count, points: distribution['upload']! },
        { label: 'received to ready', count: summary['receivedToReady']!.count, points: distribution['receivedToReady']! },
      ]),
      'backlog.svg': lineChart({
        title: 'processing backlog over time',
        xLabel: 'seconds since the first upload',
        yLabel: 'media items',
        series: [
          { label: 'shoebox_processing_backlog', points: samples.filter((s) => s.backlog !== null).map((s) => ({ x: s.t, y: s.backlog! })) },
          { label: 'uploads in flight (bench)', points: samples.map((s) => ({ x: s.t, y: s.inFlight })) },
        ],
      }),
    },
  };
}
