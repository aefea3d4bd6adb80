import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseCli } from '../../bench/cli.js';
import type { PhaseResult } from '../../bench/load.js';
import { assertLoopback, isLoopbackHost } from '../../bench/net.js';
import { latencyCells, markdownTable, targetTable } from '../../bench/report.js';
import { computeRatios, rssGrowth } from '../../bench/scenarios/throughput.js';
import { LatencyRecorder } from '../../bench/stats.js';
import { lineChart, niceCeiling, percentileChart } from '../../bench/svg.js';
import { formatBytes, formatMs, megabytesPerSecond, parseDurationMs, parseSize } from '../../bench/units.js';

describe('units', () => {
  it('parses sizes with binary and decimal units', () => {
    assert.equal(parseSize('16MiB'), 16 * 1024 * 1024);
    assert.equal(parseSize('512 KiB'), 512 * 1024);
    assert.equal(parseSize('4m'), 4 * 1024 * 1024);
    assert.equal(parseSize('1MB'), 1_000_000);
    assert.equal(parseSize('1000'), 1000);
    assert.equal(parseSize('1.5KiB'), 1536);
  });

  it('rejects bad sizes', () => {
    assert.throws(() => parseSize('16 parsecs'), /invalid size "16 parsecs"/);
    assert.throws(() => parseSize('0'), /must be greater than zero/);
  });

  it('parses durations', () => {
    assert.equal(parseDurationMs('30s'), 30_000);
    assert.equal(parseDurationMs('2m'), 120_000);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('5'), 5000);
    assert.throws(() => parseDurationMs('soon'), /invalid duration "soon"/);
  });

  it('formats bytes, times and throughput', () => {
    assert.equal(formatBytes(16 * 1024 * 1024), '16 MiB');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(100), '100 B');
    assert.equal(formatMs(0.5), '500 µs');
    assert.equal(formatMs(12.345), '12.3 ms');
    assert.equal(formatMs(1534), '1.53 s');
    assert.equal(formatMs(999.7), '1.00 s');
    assert.equal(formatMs(0.9997), '1.00 ms');
    assert.equal(megabytesPerSecond(50_000_000, 1000), 50);
    assert.equal(megabytesPerSecond(1, 0), 0);
  });
});

describe('markdown', () => {
  it('escapes pipes and newlines in cells', () => {
    const table = markdownTable(['a', 'b'], [['x|y', 'line\nbreak']]);
    assert.equal(table, '| a | b |\n| --- | --- |\n| x\\|y | line break |');
  });

  it('formats latency cells, with dashes when empty', () => {
    const recorder = new LatencyRecorder();
    for (const ms of [10, 20, 30]) recorder.record(ms);
    const cells = latencyCells(recorder.summary());
    assert.equal(cells[0], '3');
    assert.equal(cells[1], '20.0 ms');
    assert.equal(cells[6], '30.0 ms');
    assert.deepEqual(latencyCells(null), ['0', '-', '-', '-', '-', '-', '-']);
  });

  it('marks targets met, missed or not measured', () => {
    const table = targetTable([
      { target: 'a', measured: '1', met: true },
      { target: 'b', measured: '2', met: false },
      { target: 'c', measured: '3', met: null },
    ]);
    assert.match(table, /\| a \| 1 \| met \|/);
    assert.match(table, /\| b \| 2 \| missed \|/);
    assert.match(table, /\| c \| 3 \| not measured \|/);
  });
});

function phase(transport: string, concurrency: number, megabytesPerSecond: number, rss: Array<[number, number]> = []): PhaseResult {
  return {
    transport,
    description: '',
    concurrency,
    attempted: 1,
    succeeded: 1,
    failed: 0,
    errors: [],
    bytes: 1,
    bytesSent: 1,
    retries: 0,
    elapsedMs: 1,
    megabytesPerSecond,
    uploadsPerSecond: 1,
    latency: new LatencyRecorder().summary(),
    latencyDistribution: [],
    chunkAck: null,
    resources: [],
    benchCpuMs: 0,
    rssSamples: rss.map(([uploads, rssBytes]) => ({ uploads, rssBytes, label: 'node' })),
    peakRssFromPhaseStart: true,
    stackCpu: [],
  };
}

describe('computeRatios', () => {
  it('divides by each raw baseline at the same concurrency', () => {
    const ratios = computeRatios([phase('raw-multipart', 16, 100), phase('raw-put', 16, 125), phase('grpc', 16, 90), phase('grpc', 4, 50)]);
    const grpc16 = ratios.filter((r) => r.transport === 'grpc' && r.concurrency === 16);
    assert.deepEqual(grpc16.map((r) => [r.baseline, r.throughputRatio]), [
      ['raw-multipart', 0.9],
      ['raw-put', 0.72],
    ]);
    assert.ok(!ratios.some((r) => r.concurrency === 4), 'no ratio without a baseline at that level');
    assert.ok(!ratios.some((r) => r.transport === r.baseline), 'no phase is compared with itself');
  });
});

describe('rssGrowth', () => {
  it('compares the first sample from 1,000 uploads with the last', () => {
    const growth = rssGrowth([phase('grpc', 16, 1, [[500, 90], [1000, 100], [5000, 104], [10_000, 108]])], 1000);
    assert.deepEqual(growth && { from: growth.fromUploads, to: growth.toUploads }, { from: 1000, to: 10_000 });
    assert.ok(Math.abs(growth!.change - 0.08) < 1e-9);
  });

  it('carries the heap size of the same samples', () => {
    const base = phase('grpc', 16, 1, [[1000, 100], [10_000, 108]]);
    base.rssSamples[0]!.heapTotalBytes = 40;
    base.rssSamples[1]!.heapTotalBytes = 44;
    assert.deepEqual(rssGrowth([base], 1000)?.heap, { fromBytes: 40, toBytes: 44 });
  });

  it('leaves the heap out when a sample lacks it', () => {
    const base = phase('grpc', 16, 1, [[1000, 100], [10_000, 108]]);
    base.rssSamples[0]!.heapTotalBytes = 40;
    assert.equal(rssGrowth([base], 1000)?.heap, undefined);
  });

  it('returns null without enough samples', () => {
    assert.equal(rssGrowth([phase('grpc', 16, 1, [[500, 90]])], 1000), null);
    assert.equal(rssGrowth([phase('raw-put', 16, 1, [[1000, 90], [2000, 95]])], 1000), null);
  });
});

describe('svg', () => {
  it('rounds axis maxima to 1-2-5 steps', () => {
    assert.equal(niceCeiling(0.7), 1);
    assert.equal(niceCeiling(130), 200);
    assert.equal(niceCeiling(4100), 5000);
    assert.equal(niceCeiling(0), 1);
  });

  it('draws one polyline per series and escapes labels', () => {
    const svg = lineChart({
      title: 'a < b',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        { label: 'one & two', points: [{ x: 0, y: 1 }, { x: 1, y: 2 }] },
        { label: 'three', points: [{ x: 0, y: 3 }] },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline /g)?.length, 2);
    assert.match(svg, /a &lt; b/);
    assert.match(svg, /one &amp; two/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
  });

  it('plots percentiles with tail ticks up to the data', () => {
    const recorder = new LatencyRecorder();
    for (let i = 1; i <= 1000; i++) recorder.record(i);
    const svg = percentileChart('latency', [{ label: 'grpc x16', count: recorder.count, points: recorder.distribution() }]);
    assert.match(svg, />99.9%</);
    assert.doesNotMatch(svg, />99.999%</);
    assert.doesNotMatch(svg, /NaN|Infinity/);
  });

  it('says "no data" for empty series', () => {
    assert.match(lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }), /no data/);
  });
});

describe('parseCli', () => {
  const now = new Date('2026-01-02T03:04:05.678Z');

  it('applies scenario defaults', () => {
    const options = parseCli(['ingest'], now);
    assert.notEqual(options, 'help');
    if (options === 'help') return;
    assert.deepEqual(options.concurrency, [1, 4, 16, 64]);
    assert.deepEqual(options.transports, ['grpc', 'raw-multipart']);
    assert.equal(options.chunkSize, 1024 * 1024);
    assert.equal(options.outDir, 'bench/results/20260102T030405Z-ingest');
    assert.equal(options.inputs[0]?.text, 'random:16MiB');
  });

  it('reads scenario options', () => {
    const options = parseCli(
      ['flaky', '--reset-rate', '0.2', '--bandwidth', '256KiB', '--latency', '80ms', '--count', '5', '--input', 'corpus', '--input', 'random:1MiB', '--node-env', 'SHOEBOX_WORKERS=1'],
      now,
    );
    if (options === 'help') throw new Error('unexpected help');
    assert.equal(options.faults.resetRate, 0.2);
    assert.equal(options.faults.bandwidth, 256 * 1024);
    assert.equal(options.faults.latencyMs, 80);
    assert.equal(options.count, 5);
    assert.deepEqual(options.inputs.map((spec) => spec.kind), ['corpus', 'random']);
    assert.deepEqual(options.nodeEnv, { SHOEBOX_WORKERS: '1' });
  });

  it('returns help', () => {
    assert.equal(parseCli(['--help'], now), 'help');
  });

  it('rejects bad input with the option name', () => {
    assert.throws(() => parseCli([], now), /expected exactly one scenario/);
    assert.throws(() => parseCli(['soak'], now), /unknown scenario "soak"/);
    assert.throws(() => parseCli(['ingest', '--transports', 'grpc,ftp'], now), /unknown transport "ftp"/);
    assert.throws(() => parseCli(['ingest', '--concurrency', '0'], now), /invalid --concurrency "0"/);
    assert.throws(() => parseCli(['flaky', '--reset-rate', '1.5'], now), /invalid --reset-rate "1.5"/);
    assert.throws(() => parseCli(['e2e', '--transports', 'tusd'], now), /measures Shoebox gRPC only/);
    assert.throws(() => parseCli(['ingest', '--node-grpc', '127.0.0.1:50051'], now), /needs --node-http/);
    assert.throws(() => parseCli(['ingest', '--node-env', 'PATH=/tmp'], now), /expected SHOEBOX_NAME=value/);
  });
});

describe('loopback checks', () => {
  it('accepts loopback addresses only', () => {
    assert.ok(isLoopbackHost('127.0.0.1'));
    assert.ok(isLoopbackHost('127.1.2.3'));
    assert.ok(isLoopbackHost('::1'));
    assert.ok(isLoopbackHost('[::1]'));
    assert.ok(isLoopbackHost('localhost'));
    assert.ok(!isLoopbackHost('10.0.0.1'));
    assert.ok(!isLoopbackHost('169.254.169.254'));
    assert.ok(!isLoopbackHost('example.org'));
  });

  it('checks URLs and host:port pairs', () => {
    assert.doesNotThrow(() => assertLoopback('endpoint', 'http://127.0.0.1:7480'));
    assert.doesNotThrow(() => assertLoopback('address', '127.0.0.1:50051'));
    assert.throws(() => assertLoopback('endpoint', 'http://192.168.1.10:7480'), /not a loopback address/);
    assert.throws(() => assertLoopback('address', 'nonsense'), /expected host:port/);
  });
});
