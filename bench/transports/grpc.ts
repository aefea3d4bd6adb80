// Shoebox over gRPC: one client-streaming Upload per input, timed until the
// UploadResponse, which the node sends once every part is stored, the
// multipart upload is completed and the SHA-256 verified (media "received").
// Scanning and variants happen after that, in the background, and use the
// same node's CPU.

import type { UploadServiceClient } from '../../proto/gen/shoebox/v1/upload.js';
import { createBenchClient, describeGrpcError, streamUpload } from '../grpc-client.js';
import { ingestNodeFor, type IngestNode } from '../servers/shoebox.js';
import { bearerHeaders } from '../token.js';
import type { ServerProcess, Transport, TransportContext, UploadInput, UploadResult } from './types.js';

export class GrpcTransport implements Transport {
  readonly name = 'grpc' as const;
  readonly description = 'Shoebox gRPC client-streaming Upload, timed until the UploadResponse (all parts stored, SHA-256 verified)';
  private readonly clients = new Map<number, UploadServiceClient>();

  private constructor(
    readonly node: IngestNode,
    private readonly context: TransportContext,
  ) {}

  static async start(context: TransportContext): Promise<GrpcTransport> {
    return new GrpcTransport(await ingestNodeFor(context), context);
  }

  get servers(): ServerProcess[] {
    return this.node.pid ? [{ pid: this.node.pid, label: 'shoebox ingest node' }] : [];
  }

  /** Returns the client of one worker, each on its own connection. */
  client(worker: number): UploadServiceClient {
    let client = this.clients.get(worker);
    if (!client) {
      client = createBenchClient(this.node.grpcAddress, this.context.token);
      this.clients.set(worker, client);
    }
    return client;
  }

  /** Headers for the node's HTTP API (/metrics, /media). */
  httpHeaders(): Record<string, string> {
    return bearerHeaders(this.context.token);
  }

  async upload(input: UploadInput, worker: number): Promise<UploadResult> {
    const startedAt = performance.now();
    const progress = { sent: 0 };
    try {
      const outcome = await streamUpload(this.client(worker), input, this.context.chunkSize, undefined, progress);
      const verified = outcome.response.sha256 === input.sha256;
      return {
        ok: verified,
        startedAt: outcome.startedAt,
        latencyMs: outcome.endedAt - outcome.startedAt,
        chunkAckMs: [],
        bytesSent: input.bytes.length,
        retries: 0,
        id: outcome.mediaId,
        ...(verified ? {} : { error: `stored SHA-256 ${outcome.response.sha256} differs from the input's ${input.sha256}` }),
      };
    } catch (error) {
      return { ok: false, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs: [], bytesSent: progress.sent, retries: 0, id: '', error: describeGrpcError(error) };
    }
  }

  async close(): Promise<void> {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    await this.node.child?.stop();
  }
}
