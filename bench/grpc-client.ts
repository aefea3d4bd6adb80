// gRPC clients for the bench: one TCP connection per client, as separate
// devices would have, and a bearer token on every call when one is set.

import { InterceptingCall, Metadata, credentials, type Interceptor, type ServiceError } from '@grpc/grpc-js';
import { crc32c } from '@node-rs/crc32';

import { UploadServiceClient, type Media, type UploadResponse } from '../proto/gen/shoebox/v1/upload.js';
import { assertLoopback } from './net.js';
import type { UploadInput } from './transports/types.js';

/** Adds `authorization: Bearer <token>` to the metadata of every call. */
function bearerInterceptor(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata: Metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/**
 * Creates a client with the channel options of nodes/client/upload.ts
 * createClient, plus a private connection (`grpc.use_local_subchannel_pool`):
 * without it, grpc-js shares one connection between clients of the same
 * address, and N concurrent uploads would be N streams on one connection.
 */
export function createBenchClient(address: string, token: string): UploadServiceClient {
  assertLoopback('gRPC address', address);
  return new UploadServiceClient(address, credentials.createInsecure(), {
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2000,
    'grpc.use_local_subchannel_pool': 1,
    interceptors: token ? [bearerInterceptor(token)] : [],
  });
}

export interface StreamOutcome {
  response: UploadResponse;
  uploadId: string;
  mediaId: string;
  /** performance.now() when the header was written. */
  startedAt: number;
  /** performance.now() when the UploadResponse arrived. */
  endedAt: number;
}

/**
 * Sends one upload on one stream, without resuming: the bench's own loop, so
 * the time of each step is known exactly. Rejects with the gRPC error when the
 * stream fails. `onSession` receives the ids as soon as the server sends them,
 * and `progress.sent` counts the chunk bytes handed to the stream.
 */
export function streamUpload(
  client: UploadServiceClient,
  input: UploadInput,
  chunkSize: number,
  onSession?: (uploadId: string, mediaId: string) => void,
  progress: { sent: number } = { sent: 0 },
): Promise<StreamOutcome> {
  return new Promise((resolve, reject) => {
    let uploadId = '';
    let mediaId = '';
    let failed = false;
    const startedAt = performance.now();
    const call = client.upload(new Metadata(), (error, response) => {
      if (error) {
        failed = true;
        reject(error);
        return;
      }
      resolve({ response, uploadId: response.uploadId || uploadId, mediaId: response.mediaId || mediaId, startedAt, endedAt: performance.now() });
    });
    call.on('metadata', (metadata: Metadata) => {
      uploadId = String(metadata.get('shoebox-upload-id')[0] ?? '');
      mediaId = String(metadata.get('shoebox-media-id')[0] ?? '');
      onSession?.(uploadId, mediaId);
    });
    call.write({
      header: {
        filename: input.name.replaceAll('/', '_'),
        contentType: input.contentType,
        declaredLength: input.bytes.length,
        sha256: input.sha256,
        metadata: { source: 'bench' },
      },
    });
    void (async () => {
      const bytes = input.bytes;
      for (let offset = 0; offset < bytes.length && !failed; offset += chunkSize) {
        const data = bytes.subarray(offset, Math.min(bytes.length, offset + chunkSize));
        const writable = call.write({ chunk: { offset, data, crc32c: crc32c(data) } });
        progress.sent += data.length;
        if (!writable) await new Promise((resume) => call.once('drain', resume));
      }
      if (!failed) call.end();
    })();
  });
}

/** Streams a media item's status until it is final; resolves with the last view and when it arrived. */
export function watchUntilFinal(client: UploadServiceClient, mediaId: string): Promise<{ media: Media; at: number }> {
  return new Promise((resolve, reject) => {
    let last: { media: Media; at: number } | undefined;
    const call = client.watchMedia({ mediaId });
    call.on('data', (media: Media) => (last = { media, at: performance.now() }));
    call.on('error', (error: ServiceError) => reject(error));
    call.on('end', () => (last ? resolve(last) : reject(new Error(`media ${mediaId}: watch ended without a status`))));
  });
}

/** Returns the error text of a gRPC error, with the Shoebox error code when the server sent one. */
export function describeGrpcError(error: unknown): string {
  const serviceError = error as Partial<ServiceError>;
  const code = serviceError.metadata?.get('shoebox-error-code')[0];
  const text = serviceError.details || serviceError.message || String(error);
  return code ? `${String(code)}: ${text}` : text;
}
