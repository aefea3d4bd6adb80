// Markdown building blocks for report.md and the common shape of result.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { PhaseResult } from './load.js';
import type { MachineInfo } from './machine.js';
import type { LatencySummary } from './stats.js';
import { formatBytes, formatMs } from './units.js';

/** A stated target and whether this run met it; `met` is null when the run did not measure it. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface RunResult {
  scenario: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  parameters: Record<string, unknown>;
  targets: TargetCheck[];
  [section: string]: unknown;
}

/** Renders a markdown table; cells are escaped so a `|` in an error message cannot break it. */
export function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const escape = (cell: string | number): string => String(cell).replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = [`| ${header.map(escape).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.map(escape).join(' | ')} |`);
  return lines.join('\n');
}

export const LATENCY_HEADER = ['count', 'P50', 'P90', 'P95', 'P99', 'P99.9', 'max'];

export function latencyCells(summary: LatencySummary | null): string[] {
  if (!summary || summary.count === 0) return ['0', '-', '-', '-', '-', '-', '-'];
  return [
    String(summary.count),
    formatMs(summary.p50Ms),
    formatMs(summary.p90Ms),
    formatMs(summary.p95Ms),
    formatMs(summary.p99Ms),
    formatMs(summary.p999Ms),
    formatMs(summary.maxMs),
  ];
}

/** Throughput, success and server resources of each phase. */
export function phaseTable(phases: PhaseResult[]): string {
  return markdownTable(
    ['transport', 'concurrency', 'ok / attempted', 'MB/s', 'uploads/s', 'server CPU (s)', 'server cores busy', 'server peak RSS', 'bench CPU (s)'],
    phases.map((phase) => [
      phase.transport,
      phase.concurrency,
      `${phase.succeeded} / ${phase.attempted}`,
      phase.megabytesPerSecond.toFixed(1),
      phase.uploadsPerSecond.toFixed(2),
      phase.resources.length ? phase.resources.map((r) => (r.cpuMs / 1000).toFixed(1)).join(' + ') : '-',
      phase.resources.length ? phase.resources.map((r) => r.cpuCores.toFixed(2)).join(' + ') : '-',
      phase.resources.length ? phase.resources.map((r) => formatBytes(r.peakRssBytes)).join(' + ') : '-',
      (phase.benchCpuMs / 1000).toFixed(1),
    ]),
  );
}

/** CPU time of the shared stack's daemons in each phase, in seconds and cores busy. */
export function stackCpuTable(phases: PhaseResult[]): string {
  const labels = [...new Set(phases.flatMap((phase) => phase.stackCpu.map((s) => s.label)))];
  if (labels.length === 0) return 'No stack daemon was found through its PID file, so stack CPU was not measured.';
  return markdownTable(
    ['transport', 'concurrency', ...labels.map((label) => `${label} CPU s (cores)`)],
    phases.map((phase) => [
      phase.transport,
      phase.concurrency,
      ...labels.map((label) => {
        const usage = phase.stackCpu.find((s) => s.label === label);
        return usage ? `${(usage.cpuMs / 1000).toFixed(1)} (${usage.cpuCores.toFixed(2)})` : '-';
      }),
    ]),
  );
}

/** Per-upload and per-chunk latency of each phase. */
export function latencyTable(phases: PhaseResult[]): string {
  const rows: string[][] = [];
  for (const phase of phases) {
    rows.push([phase.transport, String(phase.concurrency), 'upload', ...latencyCells(phase.latency)]);
    if (phase.chunkAck) rows.push([phase.transport, String(phase.concurrency), 'chunk ack', ...latencyCells(phase.chunkAck)]);
  }
  return markdownTable(['transport', 'concurrency', 'what', ...LATENCY_HEADER], rows);
}

export function errorList(phases: PhaseResult[]): string {
  const lines: string[] = [];
  for (const phase of phases) {
    for (const error of phase.errors) lines.push(`- ${phase.transport} x${phase.concurrency}: ${error.count} x ${error.message}`);
  }
  return lines.length ? lines.join('\n') : 'none';
}

function targetStatus(met: boolean | null): string {
  if (met === null) return 'not measured';
  return met ? 'met' : 'missed';
}

export function targetTable(targets: TargetCheck[]): string {
  if (targets.length === 0) return 'No target applies to this run.';
  return markdownTable(
    ['target', 'measured', 'status'],
    targets.map((t) => [t.target, t.measured, targetStatus(t.met)]),
  );
}

export function machineLine(machine: MachineInfo): string {
  return (
    `${machine.cores} cores (${machine.cpuModel}), ${formatBytes(machine.memoryBytes)} memory, Linux ${machine.kernel}; ` +
    `Node ${machine.node}, Ceph ${machine.ceph}, Cassandra ${machine.cassandra}, ClamAV ${machine.clamd}; ` +
    `commit ${machine.gitCommit}${machine.gitDirty ? ' with uncommitted changes' : ''}; ` +
    `load average ${machine.loadAverageAtStart.join(', ')} at the start`
  );
}

/** Writes result.json, report.md and the SVG files into `dir`; returns the paths written. */
export function writeRun(dir: string, result: RunResult, report: string, svgs: Record<string, string>): string[] {
  mkdirSync(dir, { recursive: true });
  const written = [join(dir, 'result.json'), join(dir, 'report.md')];
  writeFileSync(written[0]!, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(written[1]!, report.endsWith('\n') ? report : `${report}\n`);
  for (const [name, svg] of Object.entries(svgs)) {
    const path = join(dir, name);
    writeFileSync(path, `${svg}\n`);
    written.push(path);
  }
  return written;
}
