// Parsing and formatting of the sizes, durations and rates that bench options
// and reports use. Sizes are binary (KiB = 1024 bytes); throughput is reported
// in MB/s (10^6 bytes per second), as storage benchmarks usually do.

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses `16MiB`, `512KiB`, `4m` or `1000` into bytes; throws on anything else. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new Error(`invalid size "${text}": expected a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes <= 0) throw new Error(`invalid size "${text}": must be greater than zero`);
  return bytes;
}

/** Parses `30s`, `2m`, `500ms` or a bare number of seconds into milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw new Error(`invalid duration "${text}": expected a number with an optional unit (ms, s, m, h)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * factor);
}

/** Formats bytes with a binary unit, for example `16 MiB` or `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  let digits = value < 10 ? 2 : 1;
  if (unit === 0 || Number.isInteger(value)) digits = 0;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Formats a duration given in milliseconds with a unit that keeps 3 significant digits. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  // Below 999.5, toPrecision(3) would round up to "1.00e+3", so the next unit takes over there.
  if (ms < 0.9995) return `${(ms * 1000).toPrecision(3)} µs`;
  if (ms < 999.5) return `${ms.toPrecision(3)} ms`;
  return `${(ms / 1000).toPrecision(3)} s`;
}

/** Bytes per millisecond turned into MB/s (10^6 bytes per second). */
export function megabytesPerSecond(bytes: number, elapsedMs: number): number {
  return elapsedMs > 0 ? bytes / 1e6 / (elapsedMs / 1000) : 0;
}
