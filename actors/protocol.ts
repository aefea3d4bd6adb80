// Messages between the main thread (which owns the sockets) and the worker
// threads (which own the actors). Everything here survives structured clone.

import type { SerializedError } from '../nodes/common/errors.js';

export interface NewUpload {
  tenant: string;
  filename: string;
  contentType: string;
  declaredLength: number;
  /** Lowercase hex SHA-256, or ''. */
  sha256: string;
  metadata: Record<string, string>;
}

export interface SessionView {
  uploadId: string;
  mediaId: string;
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
  | { op: 'chunk'; uploadId: string; offset: number; data: Uint8Array; crc32c: number }
  | { op: 'finish'; uploadId: string };

export type WorkerCommand = SessionCommand | { op: 'process'; mediaId: string } | { op: 'stats' };

export interface WorkerStats {
  sessions: number;
  backlog: number;
}

export type CommandResult<C extends WorkerCommand> = C extends { op: 'open' | 'resume' }
  ? SessionView
  : C extends { op: 'chunk' }
    ? ChunkAck
    : C extends { op: 'finish' }
      ? UploadResult
      : C extends { op: 'stats' }
        ? WorkerStats
        : void;

export interface WorkerRequest {
  id: number;
  command: WorkerCommand;
}

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** Data the main thread hands each worker at start. */
export interface WorkerInit {
  index: number;
  configOverrides: Record<string, string>;
}
