// The tus peers: tusd and @tus/server, both storing to RGW through their S3
// stores, driven by the bench's tus client with the same chunk size as gRPC.
// An upload is timed from the POST until the last PATCH returns 204, because
// both servers complete the S3 multipart upload before they send that response.

import { Agent } from 'node:http';

import type { S3Client } from '@aws-sdk/client-s3';

import { createS3Client } from '../../storage/s3.js';
import { BENCH_BUCKETS, emptyPrefix, ensureBucket } from '../buckets.js';
import { startTusNode, startTusd, type TusServer } from '../servers/tus.js';
import { tusUpload } from '../tus-client.js';
import type { Transport, TransportContext, UploadInput, UploadResult } from './types.js';

export class TusTransport implements Transport {
  readonly description: string;
  private readonly agents = new Map<number, Agent>();

  private constructor(
    readonly name: 'tus-node' | 'tusd',
    private readonly server: TusServer,
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly chunkSize: number,
  ) {
    this.description = `${server.version} with its S3 store, tus 1.0.0 POST then PATCH requests of ${chunkSize} bytes, timed until the last PATCH returns 204`;
  }

  static async start(context: TransportContext, name: 'tus-node' | 'tusd', log: (line: string) => void): Promise<TusTransport> {
    const { config } = context;
    const bucket = name === 'tusd' ? BENCH_BUCKETS.tusd : BENCH_BUCKETS.tusNode;
    const s3 = createS3Client(config.s3, { maxSockets: 16 });
    await ensureBucket(s3, bucket);
    const server = name === 'tusd' ? await startTusd(config, context.runDir, bucket, log) : await startTusNode(config, context.runDir, bucket);
    return new TusTransport(name, server, s3, bucket, context.chunkSize);
  }

  get servers() {
    return [{ pid: this.server.child.pid, label: this.server.version }];
  }

  async upload(input: UploadInput, worker: number): Promise<UploadResult> {
    let agent = this.agents.get(worker);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 1 });
      this.agents.set(worker, agent);
    }
    const progress = { sent: 0 };
    const startedAt = performance.now();
    try {
      const outcome = await tusUpload(this.server.endpoint, agent, input.bytes, this.chunkSize, input.name, progress);
      return { ok: true, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs: outcome.chunkAckMs, bytesSent: outcome.bytesSent, retries: 0, id: outcome.location };
    } catch (error) {
      return { ok: false, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs: [], bytesSent: progress.sent, retries: 0, id: '', error: (error as Error).message };
    }
  }

  async deleteWritten(): Promise<void> {
    // The bucket belongs to this peer alone, so everything in it is bench output.
    await emptyPrefix(this.s3, this.bucket);
  }

  async close(): Promise<void> {
    for (const agent of this.agents.values()) agent.destroy();
    await this.server.child.stop(10_000);
    await this.deleteWritten();
    this.s3.destroy();
  }
}
