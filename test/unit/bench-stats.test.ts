import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { summarizeChunkAck } from '../../bench/node-metrics.js';
import { parseStatCpuTicks, parseStatusField } from '../../bench/procstat.js';
import { bucketDelta, bucketPercentile, histogramBuckets, metricValue, parseExposition } from '../../bench/prometheus.js';
import { LatencyRecorder, describeNumbers, distributionPercentiles } from '../../bench/stats.js';

describe('LatencyRecorder', () => {
  it('reports percentiles of 1..1000 ms within 0.1%', () => {
    const recorder = new LatencyRecorder();
    for (let ms = 1; ms <= 1000; ms++) recorder.record(ms);
    const summary = recorder.summary();
    assert.equal(summary.count, 1000);
    const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) <= expected * 0.001 + 0.001, `${actual} is not within 0.1% of ${expected}`);
    close(summary.minMs, 1);
    close(summary.p50Ms, 500);
    close(summary.p90Ms, 900);
    close(summary.p95Ms, 950);
    close(summary.p99Ms, 990);
    close(summary.p999Ms, 999);
    close(summary.maxMs, 1000);
    close(summary.meanMs, 500.5);
  });

  it('never reports a percentile above the maximum', () => {
    const recorder = new LatencyRecorder();
    for (const ms of [1253.1, 1000, 800]) recorder.record(ms);
    const summary = recorder.summary();
    assert.ok(summary.p999Ms <= summary.maxMs);
    assert.ok(summary.p99Ms <= summary.maxMs);
  });

  it('keeps sub-millisecond values', () => {
    const recorder = new LatencyRecorder();
    recorder.record(0.25);
    assert.ok(Math.abs(recorder.summary().p50Ms - 0.25) < 0.001);
  });

  it('returns zeros when empty', () => {
    const summary = new LatencyRecorder().summary();
    assert.equal(summary.count, 0);
    assert.equal(summary.p99Ms, 0);
    assert.deepEqual(new LatencyRecorder().distribution(), []);
  });

  it('rejects negative and non-finite values', () => {
    const recorder = new LatencyRecorder();
    assert.throws(() => recorder.record(-1), /invalid latency -1 ms/);
    assert.throws(() => recorder.record(Number.NaN), /invalid latency NaN ms/);
  });

  it('merges another recorder', () => {
    const a = new LatencyRecorder();
    const b = new LatencyRecorder();
    a.record(10);
    b.record(20);
    a.add(b);
    assert.equal(a.count, 2);
    assert.ok(Math.abs(a.summary().maxMs - 20) < 0.02);
  });
});

describe('distributionPercentiles', () => {
  it('stops where the samples run out', () => {
    const points = distributionPercentiles(100);
    assert.equal(points[0], 0);
    assert.equal(points.at(-1), 100);
    assert.ok(points.includes(99), 'includes 99 for 100 samples');
    assert.ok(!points.some((p) => p > 99 && p < 100), 'nothing between 99 and 100 for 100 samples');
  });

  it('is strictly increasing', () => {
    const points = distributionPercentiles(1_000_000);
    for (let i = 1; i < points.length; i++) assert.ok(points[i]! > points[i - 1]!, `${points[i]} after ${points[i - 1]}`);
    assert.ok(points.includes(99.9999));
  });

  it('is empty for no samples', () => {
    assert.deepEqual(distributionPercentiles(0), []);
  });
});

describe('describeNumbers', () => {
  it('summarizes values', () => {
    assert.deepEqual(describeNumbers([3, 1, 2]), { count: 3, min: 1, max: 3, mean: 2 });
    assert.deepEqual(describeNumbers([]), { count: 0, min: 0, max: 0, mean: 0 });
  });
});

const EXPOSITION = `# HELP shoebox_processing_backlog Media items received but not yet final
# TYPE shoebox_processing_backlog gauge
shoebox_processing_backlog 7
# TYPE shoebox_chunk_ack_seconds histogram
shoebox_chunk_ack_seconds_bucket{le="0.01",api="grpc"} 10
shoebox_chunk_ack_seconds_bucket{le="0.1",api="grpc"} 90
shoebox_chunk_ack_seconds_bucket{le="+Inf",api="grpc"} 100
shoebox_chunk_ack_seconds_bucket{le="0.01",api="tus"} 1
shoebox_chunk_ack_seconds_sum{api="grpc"} 3.2
shoebox_chunk_ack_seconds_count{api="grpc"} 100
shoebox_uploads_finished_total{api="grpc",result="received"} 4
shoebox_uploads_finished_total{api="grpc",result="UPLOAD_CONFLICT"} 1
`;

describe('Prometheus exposition', () => {
  const samples = parseExposition(EXPOSITION);

  it('reads a gauge', () => {
    assert.equal(metricValue(samples, 'shoebox_processing_backlog'), 7);
  });

  it('sums samples that match the labels', () => {
    assert.equal(metricValue(samples, 'shoebox_uploads_finished_total', { api: 'grpc' }), 5);
    assert.equal(metricValue(samples, 'shoebox_uploads_finished_total', { result: 'received' }), 4);
    assert.equal(metricValue(samples, 'missing_metric'), undefined);
  });

  it('reads histogram buckets of one label set, sorted', () => {
    const buckets = histogramBuckets(samples, 'shoebox_chunk_ack_seconds', { api: 'grpc' });
    assert.deepEqual(buckets, [
      { le: 0.01, count: 10 },
      { le: 0.1, count: 90 },
      { le: Infinity, count: 100 },
    ]);
  });

  it('interpolates percentiles inside buckets', () => {
    const buckets = histogramBuckets(samples, 'shoebox_chunk_ack_seconds', { api: 'grpc' });
    assert.ok(Math.abs(bucketPercentile(buckets, 10) - 0.01) < 1e-9);
    assert.ok(Math.abs(bucketPercentile(buckets, 50) - 0.055) < 1e-9);
    assert.equal(bucketPercentile(buckets, 99), 0.1, 'beyond the last finite bound reports that bound');
    assert.equal(bucketPercentile([], 50), 0);
  });

  it('subtracts an earlier scrape', () => {
    const before = [
      { le: 0.01, count: 5 },
      { le: Infinity, count: 5 },
    ];
    const after = [
      { le: 0.01, count: 8 },
      { le: Infinity, count: 12 },
    ];
    assert.deepEqual(bucketDelta(before, after), [
      { le: 0.01, count: 3 },
      { le: Infinity, count: 7 },
    ]);
  });

  it('summarizes node-side chunk acks in ms', () => {
    const after = histogramBuckets(samples, 'shoebox_chunk_ack_seconds', { api: 'grpc' });
    const summary = summarizeChunkAck([], after);
    assert.equal(summary.count, 100);
    assert.ok(Math.abs(summary.p50Ms - 55) < 1e-6);
    assert.deepEqual(summary.bucketBoundsMs, [10, 100]);
  });
});

describe('/proc parsing', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    const stat = '1234 (node (worker) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 100 1000 200';
    assert.equal(parseStatCpuTicks(stat), 325);
  });

  it('rejects a line without a command name', () => {
    assert.throws(() => parseStatCpuTicks('garbage'), /invalid \/proc\/PID\/stat line/);
  });

  it('reads kB fields in bytes and plain counts as they are', () => {
    const status = 'Name:\tnode\nVmHWM:\t  245436 kB\nVmRSS:\t  200000 kB\nThreads:\t11\n';
    assert.equal(parseStatusField(status, 'VmHWM'), 245436 * 1024);
    assert.equal(parseStatusField(status, 'VmRSS'), 200000 * 1024);
    assert.equal(parseStatusField(status, 'Threads'), 11);
    assert.throws(() => parseStatusField(status, 'VmSwap'), /no VmSwap field/);
  });
});
