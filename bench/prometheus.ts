// Reading the ingest node's Prometheus text exposition (GET /metrics): single
// gauge values and histogram buckets, enough for the backlog and the node's
// own per-chunk acknowledgement times.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format into samples; comment lines are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

function matches(sample: Sample, name: string, labels: Record<string, string>): boolean {
  return sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
}

/** Returns the sum of every sample named `name` that carries `labels`, or undefined when none exists. */
export function metricValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => matches(s, name, labels));
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}

/** Cumulative histogram buckets: `count` observations were at most `le` seconds. */
export interface Bucket {
  le: number;
  count: number;
}

/** Returns the cumulative buckets of histogram `name` (without the `_bucket` suffix), sorted by bound. */
export function histogramBuckets(samples: Sample[], name: string, labels: Record<string, string> = {}): Bucket[] {
  return samples
    .filter((s) => matches(s, `${name}_bucket`, labels) && s.labels['le'] !== undefined)
    .map((s) => ({ le: s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']), count: s.value }))
    .sort((a, b) => a.le - b.le);
}

/** Subtracts an earlier scrape from a later one, bucket by bucket. */
export function bucketDelta(before: Bucket[], after: Bucket[]): Bucket[] {
  return after.map((bucket) => ({ le: bucket.le, count: bucket.count - (before.find((b) => b.le === bucket.le)?.count ?? 0) }));
}

/**
 * Estimates the value at `percentile` (0-100) from cumulative buckets, with
 * linear interpolation inside the bucket, as Prometheus' histogram_quantile
 * does. Values beyond the last finite bound are reported as that bound, so the
 * estimate is only as fine as the bucket bounds.
 */
export function bucketPercentile(buckets: Bucket[], percentile: number): number {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return 0;
  const rank = (percentile / 100) * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      return inBucket > 0 ? lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket) : bucket.le;
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}
