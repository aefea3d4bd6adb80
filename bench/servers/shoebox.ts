// An ingest node for one run, started from dist/ on free loopback ports
// against the running stack, as the integration tests start theirs.

import { join } from 'node:path';

import type { Config } from '../../nodes/common/config.js';
import { assertLoopback, freePort } from '../net.js';
import { bearerHeaders } from '../token.js';
import type { TransportContext } from '../transports/types.js';
import { startChild, type ChildServer } from './child.js';

export interface IngestNode {
  grpcAddress: string;
  httpBase: string;
  /** The child process, or undefined for a node this run did not start. */
  child?: ChildServer;
  pid?: number;
}

export async function startIngestNode(config: Config, runDir: string, env: Record<string, string>, token: string, cpuProf = false): Promise<IngestNode> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const grpcAddress = `127.0.0.1:${grpcPort}`;
  const httpBase = `http://127.0.0.1:${httpPort}`;
  const name = `bench-${grpcPort}`;
  const child = await startChild({
    label: `ingest node ${name}`,
    command: process.execPath,
    // V8 writes one profile per thread when the node exits on SIGTERM.
    args: [...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(runDir, 'profiles')}`] : []), join(config.rootDir, 'dist/nodes/ingest/main.js')],
    env: {
      ...process.env,
      SHOEBOX_GRPC_ADDRESS: grpcAddress,
      SHOEBOX_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
      SHOEBOX_NODE_NAME: name,
      SHOEBOX_LOG_LEVEL: 'warn',
      ...env,
    },
    logFile: join(runDir, `${name}.log`),
    readyUrl: `${httpBase}/healthz`,
    readyHeaders: bearerHeaders(token),
  });
  return { grpcAddress, httpBase, child, pid: child.pid };
}

/** Starts an ingest node for a transport, or uses the running one given on the command line. */
export async function ingestNodeFor(context: TransportContext): Promise<IngestNode> {
  const existing = context.existingNode;
  if (existing) {
    assertLoopback('gRPC address', existing.grpcAddress);
    assertLoopback('HTTP base', existing.httpBase);
    return { ...existing };
  }
  return startIngestNode(context.config, context.runDir, context.nodeEnv, context.token, context.nodeCpuProf);
}
