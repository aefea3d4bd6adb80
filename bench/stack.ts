// The shared stack's daemons (RGW, OSDs, clamd, Cassandra), found through the
// PID files the deploy scripts write under the state directory. The bench
// only reads their CPU time from /proc: they serve every engineer on the
// machine, so their figures include any other load during a phase.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Config } from '../nodes/common/config.js';
import type { ServerProcess } from './transports/types.js';

/** Daemon groups by PID file: `label` sums every PID file whose name matches. */
const STACK_PID_FILES: Array<{ label: string; dir: string; pattern: RegExp }> = [
  { label: 'radosgw', dir: 'ceph', pattern: /^rgw\.pid$/ },
  { label: 'ceph-osd', dir: 'ceph', pattern: /^osd\.\d+\.pid$/ },
  { label: 'clamd', dir: 'clamd', pattern: /^clamd\.pid$/ },
  { label: 'cassandra', dir: 'cassandra', pattern: /^cassandra\.pid$/ },
];

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}/stat`);
}

/** Returns the running stack daemons; a daemon without a PID file or not running is left out. */
export function stackProcesses(config: Config): ServerProcess[] {
  const found: ServerProcess[] = [];
  for (const group of STACK_PID_FILES) {
    const dir = join(config.stateDir, group.dir);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((file) => group.pattern.test(file))) {
      const pid = Number(readFileSync(join(dir, name), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) found.push({ pid, label: group.label });
    }
  }
  return found;
}
