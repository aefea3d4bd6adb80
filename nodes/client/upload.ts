// A resumable gRPC upload client, shared by the CLI, the tests and the bench
// harness. A dropped stream resumes from the server's offset, read back with
// GetUploadSession.

import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { InterceptingCall, Metadata, credentials, status as GrpcStatus, type Interceptor, type ServiceError } from '@grpc/grpc-js';
import { crc32c } from '@node-rs/crc32';

import {
  UploadServiceClient,
  type Media,
  type UploadRequest,
  type UploadResponse,
} from '../../proto/gen/shoebox/v1/upload.js';
import { fromProtoStatus } from '../common/media-view.js';

export interface UploadOptions {
  /** Bytes per chunk message; default 1 MiB. */
  chunkSize?: number;
  /** Stream attempts before giving up; default 12. */
  maxAttempts?: number;
  contentType?: string;
  metadata?: Record<string, string>;
  /** Skip the whole-upload SHA-256 (the server still computes and returns it). */
  skipSha256?: boolean;
  /** Called after each chunk is written to the stream, with the bytes sent so far. */
  onProgress?: (sent: number, total: number) => void;
  /** Called when a stream fails and the client resumes. */
  onRetry?: (attempt: number, error: ServiceError) => void;
  /** Called with the server's offset before a resumed stream starts. */
  onResume?: (offset: number) => void;
  /** Called once the server has named the session, with its ids. */
  onSession?: (uploadId: string, mediaId: string) => void;
  /** Caps the send rate, in bytes per second, as on a slow link; default unlimited. */
  bytesPerSecond?: number;
}

export interface UploadOutcome {
  file: string;
  uploadId: string;
  mediaId: string;
  /** Final media status, or "rejected" when the server refused the upload itself. */
  status: string;
  sha256: string;
  variants: string[];
  reason?: string;
  errorCode?: string;
  attempts: number;
  bytesSent: number;
}

/** gRPC codes after which resuming the same session can succeed. */
const RESUMABLE = new Set<GrpcStatus>([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.CANCELLED,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNKNOWN,
  GrpcStatus.ABORTED,
  GrpcStatus.RESOURCE_EXHAUSTED,
]);
const RESUMABLE_CODES = new Set(['UPLOAD_OFFSET_MISMATCH', 'UPLOAD_INCOMPLETE', 'UPLOAD_CONFLICT', 'CHUNK_CHECKSUM_MISMATCH', 'SHUTTING_DOWN']);

/** Creates a client; every call carries `authorization: Bearer <token>` when a token is given. */
export function createClient(address: string, token = ''): UploadServiceClient {
  const withToken: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
  return new UploadServiceClient(address, credentials.createInsecure(), {
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2000,
    ...(token ? { interceptors: [withToken] } : {}),
  });
}

function errorCodeOf(error: ServiceError): string {
  return String(error.metadata?.get('shoebox-error-code')[0] ?? '');
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    for await (const piece of handle.createReadStream()) hash.update(piece as Buffer);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

function unary<T>(run: (callback: (error: ServiceError | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
}

/** Streams the media item's status until it is final (or `timeoutMs` passes); returns the last view. */
export async function waitForFinal(client: UploadServiceClient, mediaId: string, timeoutMs = 15 * 60_000): Promise<Media> {
  return new Promise((resolve, reject) => {
    let last: Media | undefined;
    const call = client.watchMedia({ mediaId }, { deadline: Date.now() + timeoutMs });
    call.on('data', (media: Media) => (last = media));
    call.on('error', reject);
    call.on('end', () => (last ? resolve(last) : reject(new Error(`media ${mediaId}: watch ended without a status`))));
  });
}

interface StreamState {
  uploadId: string;
  mediaId: string;
  sent: number;
}

interface StreamOptions {
  chunkSize: number;
  bytesPerSecond?: number;
  onProgress?: (sent: number, total: number) => void;
  onSession?: (uploadId: string, mediaId: string) => void;
}

/** Runs one Upload stream from `start`; resolves with the response or rejects with the gRPC error. */
function runStream(
  client: UploadServiceClient,
  first: UploadRequest,
  path: string,
  start: number,
  total: number,
  state: StreamState,
  options: StreamOptions,
): Promise<UploadResponse> {
  const { chunkSize, bytesPerSecond, onProgress, onSession } = options;
  return new Promise((resolve, reject) => {
    const call = client.upload(new Metadata(), (error, response) => (error ? reject(error) : resolve(response)));
    call.on('metadata', (metadata: Metadata) => {
      state.uploadId = String(metadata.get('shoebox-upload-id')[0] ?? state.uploadId);
      state.mediaId = String(metadata.get('shoebox-media-id')[0] ?? state.mediaId);
      onSession?.(state.uploadId, state.mediaId);
    });
    call.write(first);
    void (async () => {
      const handle = await open(path, 'r');
      try {
        let offset = start;
        const startedAt = Date.now();
        while (offset < total) {
          const buffer = Buffer.allocUnsafe(Math.min(chunkSize, total - offset));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          if (bytesRead === 0) throw new Error(`${path} shrank to ${offset} bytes while uploading`);
          const data = buffer.subarray(0, bytesRead);
          const writable = call.write({ chunk: { offset, data, crc32c: crc32c(data) } });
          offset += bytesRead;
          state.sent += bytesRead;
          onProgress?.(offset, total);
          if (!writable) await new Promise((r) => call.once('drain', r));
          if (bytesPerSecond) {
            const due = startedAt + ((offset - start) / bytesPerSecond) * 1000;
            if (due > Date.now()) await sleep(due - Date.now());
          }
        }
        call.end();
      } catch (error) {
        call.cancel();
        reject(error as Error);
      } finally {
        await handle.close();
      }
    })();
  });
}

/**
 * Uploads one file, resuming after dropped streams, then waits for the media
 * item to reach ready, quarantined or failed.
 */
export async function uploadFile(client: UploadServiceClient, path: string, options: UploadOptions = {}): Promise<UploadOutcome> {
  const chunkSize = options.chunkSize ?? 1024 * 1024;
  const maxAttempts = options.maxAttempts ?? 12;
  const { size } = await stat(path);
  const sha256 = options.skipSha256 ? '' : await sha256OfFile(path);
  const state: StreamState = { uploadId: '', mediaId: '', sent: 0 };
  const streamOptions: StreamOptions = {
    chunkSize,
    ...(options.bytesPerSecond ? { bytesPerSecond: options.bytesPerSecond } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onSession ? { onSession: options.onSession } : {}),
  };
  const outcome = (fields: Partial<UploadOutcome>): UploadOutcome => ({
    file: path,
    uploadId: state.uploadId,
    mediaId: state.mediaId,
    status: 'rejected',
    sha256,
    variants: [],
    attempts,
    bytesSent: state.sent,
    ...fields,
  });

  let attempts = 0;
  let response: UploadResponse | undefined;
  while (!response) {
    attempts++;
    try {
      if (!state.uploadId) {
        const header = {
          filename: basename(path),
          contentType: options.contentType ?? '',
          declaredLength: size,
          sha256,
          metadata: options.metadata ?? {},
        };
        response = await runStream(client, { header }, path, 0, size, state, streamOptions);
      } else {
        const session = await unary<{ offset: number; completed: boolean }>((cb) => client.getUploadSession({ uploadId: state.uploadId }, cb));
        if (session.completed) break;
        options.onResume?.(session.offset);
        response = await runStream(client, { resume: { uploadId: state.uploadId } }, path, session.offset, size, state, streamOptions);
      }
    } catch (error) {
      const serviceError = error as ServiceError;
      const code = errorCodeOf(serviceError);
      const retryable = code === '' ? RESUMABLE.has(serviceError.code) : RESUMABLE_CODES.has(code);
      if (!retryable || attempts >= maxAttempts) {
        const mediaId = String(serviceError.metadata?.get('shoebox-media-id')[0] ?? state.mediaId);
        return outcome({ mediaId, status: mediaId ? 'failed' : 'rejected', errorCode: code || GrpcStatus[serviceError.code] || 'UNKNOWN', reason: serviceError.details ?? serviceError.message });
      }
      options.onRetry?.(attempts, serviceError);
      await sleep(Math.min(5_000, 250 * 2 ** Math.min(attempts, 5)));
    }
  }

  const mediaId = response?.mediaId ?? state.mediaId;
  const media = await waitForFinal(client, mediaId);
  const status = fromProtoStatus(media.status) ?? 'unknown';
  return outcome({
    mediaId,
    status,
    sha256: response?.sha256 ?? media.sha256,
    variants: media.variants.map((v) => v.name),
    ...(media.reason ? { reason: media.reason } : {}),
    ...(media.errorCode ? { errorCode: media.errorCode } : {}),
  });
}

