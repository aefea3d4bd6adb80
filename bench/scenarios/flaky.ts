// The flaky scenario: the resumable client of nodes/client/upload.ts uploads
// through the fault-injecting proxy (bandwidth cap, delay, resets, stalls).
// Each upload gets its own proxy, so faults are placed relative to that
// upload's size. An upload succeeds when its media item is ready and the
// canonical original (originals/<mediaId>) has the input's SHA-256.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { uploadFile } from '../../nodes/client/upload.js';
import { ObjectStore, createS3Client, objectKeys } from '../../storage/s3.js';
import { createBenchClient } from '../grpc-client.js';
import { runPhase } from '../load.js';
import { stackProcesses } from '../stack.js';
import type { FaultOptions } from '../cli.js';
import { FaultProxy, type ProxyStats } from '../proxy.js';
import { deriveSeed } from '../rng.js';
import { errorList, LATENCY_HEADER, latencyCells, latencyTable, markdownTable, phaseTable, stackCpuTable, type TargetCheck } from '../report.js';
import { LatencyRecorder, type LatencySummary } from '../stats.js';
import { percentileChart } from '../svg.js';
import { GrpcTransport } from '../transports/grpc.js';
import type { Transport, UploadInput, UploadResult } from '../transports/types.js';
import { formatBytes, formatMs } from '../units.js';
import type { ScenarioContext, ScenarioOutput } from './context.js';

interface Verification {
  input: string;
  mediaId: string;
  status: string;
  attempts: number;
  /** True when the canonical original's SHA-256 equals the input's. */
  identical: boolean;
  /** From the start until the media item was final, in ms. */
  latencyMs: number;
  /** Resets and stalls the proxy applied to this upload's connections. */
  resets: number;
  stalls: number;
}

/** Shoebox's resumable client through a fault proxy, as a transport, so the common load loop can drive it. */
class ResumableThroughProxy implements Transport {
  readonly name = 'grpc' as const;
  readonly description: string;
  readonly verifications: Verification[] = [];
  /** Connection statistics summed over the proxies of every upload. */
  readonly proxyStats: ProxyStats = { connections: 0, resets: 0, stalls: 0, bytesUp: 0, bytesDown: 0 };
  private readonly paths = new Map<string, string>();
  private sequence = 0;

  constructor(
    private readonly grpc: GrpcTransport,
    private readonly store: ObjectStore,
    private readonly canonicalBucket: string,
    private readonly inputDir: string,
    private readonly options: { chunkSize: number; maxAttempts: number; token: string; faults: FaultOptions; seed: number },
  ) {
    this.description = `nodes/client uploadFile (resumes from the server's offset, up to ${options.maxAttempts} streams) through the fault proxy, timed until the media item is final`;
  }

  get servers() {
    return this.grpc.servers;
  }

  private pathOf(input: UploadInput): string {
    let path = this.paths.get(input.name);
    if (!path) {
      path = join(this.inputDir, String(this.paths.size));
      writeFileSync(path, input.bytes);
      this.paths.set(input.name, path);
    }
    return path;
  }

  async upload(input: UploadInput): Promise<UploadResult> {
    // Uploads start in index order, so the sequence number, and with it the faults, repeat from run to run.
    const seed = deriveSeed(this.options.seed, 'upload', this.sequence++);
    const [host, port] = [this.grpc.node.grpcAddress.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(this.grpc.node.grpcAddress)![1])];
    const proxy = new FaultProxy({ host, port }, this.options.faults, seed, input.bytes.length);
    const client = createBenchClient(await proxy.listen(), this.options.token);
    const startedAt = performance.now();
    let retries = 0;
    try {
      const outcome = await uploadFile(client, this.pathOf(input), {
        chunkSize: this.options.chunkSize,
        maxAttempts: this.options.maxAttempts,
        contentType: input.contentType,
        onRetry: () => retries++,
      });
      const latencyMs = performance.now() - startedAt;
      let identical = false;
      if (outcome.status === 'ready') {
        const stored = await this.store.getObjectBytes(this.canonicalBucket, objectKeys.original(outcome.mediaId));
        identical = stored !== undefined && createHash('sha256').update(stored).digest('hex') === input.sha256;
      }
      await proxy.close();
      const { resets, stalls } = proxy.stats;
      this.verifications.push({ input: input.name, mediaId: outcome.mediaId, status: outcome.status, attempts: outcome.attempts, identical, latencyMs, resets, stalls });
      const ok = outcome.status === 'ready' && identical;
      const error = ok
        ? undefined
        : outcome.status !== 'ready'
          ? `status ${outcome.status}${outcome.errorCode ? ` ${outcome.errorCode}` : ''}: ${outcome.reason ?? ''}`
          : `stored original ${outcome.mediaId} differs from the input`;
      return { ok, startedAt, latencyMs, chunkAckMs: [], bytesSent: outcome.bytesSent, retries, id: outcome.mediaId, ...(error ? { error } : {}) };
    } catch (error) {
      await proxy.close();
      const { resets, stalls } = proxy.stats;
      this.verifications.push({ input: input.name, mediaId: '', status: 'error', attempts: retries + 1, identical: false, latencyMs: performance.now() - startedAt, resets, stalls });
      return { ok: false, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs: [], bytesSent: 0, retries, id: '', error: (error as Error).message };
    } finally {
      client.close();
      await proxy.close();
      for (const key of Object.keys(this.proxyStats) as Array<keyof ProxyStats>) this.proxyStats[key] += proxy.stats[key];
    }
  }

  async close(): Promise<void> {
    // The node and the proxy belong to the scenario, which closes them.
  }
}

function percentOf(part: number, whole: number): string {
  return whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : '-';
}

export async function runFlaky(context: ScenarioContext): Promise<ScenarioOutput> {
  const { options, config, inputs, progress } = context;
  const faults = options.faults;
  const node = await GrpcTransport.start(context.transportContext);
  const inputDir = mkdtempSync(join(tmpdir(), 'shoebox-bench-'));
  const s3 = createS3Client(config.s3, { maxSockets: 16 });
  let phase;
  let transport: ResumableThroughProxy;
  try {
    transport = new ResumableThroughProxy(node, new ObjectStore(s3, config.s3), config.s3.canonicalBucket, inputDir, {
      chunkSize: options.chunkSize,
      maxAttempts: options.maxAttempts,
      token: options.token,
      faults,
      seed: options.seed,
    });
    phase = await runPhase({
      transport,
      inputs,
      concurrency: options.concurrency[0]!,
      bounds: { count: options.count, durationMs: options.durationMs, uploadTimeoutMs: options.uploadTimeoutMs },
      progress,
      stack: stackProcesses(config),
    });
    progress.done();
  } finally {
    await node.close();
    s3.destroy();
    rmSync(inputDir, { recursive: true, force: true });
  }

  const verifications = transport.verifications;
  const stats = transport.proxyStats;
  const identical = verifications.filter((v) => v.identical).length;
  const inputBytes = verifications.reduce((sum, v) => sum + (inputs.find((input) => input.name === v.input)?.bytes.length ?? 0), 0);
  // The client counts bytes handed to the stream, some of which a reset discards unsent, so
  // the proxy's count of bytes that crossed the link is the on-the-wire figure.
  const bytesResent = Math.max(0, phase.bytesSent - inputBytes);
  const wireOverhead = Math.max(0, stats.bytesUp - inputBytes);
  const successRate = phase.attempted > 0 ? phase.succeeded / phase.attempted : 0;
  const targetRun = faults.resetRate === 0.1;
  const targets: TargetCheck[] = [
    {
      target: 'flaky with 10% resets: 100% success, byte-identical',
      measured: targetRun
        ? `${phase.succeeded}/${phase.attempted} ready, ${identical} byte-identical, ${stats.resets} resets of ${stats.connections} connections`
        : `this run used --reset-rate ${faults.resetRate}`,
      met: targetRun && phase.attempted > 0 ? phase.succeeded === phase.attempted && identical === phase.attempted && stats.resets > 0 : null,
    },
  ];
  const byFault = (select: (v: Verification) => boolean): LatencySummary => {
    const recorder = new LatencyRecorder();
    for (const v of verifications.filter(select)) recorder.record(v.latencyMs);
    return recorder.summary();
  };
  const latencyByFault = {
    clean: byFault((v) => v.resets === 0 && v.stalls === 0),
    stalled: byFault((v) => v.resets === 0 && v.stalls > 0),
    reset: byFault((v) => v.resets > 0),
  };
  const report = [
    '## Faults\n',
    `Per connection: bandwidth ${faults.bandwidth ? `${formatBytes(faults.bandwidth)}/s` : 'unlimited'} each way, ${formatMs(faults.latencyMs)} added each way, ` +
      `reset with probability ${faults.resetRate}, one ${formatMs(faults.stallMs)} stall with probability ${faults.stallRate}. ` +
      `Each upload has its own proxy, and resets and stalls land between 10% and 90% of the upload's length in client-to-server bytes. ` +
      `A resumed connection that carries fewer bytes than its planned position is not reset.`,
    '',
    markdownTable(['connections', 'resets', 'stalls', 'bytes client to server', 'bytes server to client'], [
      [stats.connections, stats.resets, stats.stalls, formatBytes(stats.bytesUp), formatBytes(stats.bytesDown)],
    ]),
    '',
    '## Result\n',
    markdownTable(['uploads', 'ready and byte-identical', 'success rate', 'retries (resumed streams)', 'bytes written again by the client', 'bytes on the link beyond the input'], [
      [
        phase.attempted,
        `${identical}`,
        `${(successRate * 100).toFixed(1)}%`,
        phase.retries,
        `${formatBytes(bytesResent)} (${percentOf(bytesResent, inputBytes)} of ${formatBytes(inputBytes)} input)`,
        `${formatBytes(wireOverhead)} (${percentOf(wireOverhead, inputBytes)})`,
      ],
    ]),
    '',
    'After a reset the client resumes from the server\'s offset, which advances only by whole parts, so the bytes of an unfinished part are written again. ' +
      '"Written again" counts bytes the client handed to its stream beyond each input\'s length; some of them never left the machine before the reset. ' +
      '"On the link" is what the proxy forwarded from client to server minus the input bytes, so it also contains HTTP/2 and protobuf framing.',
    '',
    phaseTable([phase]),
    '',
    stackCpuTable([phase]),
    '',
    '## Latency (start until the media item is final)\n',
    latencyTable([phase]),
    '',
    markdownTable(['uploads whose connections were', ...LATENCY_HEADER], [
      ['neither reset nor stalled', ...latencyCells(latencyByFault.clean)],
      ['stalled, not reset', ...latencyCells(latencyByFault.stalled)],
      ['reset at least once', ...latencyCells(latencyByFault.reset)],
    ]),
    '',
    '## Errors\n',
    errorList([phase]),
  ].join('\n');
  return {
    sections: { phase, latencyByFault, proxy: stats, successRate, identical, inputBytes, bytesWrittenAgain: bytesResent, bytesOnLinkBeyondInput: wireOverhead, verifications },
    targets,
    report,
    svgs: {
      'latency.svg': percentileChart('flaky: upload until final, through the fault proxy', [
        { label: `resumable client x${phase.concurrency}`, count: phase.latency.count, points: phase.latencyDistribution },
      ]),
    },
  };
}
