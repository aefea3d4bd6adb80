// Raw RGW, the ceiling every other transport is compared with. The same bytes
// go straight to RGW with the client of storage/s3.ts createS3Client. They
// land in a bench bucket on the same replicated placement as Shoebox's
// staging bucket.

import type { S3Client } from '@aws-sdk/client-s3';

import { ObjectStore, createS3Client } from '../../storage/s3.js';
import { BENCH_BUCKETS, emptyPrefix, ensureBucket } from '../buckets.js';
import { assertLoopback } from '../net.js';
import type { Transport, TransportContext, UploadInput, UploadResult } from './types.js';

type Mode = 'put' | 'multipart';

export class RawS3Transport implements Transport {
  readonly servers = [];
  readonly description: string;
  private readonly bucket = BENCH_BUCKETS.raw;
  private readonly prefix: string;
  private sequence = 0;

  private constructor(
    readonly name: 'raw-put' | 'raw-multipart',
    private readonly mode: Mode,
    private readonly client: S3Client,
    private readonly store: ObjectStore,
    private readonly partSize: number,
    runId: string,
  ) {
    this.prefix = `${runId}/`;
    this.description =
      mode === 'put'
        ? 'raw RGW PutObject of the whole input, timed until the response'
        : `raw RGW multipart upload (${partSize} byte parts, one after another), timed until CompleteMultipartUpload returns`;
  }

  static async start(context: TransportContext, mode: Mode): Promise<RawS3Transport> {
    const { config } = context;
    assertLoopback('S3 endpoint', config.s3.endpoint);
    const client = createS3Client(config.s3, { maxSockets: 256 });
    await ensureBucket(client, BENCH_BUCKETS.raw);
    const store = new ObjectStore(client, config.s3);
    return new RawS3Transport(mode === 'put' ? 'raw-put' : 'raw-multipart', mode, client, store, config.upload.partSize, context.runId);
  }

  async upload(input: UploadInput): Promise<UploadResult> {
    const key = `${this.prefix}${this.sequence++}`;
    const startedAt = performance.now();
    const chunkAckMs: number[] = [];
    let bytesSent = 0;
    try {
      if (this.mode === 'put') {
        await this.store.putObject(this.bucket, key, input.bytes, input.contentType);
        bytesSent = input.bytes.length;
        chunkAckMs.push(performance.now() - startedAt);
      } else {
        const uploadId = await this.store.createMultipartUpload(this.bucket, key, input.contentType);
        const parts = [];
        for (let offset = 0, partNumber = 1; offset < input.bytes.length; offset += this.partSize, partNumber++) {
          const body = input.bytes.subarray(offset, Math.min(input.bytes.length, offset + this.partSize));
          const partStarted = performance.now();
          const etag = await this.store.uploadPart(this.bucket, key, uploadId, partNumber, body);
          chunkAckMs.push(performance.now() - partStarted);
          bytesSent += body.length;
          parts.push({ partNumber, etag });
        }
        await this.store.completeMultipartUpload(this.bucket, key, uploadId, parts);
      }
      return { ok: true, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs, bytesSent, retries: 0, id: key };
    } catch (error) {
      return { ok: false, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs, bytesSent, retries: 0, id: key, error: (error as Error).message };
    }
  }

  async deleteWritten(): Promise<void> {
    await emptyPrefix(this.client, this.bucket, this.prefix);
  }

  async close(): Promise<void> {
    await this.deleteWritten();
    this.client.destroy();
  }
}
