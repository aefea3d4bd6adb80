// The seam every upload path plugs into. A transport starts whatever server it
// needs, uploads one input at a time per worker, and reports what the client
// saw. Scenarios only talk to this interface, so a new upload path (REST,
// presigned PUT, ...) is one new file plus one line in transports/index.ts.

import type { Config } from '../../nodes/common/config.js';
import type { IngestNode } from '../servers/shoebox.js';

/** One input, held in memory. */
export interface UploadInput {
  /** Label in reports, for example `random:16MiB#3` or `photos/rocket.jpg`. */
  name: string;
  bytes: Buffer;
  /** Lowercase hex SHA-256 of `bytes`. */
  sha256: string;
  contentType: string;
}

export interface UploadResult {
  ok: boolean;
  /** performance.now() when the first byte of the request was sent. */
  startedAt: number;
  /** From the first byte sent until the server confirmed the whole upload as stored, in ms. */
  latencyMs: number;
  /**
   * Round trip of each acknowledged chunk (a tus PATCH, an S3 UploadPart), in
   * ms. Empty where the protocol has no per-chunk acknowledgement (gRPC
   * client streaming acknowledges only the whole upload).
   */
  chunkAckMs: number[];
  /** Bytes sent, counting bytes sent again after a retry. */
  bytesSent: number;
  /** Requests or streams repeated after a failure. */
  retries: number;
  /** The server's name for the stored upload: media id, tus upload URL or object key. */
  id: string;
  error?: string;
}

/** A server process whose CPU time and memory a run reports. */
export interface ServerProcess {
  pid: number;
  label: string;
}

export interface Transport {
  readonly name: TransportName;
  /** One line for reports: what is measured, up to which point. */
  readonly description: string;
  readonly servers: ServerProcess[];
  /** The Shoebox ingest node the uploads go to; undefined for raw S3 and the tus peers. */
  readonly node?: IngestNode;
  /** Uploads one input. `worker` (0 to concurrency-1) lets a transport keep one connection per worker. */
  upload(input: UploadInput, worker: number): Promise<UploadResult>;
  /** Removes objects written to bench-only buckets so far; called between phases, outside the timed window. */
  deleteWritten?(): Promise<void>;
  /** Stops what the transport started and removes the objects it wrote to bench-only buckets. */
  close(): Promise<void>;
}

/** Settings every transport gets. */
export interface TransportContext {
  config: Config;
  /** Bytes per chunk message or PATCH request. */
  chunkSize: number;
  /** Bearer token sent as `authorization` metadata or header; '' sends none. */
  token: string;
  /** Directory for server logs and state of this run. */
  runDir: string;
  /** Tag that keeps object keys of different runs apart. */
  runId: string;
  /** Extra environment for an ingest node the transport starts (SHOEBOX_*). */
  nodeEnv: Record<string, string>;
  /** Start ingest nodes under the V8 CPU profiler. */
  nodeCpuProf: boolean;
  /** An existing ingest node to use instead of starting one. */
  existingNode?: { grpcAddress: string; httpBase: string; pid?: number };
}

export const TRANSPORT_NAMES = ['grpc', 'shoebox-tus', 'rest', 'presigned', 'raw-put', 'raw-multipart', 'tus-node', 'tusd'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

export function isTransportName(name: string): name is TransportName {
  return (TRANSPORT_NAMES as readonly string[]).includes(name);
}
