// Shoebox over tus: POST then PATCH requests to the ingest node's /files/,
// timed until the last PATCH returns 204, which the node sends once the
// upload is assembled and its SHA-256 verified (media "received"), as the
// gRPC transport is timed. The same bench tus client drives the tus peers.

import { Agent } from 'node:http';

import { ingestNodeFor, type IngestNode } from '../servers/shoebox.js';
import { bearerHeaders } from '../token.js';
import { tusUpload } from '../tus-client.js';
import type { ServerProcess, Transport, TransportContext, UploadInput, UploadResult } from './types.js';

export class ShoeboxTusTransport implements Transport {
  readonly name = 'shoebox-tus' as const;
  readonly description = 'Shoebox tus 1.0.0 at /files/, POST then PATCH requests, timed until the last PATCH returns 204 (upload assembled, SHA-256 verified)';
  private readonly agents = new Map<number, Agent>();

  private constructor(
    readonly node: IngestNode,
    private readonly context: TransportContext,
  ) {}

  static async start(context: TransportContext): Promise<ShoeboxTusTransport> {
    return new ShoeboxTusTransport(await ingestNodeFor(context), context);
  }

  get servers(): ServerProcess[] {
    return this.node.pid ? [{ pid: this.node.pid, label: 'shoebox ingest node' }] : [];
  }

  async upload(input: UploadInput, worker: number): Promise<UploadResult> {
    let agent = this.agents.get(worker);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 1 });
      this.agents.set(worker, agent);
    }
    const progress = { sent: 0 };
    const headers = bearerHeaders(this.context.token);
    const startedAt = performance.now();
    try {
      const outcome = await tusUpload(`${this.node.httpBase}/files/`, agent, input.bytes, this.context.chunkSize, input.name, progress, headers);
      return { ok: true, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs: outcome.chunkAckMs, bytesSent: outcome.bytesSent, retries: 0, id: outcome.location };
    } catch (error) {
      return { ok: false, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs: [], bytesSent: progress.sent, retries: 0, id: '', error: (error as Error).message };
    }
  }

  async close(): Promise<void> {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    await this.node.child?.stop();
  }
}
