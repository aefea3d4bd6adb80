// Latency recording with HdrHistogram (hdr-histogram-js): values are stored in
// microseconds with 3 significant digits, so a reported percentile is within
// 0.1% of the recorded value.

import * as hdr from 'hdr-histogram-js';

/** The percentiles every report shows, in percent. */
export const REPORTED_PERCENTILES = [50, 90, 95, 99, 99.9] as const;

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** One point of a percentile distribution: `percentile` in percent, `valueMs` in ms. */
export interface PercentilePoint {
  percentile: number;
  valueMs: number;
}

export class LatencyRecorder {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });

  /** Records one latency in milliseconds; negative or non-finite values are rejected. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`invalid latency ${ms} ms: must be a finite, non-negative number`);
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Returns the value at `percentile` (0-100) in ms, or 0 when nothing was recorded. */
  percentileMs(percentile: number): number {
    if (this.count === 0) return 0;
    return this.histogram.getValueAtPercentile(percentile) / 1000;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, minMs: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p95Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
    const maxMs = this.histogram.maxValue / 1000;
    // A percentile is reported as the top of its 0.1%-wide bucket, which can lie above the recorded maximum.
    const at = (percentile: number): number => Math.min(maxMs, this.percentileMs(percentile));
    return {
      count: this.count,
      minMs: this.histogram.minNonZeroValue / 1000,
      meanMs: this.histogram.mean / 1000,
      p50Ms: at(50),
      p90Ms: at(90),
      p95Ms: at(95),
      p99Ms: at(99),
      p999Ms: at(99.9),
      maxMs,
    };
  }

  /** Returns the points of a percentile-distribution plot (see `distributionPercentiles`). */
  distribution(): PercentilePoint[] {
    return distributionPercentiles(this.count).map((percentile) => ({ percentile, valueMs: this.percentileMs(percentile) }));
  }

  /** Adds every value of `other` to this recorder. */
  add(other: LatencyRecorder): void {
    this.histogram.add(other.histogram);
  }
}

/**
 * Percentiles for a distribution plot of `count` samples: 5 steps per decade
 * of 1/(1-p) (0, 36.9, 60.2, ... 90, ... 99, ... 99.9, ...) plus the median,
 * stopping where fewer than one sample would lie beyond the percentile, then
 * 100 for the maximum.
 */
export function distributionPercentiles(count: number): number[] {
  if (count <= 0) return [];
  const points = new Set<number>();
  for (let step = 0; ; step++) {
    const tail = 10 ** (-step / 5);
    if (1 / tail > count) break;
    points.add(Number((100 * (1 - tail)).toPrecision(8)));
  }
  if (count >= 2) points.add(50);
  points.add(100);
  return [...points].sort((a, b) => a - b);
}

/** Summary of plain numbers (not latencies): used for resource samples and counts. */
export function describeNumbers(values: number[]): { count: number; min: number; max: number; mean: number } {
  if (values.length === 0) return { count: 0, min: 0, max: 0, mean: 0 };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const value of values) {
    min = Math.min(min, value);
    max = Math.max(max, value);
    sum += value;
  }
  return { count: values.length, min, max, mean: sum / values.length };
}
