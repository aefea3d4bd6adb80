// RGW keeps the data of deleted objects until its garbage collector runs,
// two hours later by default (rgw_gc_obj_min_wait, 7200 s in Ceph 16.2). A
// throughput phase writes and deletes gigabytes, which would fill a small
// single-host cluster long before then, so the bench runs the collector
// between phases, outside every timed window. It frees only data of objects
// already deleted.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { Config } from '../nodes/common/config.js';

/**
 * Runs `radosgw-admin gc process --include-all` with the stack's admin
 * credentials. Returns false, without throwing, where the stack was not
 * started by deploy/ceph.sh (no admin config) or the command failed.
 */
export async function collectRgwGarbage(config: Config): Promise<boolean> {
  if (!config.ceph.conf || !config.ceph.keyring) return false;
  try {
    await promisify(execFile)('radosgw-admin', ['-c', config.ceph.conf, '-k', config.ceph.keyring, 'gc', 'process', '--include-all'], { timeout: 300_000 });
    return true;
  } catch {
    return false;
  }
}
