// A narrow object-storage interface over @aws-sdk/client-s3, tuned for Ceph RGW.
// Everything that touches buckets goes through ObjectStore, so callers never
// build SDK commands themselves.

import { Agent } from 'node:http';
import type { Readable } from 'node:stream';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  NoSuchKey,
  NotFound,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

import type { S3Config } from '../nodes/common/config.js';
import { StorageUnavailableError } from '../nodes/common/errors.js';

/** Object keys. Client-supplied names never appear in a key. */
export const objectKeys = {
  staging: (uploadId: string) => `uploads/${uploadId}`,
  /** Prefix of the tail segments of a tus upload: its bytes after the last full part. */
  tailPrefix: (uploadId: string) => `tails/${uploadId}/`,
  /** One tail segment, named by the upload offset of its first byte (zero-padded, so keys sort by offset). */
  tailSegment: (uploadId: string, start: number) => `tails/${uploadId}/${String(start).padStart(12, '0')}`,
  original: (mediaId: string) => `originals/${mediaId}`,
  variant: (mediaId: string, variant: string) => `variants/${mediaId}/${variant}`,
  quarantine: (mediaId: string) => `quarantine/${mediaId}`,
};

export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface ObjectHead {
  length: number;
  etag: string;
  contentType: string | undefined;
}

export interface ObjectStream extends ObjectHead {
  body: Readable;
}

/** SDK commands that carry object bytes, whose payload SHA-256 the SigV4 signature may leave out. */
const PAYLOAD_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

export interface S3ClientOptions {
  /** Sockets per client; default 64. */
  maxSockets?: number;
  /** Default: the node's own RGW user. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Default: config.unsignedPayload. Off for a client that only presigns URLs. */
  unsignedPayload?: boolean;
}

export function createS3Client(config: S3Config, options: S3ClientOptions = {}): S3Client {
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: options.credentials ?? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    // RGW serves buckets by path, not by virtual host.
    forcePathStyle: true,
    // With the SDK default, streamed bodies go out aws-chunked, and RGW 16
    // responds with 411 MissingContentLength.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 }),
      connectionTimeout: 5_000,
      requestTimeout: 120_000,
    }),
  });
  if (options.unsignedPayload ?? config.unsignedPayload) {
    // Over plain HTTP the SDK hashes every body for the signature: a second
    // SHA-256 pass over each part, on top of the upload's own. The signer
    // takes a preset x-amz-content-sha256 as it is, and RGW accepts
    // UNSIGNED-PAYLOAD. Stored bytes are still checked end to end: the
    // pipeline compares the CRC-32C of what it reads back with the upload's.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (PAYLOAD_COMMANDS.has(context.commandName ?? '') && request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'shoeboxUnsignedPayload' },
    );
  }
  return client;
}

function isNotFound(error: unknown): boolean {
  if (error instanceof NoSuchKey || error instanceof NotFound) return true;
  return error instanceof S3ServiceException && (error.$metadata.httpStatusCode === 404 || error.name === 'NoSuchKey');
}

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StorageUnavailableError(what, error);
  }
}

export class ObjectStore {
  constructor(
    readonly client: S3Client,
    readonly config: S3Config,
  ) {}

  async createMultipartUpload(bucket: string, key: string, contentType: string): Promise<string> {
    const out = await call(`CreateMultipartUpload ${bucket}/${key}`, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType })),
    );
    if (!out.UploadId) throw new StorageUnavailableError(`CreateMultipartUpload ${bucket}/${key}`, 'no UploadId in the response');
    return out.UploadId;
  }

  async uploadPart(bucket: string, key: string, s3UploadId: string, partNumber: number, body: Uint8Array, signal?: AbortSignal): Promise<string> {
    const out = await call(`UploadPart ${bucket}/${key} part ${partNumber}`, () =>
      this.client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: s3UploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
        { abortSignal: signal },
      ),
    );
    if (!out.ETag) throw new StorageUnavailableError(`UploadPart ${bucket}/${key}`, 'no ETag in the response');
    return out.ETag;
  }

  async completeMultipartUpload(bucket: string, key: string, s3UploadId: string, parts: CompletedPart[]): Promise<void> {
    await call(`CompleteMultipartUpload ${bucket}/${key}`, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: s3UploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      ),
    );
  }

  async abortMultipartUpload(bucket: string, key: string, s3UploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: s3UploadId }));
    } catch (error) {
      if (error instanceof S3ServiceException && error.name === 'NoSuchUpload') return;
      throw new StorageUnavailableError(`AbortMultipartUpload ${bucket}/${key}`, error);
    }
  }

  /** Keys under a prefix, in key order (at most 10,000). */
  async listKeys(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const out = await call(`ListObjectsV2 ${bucket}/${prefix}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const item of out.Contents ?? []) if (item.Key) keys.push(item.Key);
      if (!out.IsTruncated) break;
      token = out.NextContinuationToken;
    }
    return keys.sort();
  }

  /** Parts uploaded so far to a multipart upload, in part-number order. */
  async listParts(bucket: string, key: string, s3UploadId: string): Promise<Array<CompletedPart & { length: number }>> {
    const parts: Array<CompletedPart & { length: number }> = [];
    let marker: string | undefined;
    for (let page = 0; page < 100; page++) {
      const out = await call(`ListParts ${bucket}/${key}`, () =>
        this.client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: s3UploadId, PartNumberMarker: marker })),
      );
      for (const part of out.Parts ?? []) parts.push({ partNumber: part.PartNumber ?? 0, etag: part.ETag ?? '', length: part.Size ?? 0 });
      if (!out.IsTruncated) break;
      marker = out.NextPartNumberMarker;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async listMultipartUploads(bucket: string, prefix: string): Promise<Array<{ key: string; uploadId: string }>> {
    const out = await call(`ListMultipartUploads ${bucket}`, () =>
      this.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix })),
    );
    return (out.Uploads ?? []).map((u) => ({ key: u.Key ?? '', uploadId: u.UploadId ?? '' }));
  }

  async putObject(bucket: string, key: string, body: Uint8Array, contentType: string): Promise<string> {
    const out = await call(`PutObject ${bucket}/${key}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, ContentLength: body.length })),
    );
    return out.ETag ?? '';
  }

  /** Returns undefined when the object does not exist. */
  async headObject(bucket: string, key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { length: out.ContentLength ?? 0, etag: out.ETag ?? '', contentType: out.ContentType };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new StorageUnavailableError(`HeadObject ${bucket}/${key}`, error);
    }
  }

  /** Returns undefined when the object does not exist. */
  async getObject(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectStream | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      return {
        body: out.Body as Readable,
        length: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        contentType: out.ContentType,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new StorageUnavailableError(`GetObject ${bucket}/${key}`, error);
    }
  }

  async getObjectBytes(bucket: string, key: string): Promise<Buffer | undefined> {
    const object = await this.getObject(bucket, key);
    if (!object) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of object.body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async copyObject(sourceBucket: string, sourceKey: string, bucket: string, key: string): Promise<void> {
    await call(`CopyObject ${sourceBucket}/${sourceKey} -> ${bucket}/${key}`, () =>
      this.client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${sourceBucket}/${encodeURIComponent(sourceKey).replaceAll('%2F', '/')}` }),
      ),
    );
  }

  /** Deletes an object; deleting a missing object succeeds, as in S3. */
  async deleteObject(bucket: string, key: string): Promise<void> {
    await call(`DeleteObject ${bucket}/${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
  }

  /**
   * Creates the three buckets when missing: staging and quarantine on the
   * default (replicated) placement, canonical on the erasure-coded one.
   * Staging gets a lifecycle rule that aborts multipart uploads abandoned for
   * longer than a session lives.
   */
  async ensureBuckets(sessionTtlSeconds: number): Promise<void> {
    const { stagingBucket, quarantineBucket, canonicalBucket, ecLocationConstraint } = this.config;
    await this.ensureBucket(stagingBucket);
    await this.ensureBucket(quarantineBucket);
    await this.ensureBucket(canonicalBucket, ecLocationConstraint);
    await this.allowStagingWriter();
    const days = Math.max(1, Math.ceil(sessionTtlSeconds / 86_400) + 1);
    await call(`PutBucketLifecycleConfiguration ${stagingBucket}`, () =>
      this.client.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: stagingBucket,
          LifecycleConfiguration: {
            Rules: [
              {
                ID: 'abort-abandoned-uploads',
                Status: 'Enabled',
                Filter: { Prefix: 'uploads/' },
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: days },
              },
            ],
          },
        }),
      ),
    );
  }

  /**
   * Lets the staging-writer RGW user PUT objects under uploads/ in the
   * staging bucket, and nothing else: it owns no bucket, so this policy is
   * all it may do. Presigned direct-upload URLs are signed with its keys.
   */
  private async allowStagingWriter(): Promise<void> {
    const { stagingBucket, stagingWriter } = this.config;
    if (!stagingWriter.accessKeyId) return;
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'StagingWriterPutsUploads',
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam:::user/shoebox-staging-writer'] },
          Action: ['s3:PutObject'],
          Resource: [`arn:aws:s3:::${stagingBucket}/uploads/*`],
        },
      ],
    };
    await call(`PutBucketPolicy ${stagingBucket}`, () =>
      this.client.send(new PutBucketPolicyCommand({ Bucket: stagingBucket, Policy: JSON.stringify(policy) })),
    );
  }

  private async ensureBucket(bucket: string, locationConstraint?: string): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (error) {
      if (!isNotFound(error)) throw new StorageUnavailableError(`HeadBucket ${bucket}`, error);
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          ...(locationConstraint
            ? { CreateBucketConfiguration: { LocationConstraint: locationConstraint as never } }
            : {}),
        }),
      );
    } catch (error) {
      // Another node created it between our HEAD and CREATE.
      if (error instanceof S3ServiceException && (error.name === 'BucketAlreadyOwnedByYou' || error.name === 'BucketAlreadyExists')) return;
      throw new StorageUnavailableError(`CreateBucket ${bucket}`, error);
    }
  }
}
