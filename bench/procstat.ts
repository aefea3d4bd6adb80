// CPU time and memory of server processes, read from Linux /proc. Worker
// threads share their process's /proc/PID/stat and status, so one PID covers
// an ingest node with all its workers.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export interface ProcessSample {
  pid: number;
  /** User plus system CPU time since the process started, in ms. */
  cpuMs: number;
  /** Resident set size now (VmRSS), in bytes. */
  rssBytes: number;
  /** Peak resident set size since the process started (VmHWM), in bytes. */
  peakRssBytes: number;
  threads: number;
}

let clockTicksPerSecond: number | undefined;

/** Returns the kernel's USER_HZ (`getconf CLK_TCK`), the unit of the CPU times in /proc/PID/stat. */
function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    const text = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const value = Number(text);
    clockTicksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
  }
  return clockTicksPerSecond;
}

/**
 * Parses utime + stime (fields 14 and 15) from /proc/PID/stat, in clock ticks.
 * The command name (field 2) is in parentheses and may contain spaces, so the
 * fields are counted from the last ")".
 */
export function parseStatCpuTicks(stat: string): number {
  const end = stat.lastIndexOf(')');
  if (end < 0) throw new Error(`invalid /proc/PID/stat line: no ")" in "${stat.slice(0, 80)}"`);
  const fields = stat.slice(end + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`invalid /proc/PID/stat line: utime or stime missing in "${stat.slice(0, 80)}"`);
  return utime + stime;
}

/** Returns a `Key: value kB` field of /proc/PID/status in bytes, or a plain count for fields without a unit. */
export function parseStatusField(status: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+)(?:\\s+kB)?`, 'm').exec(status);
  if (!match) throw new Error(`/proc/PID/status has no ${key} field`);
  const value = Number(match[1]);
  return /kB/.test(match[0]) ? value * 1024 : value;
}

/** Reads one sample of a running process; throws when it has exited. */
export function sampleProcess(pid: number): ProcessSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    pid,
    cpuMs: (parseStatCpuTicks(stat) * 1000) / clockTicks(),
    rssBytes: parseStatusField(status, 'VmRSS'),
    peakRssBytes: parseStatusField(status, 'VmHWM'),
    threads: parseStatusField(status, 'Threads'),
  };
}

export interface ResourceUsage {
  pid: number;
  label: string;
  /** CPU time used between the first and the last sample, in ms. */
  cpuMs: number;
  /** CPU time divided by wall time between the samples: 1.0 is one core busy. */
  cpuCores: number;
  /** Peak RSS since the process started (VmHWM), in bytes. */
  peakRssBytes: number;
  /** RSS at the last sample, in bytes. */
  rssBytes: number;
}

/** Measures the CPU time and memory of a process over one phase of a run. */
export class ResourceMeter {
  private readonly start: ProcessSample;
  private readonly startedAt = performance.now();
  private last: ProcessSample;
  private lastAt = this.startedAt;

  constructor(
    readonly pid: number,
    readonly label: string,
  ) {
    this.start = sampleProcess(pid);
    this.last = this.start;
  }

  /** Takes a sample; keeps the previous one when the process has exited. */
  sample(): ProcessSample {
    try {
      this.last = sampleProcess(this.pid);
      this.lastAt = performance.now();
    } catch {
      // The process exited, so its last sample is kept.
    }
    return this.last;
  }

  usage(): ResourceUsage {
    const end = this.sample();
    const cpuMs = end.cpuMs - this.start.cpuMs;
    const wallMs = this.lastAt - this.startedAt;
    return {
      pid: this.pid,
      label: this.label,
      cpuMs,
      cpuCores: wallMs > 0 ? cpuMs / wallMs : 0,
      peakRssBytes: end.peakRssBytes,
      rssBytes: end.rssBytes,
    };
  }
}

/**
 * Resets the process's peak RSS (VmHWM) to its current RSS, so a phase's peak
 * is not an earlier phase's. It writes 5 to /proc/PID/clear_refs, which needs
 * Linux 4.0 or later and permission to write there. Returns false when the
 * write failed, and the peak then counts from the process start.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
