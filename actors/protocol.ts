// Messages between the main thread (which owns the sockets) and the worker
// threads (which own the actors). Everything here survives structured clone.

import type { SerializedError } from '../nodes/common/errors.js';
import type { MetricsSnapshot } from '../nodes/common/metrics.js';
import type { ConcatRole, UploadMode } from '../storage/sessions.js';

export interface NewUpload {
  /** Chosen by the main thread, so an edge can name the media item before the session exists. */
  mediaId: string;
  mode: UploadMode;
  concat: ConcatRole;
  tenant: string;
  filename: string;
  contentType: string;
  declaredLength: number;
  /** Lowercase hex SHA-256, or ''. */
  sha256: string;
  metadata: Record<string, string>;
  /** The raw tus Upload-Metadata header, or ''. */
  uploadMetadata: string;
  /** tus creation-defer-length: declaredLength is DEFERRED_LENGTH until a PATCH sets it. */
  deferLength?: boolean;
  /** tus allows zero-length uploads; they complete at once and fail as not an image. */
  allowEmpty?: boolean;
  /** Presigned multipart: the multipart upload the staging writer created for the client's parts. */
  directUploadId?: string;
}

export interface SessionView {
  uploadId: string;
  mediaId: string;
  mode: UploadMode;
  concat: ConcatRole;
  uploadMetadata: string;
  /** Bytes durably stored. */
  offset: number;
  declaredLength: number;
  partSize: number;
  expiresAt: string;
  completed: boolean;
}

export interface ChunkAck {
  /** Bytes accepted so far on this session, buffered or durable: the next chunk's offset. */
  receivedOffset: number;
  /** Bytes durably stored. */
  offset: number;
}

export interface UploadResult {
  uploadId: string;
  mediaId: string;
  storedLength: number;
  sha256: string;
  status: 'received';
}

export type SessionCommand =
  | { op: 'open'; uploadId: string; upload: NewUpload }
  | { op: 'resume'; uploadId: string; tenant: string }
  | { op: 'sync'; uploadId: string; tenant: string }
  /** crc32c: the client's CRC-32C of data, checked before the bytes are taken; absent when the bytes never left this node. */
  | { op: 'chunk'; uploadId: string; offset: number; data: Uint8Array; crc32c?: number }
  | { op: 'lock'; uploadId: string; tenant: string; holder: string }
  | { op: 'unlock'; uploadId: string; holder: string }
  | { op: 'checkpoint'; uploadId: string; holder?: string }
  | { op: 'declareLength'; uploadId: string; length: number }
  | { op: 'finish'; uploadId: string }
  | { op: 'putChunk'; uploadId: string; tenant: string; index: number; data: Uint8Array; sha256: string }
  | { op: 'completeChunks'; uploadId: string; tenant: string }
  | { op: 'completeDirect'; uploadId: string; tenant: string }
  | { op: 'concatenate'; uploadId: string; tenant: string; partialIds: string[] }
  | { op: 'terminate'; uploadId: string; tenant: string };

export type WorkerCommand = SessionCommand | { op: 'process'; mediaId: string } | { op: 'stats' } | { op: 'metrics' };

export interface WorkerStats {
  /** Media items this worker has received or recovered and not yet finished. */
  backlog: number;
}

export interface ChunkStored {
  index: number;
  /** True when the same bytes were already stored for this index. */
  duplicate: boolean;
}

export type CommandResult<C extends WorkerCommand> = C extends { op: 'open' | 'resume' | 'sync' | 'lock' | 'checkpoint' | 'declareLength' }
  ? SessionView
  : C extends { op: 'chunk' }
    ? ChunkAck
    : C extends { op: 'finish' | 'completeChunks' | 'completeDirect' | 'concatenate' }
      ? UploadResult
      : C extends { op: 'putChunk' }
        ? ChunkStored
        : C extends { op: 'stats' }
          ? WorkerStats
          : C extends { op: 'metrics' }
            ? MetricsSnapshot
            : void;

export interface WorkerRequest {
  id: number;
  command: WorkerCommand;
}

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/**
 * A command a worker sends to the main thread for routing to the worker that
 * owns its id, such as processing a media item another worker's session received.
 */
export interface WorkerForward {
  forward: WorkerCommand & { op: 'process' };
}

/** Data the main thread hands each worker at start. */
export interface WorkerInit {
  index: number;
  /** Number of workers in the pool, to tell which worker owns an id. */
  poolSize: number;
  configOverrides: Record<string, string>;
}
