// Summarizes a V8 .cpuprofile (from `--node-cpu-prof`) as text: the functions
// with the most self time and the most total time, so a run can be compared
// with the next one in a terminal. For a flame graph, load the same file in
// the Performance tab of Chrome DevTools.
//
//   node dist/bench/profile.js FILE.cpuprofile [--top N]

import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  /** Microseconds with this function at the top of the stack. */
  selfUs: number;
  /** Microseconds with this function anywhere on the stack (counted once per sample). */
  totalUs: number;
}

export interface ProfileSummary {
  /** Sampled wall time in microseconds. */
  sampledUs: number;
  /** Microseconds the thread waited for work: the "(idle)" node. */
  idleUs: number;
  functions: FunctionTime[];
}

function frameName(frame: CallFrame, root: string): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const url = frame.url.startsWith('file://') ? relative(root, new URL(frame.url).pathname) : frame.url;
  return `${name} ${url}:${frame.lineNumber + 1}`;
}

/** Adds up self and total time per function from the samples and their time deltas. */
export function summarizeProfile(profile: CpuProfile, root = process.cwd()): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const times = new Map<string, FunctionTime>();
  const entry = (name: string) => {
    let time = times.get(name);
    if (!time) {
      time = { name, selfUs: 0, totalUs: 0 };
      times.set(name, time);
    }
    return time;
  };
  let sampledUs = 0;
  let idleUs = 0;
  // V8 gives the delta before each sample; the sample covers that interval.
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    sampledUs += delta;
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf) continue;
    if (leaf.callFrame.functionName === '(idle)') {
      idleUs += delta;
      continue;
    }
    entry(frameName(leaf.callFrame, root)).selfUs += delta;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const name = frameName(byId.get(id)!.callFrame, root);
      if (seen.has(name)) continue;
      seen.add(name);
      entry(name).totalUs += delta;
    }
  }
  return { sampledUs, idleUs, functions: [...times.values()] };
}

function table(rows: FunctionTime[], key: 'selfUs' | 'totalUs', busyUs: number, top: number): string[] {
  return [...rows]
    .sort((a, b) => b[key] - a[key])
    .slice(0, top)
    .map((row) => `${(row[key] / 1000).toFixed(0).padStart(8)} ms ${((100 * row[key]) / Math.max(1, busyUs)).toFixed(1).padStart(5)}%  ${row.name}`);
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node dist/bench/profile.js FILE.cpuprofile... [--top N]\n');
    process.exitCode = 2;
    return;
  }
  const top = Number(values.top ?? '25');
  if (!Number.isInteger(top) || top < 1) throw new Error(`invalid --top "${values.top}": must be a positive integer`);
  for (const file of positionals) {
    const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    const busyUs = summary.sampledUs - summary.idleUs;
    process.stdout.write(
      [
        `${basename(file)}: ${(summary.sampledUs / 1e6).toFixed(1)} s sampled, ${(busyUs / 1e6).toFixed(1)} s busy (percentages are of busy time)`,
        'self time:',
        ...table(summary.functions, 'selfUs', busyUs, top),
        'total time:',
        ...table(summary.functions, 'totalUs', busyUs, top),
        '',
      ].join('\n') + '\n',
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
