// A description of the machine and software a run measured, for result.json
// and the report. Every probe is local; a probe that fails leaves its field
// as "unknown" rather than failing the run.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';

import type { Config } from '../nodes/common/config.js';
import { createCassandraClient } from '../storage/cassandra.js';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  ceph: string;
  cassandra: string;
  clamd: string;
  gitCommit: string;
  /** True when the checkout had uncommitted changes. */
  gitDirty: boolean;
  /** 1, 5 and 15 minute load averages when the run started: above the core count, something else was competing for CPU. */
  loadAverageAtStart: number[];
}

async function run(command: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { timeout: 10_000, ...(cwd ? { cwd } : {}) });
    return stdout.trim();
  } catch {
    return '';
  }
}

async function cassandraVersion(config: Config): Promise<string> {
  const client = createCassandraClient(config.cassandra, false);
  try {
    await client.connect();
    const result = await client.execute('SELECT release_version FROM system.local');
    return String(result.first()?.['release_version'] ?? 'unknown');
  } catch {
    return 'unknown';
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}

export async function describeMachine(config: Config): Promise<MachineInfo> {
  const cephText = await run('ceph', ['--version']);
  const clamdText = await run('clamd', ['--version']);
  const status = await run('git', ['status', '--porcelain', '--untracked-files=no'], config.rootDir);
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch {
    // Not Linux, or /proc is not mounted, so the os module's model name stays.
  }
  return {
    cores: availableParallelism(),
    cpuModel,
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    ceph: /ceph version (\S+)/.exec(cephText)?.[1] ?? 'unknown',
    cassandra: await cassandraVersion(config),
    clamd: clamdText.split('/')[0]?.replace(/^ClamAV\s*/, '') || 'unknown',
    gitCommit: (await run('git', ['rev-parse', '--short', 'HEAD'], config.rootDir)) || 'unknown',
    gitDirty: status !== '',
    loadAverageAtStart: loadavg().map((value) => Number(value.toFixed(2))),
  };
}
