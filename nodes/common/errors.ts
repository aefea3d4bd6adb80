// The error catalog: every error Shoebox reports to a client or records on a
// media item. Each entry has a stable code, an HTTP status and a gRPC status.
// The edges map errors only through ShoeboxError's httpStatus and grpcStatus
// (fromHttpError on HTTP, toGrpcError on gRPC).

import { status as GrpcStatus } from '@grpc/grpc-js';

interface CatalogEntry {
  http: number;
  grpc: GrpcStatus;
  /** One line for the docs: when the error happens. */
  summary: string;
}

export const ERROR_CATALOG = {
  REQUEST_INVALID: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'A request field is missing or malformed.' },
  UPLOAD_EMPTY: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'The upload declares or contains zero bytes.' },
  UPLOAD_TOO_LARGE: { http: 413, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'The declared length is above the configured maximum.' },
  UPLOAD_LENGTH_EXCEEDED: { http: 413, grpc: GrpcStatus.OUT_OF_RANGE, summary: 'More bytes arrived than the declared length.' },
  UPLOAD_INCOMPLETE: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, summary: 'The stream ended before the declared length; the session stays resumable.' },
  UPLOAD_OFFSET_MISMATCH: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, summary: "A chunk's offset is not the session's next offset." },
  UPLOAD_CONFLICT: { http: 423, grpc: GrpcStatus.ABORTED, summary: 'Another writer advanced the session at the same time.' },
  UPLOAD_NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND, summary: 'No session has this upload id.' },
  UPLOAD_EXPIRED: { http: 410, grpc: GrpcStatus.NOT_FOUND, summary: 'The session expired and was discarded.' },
  UPLOAD_ALREADY_COMPLETED: { http: 409, grpc: GrpcStatus.ALREADY_EXISTS, summary: 'The session already received every byte.' },
  CHUNK_TOO_LARGE: { http: 413, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'A chunk is larger than the configured maximum chunk length.' },
  CHUNK_CHECKSUM_MISMATCH: { http: 460, grpc: GrpcStatus.DATA_LOSS, summary: "A chunk's CRC-32C does not match its bytes; the chunk was discarded." },
  CHECKSUM_MISMATCH: { http: 460, grpc: GrpcStatus.DATA_LOSS, summary: "The upload's SHA-256 does not match the declared one." },
  NOT_AN_IMAGE: { http: 415, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'The bytes are not an image of any known format.' },
  UNSUPPORTED_FORMAT: { http: 415, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'The image format is recognised but cannot be decoded here.' },
  IMAGE_TOO_LARGE: { http: 422, grpc: GrpcStatus.INVALID_ARGUMENT, summary: "The image header declares more pixels than the limit." },
  IMAGE_CORRUPT: { http: 422, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'The image is truncated or corrupt and cannot be decoded.' },
  MALWARE_DETECTED: { http: 422, grpc: GrpcStatus.PERMISSION_DENIED, summary: 'The scanner found malware; the upload is quarantined.' },
  SCAN_FAILED: { http: 503, grpc: GrpcStatus.UNAVAILABLE, summary: 'The scanner failed or timed out on every attempt; nothing was published.' },
  MEDIA_NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND, summary: 'No media item has this id.' },
  VARIANT_NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND, summary: 'The media item has no variant of this name, or is not ready.' },
  STORAGE_UNAVAILABLE: { http: 503, grpc: GrpcStatus.UNAVAILABLE, summary: 'Cassandra or object storage did not answer.' },
  STORED_OBJECT_CORRUPT: { http: 500, grpc: GrpcStatus.DATA_LOSS, summary: 'The staging object read back differs from the bytes received (length or CRC-32C); nothing was published, and the upload must be sent again.' },
  SHUTTING_DOWN: { http: 503, grpc: GrpcStatus.UNAVAILABLE, summary: 'The node is draining for shutdown; retry on another node.' },
  UNAUTHENTICATED: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, summary: 'The request has no bearer token, or an unknown one.' },
  UPLOAD_LOCKED: { http: 423, grpc: GrpcStatus.ABORTED, summary: 'Another request is writing to this upload right now.' },
  TUS_VERSION_UNSUPPORTED: { http: 412, grpc: GrpcStatus.FAILED_PRECONDITION, summary: 'Tus-Resumable is missing or names a version this server does not speak.' },
  CHECKSUM_ALGORITHM_UNSUPPORTED: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, summary: 'The checksum algorithm is not one of those advertised.' },
  CHUNK_CONFLICT: { http: 409, grpc: GrpcStatus.ALREADY_EXISTS, summary: 'A chunk index already holds different bytes.' },
  CHUNKS_MISSING: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, summary: 'Complete was called before every chunk arrived.' },
  CONFIG_INVALID: { http: 500, grpc: GrpcStatus.INTERNAL, summary: 'A configuration value is missing or malformed.' },
  INTERNAL: { http: 500, grpc: GrpcStatus.INTERNAL, summary: 'An unexpected error; the log has the details.' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, value);
}

/** Base of every Shoebox error. `details` contains the values named in the message. */
export class ShoeboxError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    const override = this.details['httpStatus'];
    return typeof override === 'number' ? override : ERROR_CATALOG[this.code].http;
  }

  get grpcStatus(): GrpcStatus {
    return ERROR_CATALOG[this.code].grpc;
  }

  /** Plain data that survives postMessage between threads. */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export class RequestInvalidError extends ShoeboxError {
  constructor(field: string, value: unknown, reason: string) {
    super('REQUEST_INVALID', `invalid ${field} ${JSON.stringify(value)}: ${reason}`, { field, value });
  }
}

export class UnauthenticatedError extends ShoeboxError {
  constructor(reason: string) {
    super('UNAUTHENTICATED', `unauthenticated: ${reason}; send "authorization: Bearer <token>" (create one with \`shoebox token create TENANT\`)`);
  }
}

export class UploadLockedError extends ShoeboxError {
  constructor(uploadId: string) {
    super('UPLOAD_LOCKED', `upload ${uploadId} is locked by another request; retry after it finishes`, { uploadId });
  }
}

export class TusVersionUnsupportedError extends ShoeboxError {
  constructor(version: string | undefined) {
    const what = version === undefined ? 'Tus-Resumable is missing' : `Tus-Resumable ${JSON.stringify(version)} is not supported`;
    super('TUS_VERSION_UNSUPPORTED', `${what}; send Tus-Resumable: 1.0.0`, { version });
  }
}

export class ChecksumAlgorithmUnsupportedError extends ShoeboxError {
  constructor(algorithm: string, supported: readonly string[]) {
    super('CHECKSUM_ALGORITHM_UNSUPPORTED', `checksum algorithm ${JSON.stringify(algorithm)} is not supported; use one of ${supported.join(', ')}`, {
      algorithm,
    });
  }
}

export class ChunkConflictError extends ShoeboxError {
  constructor(uploadId: string, index: number) {
    super('CHUNK_CONFLICT', `upload ${uploadId}: chunk ${index} was already received with different bytes`, { uploadId, index });
  }
}

export class ChunksMissingError extends ShoeboxError {
  constructor(uploadId: string, missing: number[]) {
    const shown = missing.slice(0, 50).join(', ') + (missing.length > 50 ? `, ... (${missing.length} in all)` : '');
    super('CHUNKS_MISSING', `upload ${uploadId}: chunks missing: ${shown}; send them, then complete again`, { uploadId, missing });
  }
}

export class ConfigInvalidError extends ShoeboxError {
  constructor(key: string, value: string | undefined, reason: string) {
    super('CONFIG_INVALID', `config ${key}${value === undefined ? '' : `=${JSON.stringify(value)}`} ${reason}`, { key, value });
  }
}

export class UploadEmptyError extends ShoeboxError {
  constructor() {
    super('UPLOAD_EMPTY', 'upload is empty: declared length is 0; send at least one byte of image data');
  }
}

export class UploadTooLargeError extends ShoeboxError {
  constructor(declaredLength: number, maxLength: number) {
    super('UPLOAD_TOO_LARGE', `declared length ${declaredLength} bytes is above the maximum of ${maxLength} bytes`, {
      declaredLength,
      maxLength,
    });
  }
}

export class UploadLengthExceededError extends ShoeboxError {
  constructor(uploadId: string, endOffset: number, declaredLength: number) {
    super(
      'UPLOAD_LENGTH_EXCEEDED',
      `upload ${uploadId}: chunk ends at byte ${endOffset}, past the declared length of ${declaredLength} bytes`,
      { uploadId, endOffset, declaredLength },
    );
  }
}

export class UploadIncompleteError extends ShoeboxError {
  constructor(uploadId: string, offset: number, declaredLength: number) {
    super(
      'UPLOAD_INCOMPLETE',
      `upload ${uploadId}: stream ended at byte ${offset} of ${declaredLength}; resume from offset ${offset}`,
      { uploadId, offset, declaredLength },
    );
  }
}

export class UploadOffsetMismatchError extends ShoeboxError {
  constructor(uploadId: string, chunkOffset: number, expectedOffset: number) {
    super(
      'UPLOAD_OFFSET_MISMATCH',
      `upload ${uploadId}: chunk offset ${chunkOffset} does not match the session offset ${expectedOffset}; resend from ${expectedOffset}`,
      { uploadId, chunkOffset, expectedOffset },
    );
  }
}

export class UploadConflictError extends ShoeboxError {
  constructor(uploadId: string, expectedOffset: number) {
    super(
      'UPLOAD_CONFLICT',
      `upload ${uploadId}: another writer moved the session past offset ${expectedOffset}; read the session and resume from its offset`,
      { uploadId, expectedOffset },
    );
  }
}

export class UploadNotFoundError extends ShoeboxError {
  constructor(uploadId: string) {
    super('UPLOAD_NOT_FOUND', `upload ${uploadId} not found`, { uploadId });
  }
}

export class UploadExpiredError extends ShoeboxError {
  constructor(uploadId: string, expiresAt: string) {
    super('UPLOAD_EXPIRED', `upload ${uploadId} expired at ${expiresAt}; start a new upload`, { uploadId, expiresAt });
  }
}

export class UploadAlreadyCompletedError extends ShoeboxError {
  constructor(uploadId: string, mediaId: string) {
    super('UPLOAD_ALREADY_COMPLETED', `upload ${uploadId} already completed as media ${mediaId}`, { uploadId, mediaId });
  }
}

export class ChunkTooLargeError extends ShoeboxError {
  constructor(length: number, maxChunkLength: number) {
    super('CHUNK_TOO_LARGE', `chunk of ${length} bytes is above the maximum of ${maxChunkLength} bytes`, {
      length,
      maxChunkLength,
    });
  }
}

export class ChunkChecksumMismatchError extends ShoeboxError {
  constructor(uploadId: string, offset: number, expected: number, actual: number) {
    super(
      'CHUNK_CHECKSUM_MISMATCH',
      `upload ${uploadId}: chunk at offset ${offset} has CRC-32C ${hex32(actual)}, expected ${hex32(expected)}; chunk discarded, resend it`,
      { uploadId, offset, expected, actual },
    );
  }
}

export class ChecksumMismatchError extends ShoeboxError {
  constructor(uploadId: string, expected: string, actual: string) {
    super('CHECKSUM_MISMATCH', `upload ${uploadId}: SHA-256 of the stored bytes is ${actual}, declared ${expected}`, {
      uploadId,
      expected,
      actual,
    });
  }
}

export class NotAnImageError extends ShoeboxError {
  constructor(detected: string) {
    super('NOT_AN_IMAGE', `content is not an image: bytes look like ${detected}`, { detected });
  }
}

export class UnsupportedFormatError extends ShoeboxError {
  constructor(format: string, reason: string) {
    super('UNSUPPORTED_FORMAT', `unsupported image format ${format}: ${reason}`, { format });
  }
}

export class ImageTooLargeError extends ShoeboxError {
  constructor(width: number, height: number, maxPixels: number) {
    super(
      'IMAGE_TOO_LARGE',
      `image of ${width}x${height} pixels (${width * height}) is above the limit of ${maxPixels} pixels`,
      { width, height, maxPixels },
    );
  }
}

export class ImageCorruptError extends ShoeboxError {
  constructor(format: string, decoderMessage: string) {
    super('IMAGE_CORRUPT', `${format} image is corrupt or truncated: ${decoderMessage}`, { format, decoderMessage });
  }
}

export class MalwareDetectedError extends ShoeboxError {
  constructor(signature: string) {
    super('MALWARE_DETECTED', `malware detected: ${signature}; upload quarantined`, { signature });
  }
}

export class ScanFailedError extends ShoeboxError {
  constructor(attempts: number, lastError: string) {
    super('SCAN_FAILED', `malware scan failed after ${attempts} attempts (${lastError}); nothing was published`, {
      attempts,
      lastError,
    });
  }
}

export class MediaNotFoundError extends ShoeboxError {
  constructor(mediaId: string) {
    super('MEDIA_NOT_FOUND', `media ${mediaId} not found`, { mediaId });
  }
}

export class VariantNotFoundError extends ShoeboxError {
  constructor(mediaId: string, variant: string) {
    super('VARIANT_NOT_FOUND', `media ${mediaId} has no variant ${JSON.stringify(variant)}`, { mediaId, variant });
  }
}

export class StorageUnavailableError extends ShoeboxError {
  constructor(what: string, cause: unknown) {
    super('STORAGE_UNAVAILABLE', `${what} failed: ${messageOf(cause)}`, { what }, { cause });
  }
}

export class StoredObjectCorruptError extends ShoeboxError {
  constructor(mediaId: string, expected: { length: number; crc32c: number }, actual: { length: number; crc32c: number }) {
    super(
      'STORED_OBJECT_CORRUPT',
      `media ${mediaId}: the staging object read back has ${actual.length} bytes with CRC-32C ${actual.crc32c}, but ${expected.length} bytes with CRC-32C ${expected.crc32c} were received; upload it again`,
      { mediaId, expected, actual },
    );
  }
}

export class ShuttingDownError extends ShoeboxError {
  constructor(node: string) {
    super('SHUTTING_DOWN', `node ${node} is shutting down; retry on another node`, { node });
  }
}

export class InternalError extends ShoeboxError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, {}, { cause });
  }
}

/** Rebuilds an error that crossed a thread boundary as plain data. */
export function fromSerialized(data: SerializedError): ShoeboxError {
  return new ShoeboxError(isErrorCode(data.code) ? data.code : 'INTERNAL', data.message, data.details);
}

/** Wraps anything thrown into a ShoeboxError, keeping catalog errors as they are. */
export function toShoeboxError(error: unknown): ShoeboxError {
  if (error instanceof ShoeboxError) return error;
  return new InternalError(messageOf(error), error);
}

/**
 * Maps an error from the HTTP edge to the catalog: fastify's own 4xx errors
 * (schema validation names the field, e.g. "body/length must be >= 1";
 * unsupported media type; body too large) keep their status.
 */
export function fromHttpError(error: unknown): ShoeboxError {
  if (error instanceof ShoeboxError) return error;
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const wrapped = new ShoeboxError('REQUEST_INVALID', `invalid request: ${messageOf(error)}`);
    wrapped.details['httpStatus'] = statusCode;
    return wrapped;
  }
  return toShoeboxError(error);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}
