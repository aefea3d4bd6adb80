// Starting and stopping the server processes a run measures (ingest nodes,
// tus servers). Each child logs to a file in the run directory and is stopped
// by its own PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { assertLoopback } from '../net.js';

export interface ChildServer {
  label: string;
  pid: number;
  logFile: string;
  process: ChildProcess;
  /** Sends SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface ChildSpec {
  label: string;
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
  logFile: string;
  /** A URL that returns any HTTP status below 500 once the server is ready. */
  readyUrl: string;
  readyTimeoutMs?: number;
  /** Headers sent with the readiness request, for example a bearer token. */
  readyHeaders?: Record<string, string>;
}

export async function startChild(spec: ChildSpec): Promise<ChildServer> {
  assertLoopback(`${spec.label} readiness URL`, spec.readyUrl);
  const child = spawn(spec.command, spec.args, { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(spec.logFile, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!spawned || child.pid === undefined) throw new Error(`${spec.label}: could not start ${spec.command}; log: ${spec.logFile}`);
  const pid = child.pid;

  const stop = async (graceMs = 30_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    process.kill(pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
    }, graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  try {
    await waitUntilReady(spec, child);
  } catch (error) {
    await stop(2_000);
    throw error;
  }
  return { label: spec.label, pid, logFile: spec.logFile, process: child, stop };
}

async function waitUntilReady(spec: ChildSpec, child: ChildProcess): Promise<void> {
  const timeoutMs = spec.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${spec.label} exited with code ${child.exitCode} before it was ready; log: ${spec.logFile}`);
    try {
      const response = await fetch(spec.readyUrl, { headers: spec.readyHeaders ?? {}, signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status < 500) return;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  throw new Error(`${spec.label} not ready at ${spec.readyUrl} within ${timeoutMs / 1000} s; log: ${spec.logFile}`);
}
