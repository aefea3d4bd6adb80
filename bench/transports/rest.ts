// Shoebox's REST chunk API: POST /uploads in chunks mode, one
// PUT /uploads/{id}/chunk?index=N per chunk, then POST /uploads/{id}/complete.
// Each chunk is the chunkSize the node returns (its part size, 8 MiB by
// default) except the last, and the chunks go one after another. Timed until
// complete returns 202, which the node sends once the chunks are assembled
// and the SHA-256 verified (media "received"), as the gRPC and tus transports
// are timed.
// The presigned transport uses the same create and complete requests.

import { createHash } from 'node:crypto';

import { assertLoopback } from '../net.js';
import { ingestNodeFor, type IngestNode } from '../servers/shoebox.js';
import type { ServerProcess, Transport, TransportContext, UploadInput, UploadResult } from './types.js';

/** One presigned request as POST /uploads returns it: send the bytes with exactly this method, URL and headers. */
export interface PresignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** The 201 body of POST /uploads (docs/openapi.json), as far as the bench reads it. */
export interface CreatedUpload {
  id: string;
  mediaId: string;
  chunkSize: number;
  chunkCount: number;
  /** Direct mode up to chunkSize bytes. */
  put?: PresignedRequest;
  /** Direct mode above chunkSize bytes: part N contains bytes (N-1)*chunkSize up to N*chunkSize. */
  parts?: Array<PresignedRequest & { partNumber: number }>;
}

/** The 202 body of POST /uploads/{id}/complete. */
export interface CompletedUpload {
  id: string;
  mediaId: string;
  status: string;
  length: number;
  sha256: string;
}

/** Bytes sent so far, read by the caller when a request fails midway. */
export interface SendProgress {
  sent: number;
}

/** Reads a response body as text for an error message, cut to 300 characters. */
export async function describeFailure(response: Response): Promise<string> {
  const text = (await response.text()).slice(0, 300);
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (error?.code) return `${error.code}: ${error.message ?? ''}`;
  } catch {
    // RGW returns its errors as XML, so the raw text follows.
  }
  return text;
}

/** Returns the message of a failed request, with the cause fetch puts in `cause` (for example ECONNREFUSED). */
export function errorMessage(error: unknown): string {
  const { message, cause } = error as Error;
  return cause instanceof Error ? `${message}: ${cause.message}` : message;
}

/** Requests to the REST API of one ingest node, each with the bench's bearer token. */
export class RestApi {
  constructor(
    readonly httpBase: string,
    private readonly token: string,
  ) {
    assertLoopback('HTTP base', httpBase);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  /** Creates an upload session for `input` in `mode` and returns the node's 201 body. */
  async create(input: UploadInput, mode: 'chunks' | 'direct'): Promise<CreatedUpload> {
    const response = await fetch(`${this.httpBase}/uploads`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ filename: input.name, contentType: input.contentType, length: input.bytes.length, sha256: input.sha256, mode }),
    });
    if (response.status !== 201) throw new Error(`POST /uploads (${mode}) returned ${response.status}: ${await describeFailure(response)}`);
    const created = (await response.json()) as CreatedUpload;
    if (!Number.isSafeInteger(created.chunkSize) || created.chunkSize < 1) throw new Error(`POST /uploads returned an invalid chunkSize ${String(created.chunkSize)}`);
    return created;
  }

  /** Sends chunk `index` (0-based) of upload `id` with its SHA-256 in x-chunk-sha256. */
  async putChunk(id: string, index: number, chunk: Uint8Array, progress: SendProgress): Promise<void> {
    const sha256 = createHash('sha256').update(chunk).digest('hex');
    const response = await fetch(`${this.httpBase}/uploads/${id}/chunk?index=${index}`, {
      method: 'PUT',
      headers: this.headers({ 'content-type': 'application/octet-stream', 'x-chunk-sha256': sha256 }),
      body: chunk,
    });
    progress.sent += chunk.length;
    if (response.status !== 200) throw new Error(`PUT /uploads/${id}/chunk?index=${index} returned ${response.status}: ${await describeFailure(response)}`);
    const stored = (await response.json()) as { index?: number };
    if (stored.index !== index) throw new Error(`PUT /uploads/${id}/chunk?index=${index} acknowledged index ${String(stored.index)}`);
  }

  /** Completes upload `id` and returns the node's 202 body. */
  async complete(id: string): Promise<CompletedUpload> {
    const response = await fetch(`${this.httpBase}/uploads/${id}/complete`, { method: 'POST', headers: this.headers() });
    if (response.status !== 202) throw new Error(`POST /uploads/${id}/complete returned ${response.status}: ${await describeFailure(response)}`);
    return (await response.json()) as CompletedUpload;
  }
}

/** Returns why the completed upload differs from `input` (SHA-256 or length), or undefined when it matches. */
export function completedMismatch(completed: CompletedUpload, input: UploadInput): string | undefined {
  if (completed.sha256 !== input.sha256) return `stored SHA-256 ${completed.sha256} differs from the input's ${input.sha256}`;
  if (completed.length !== input.bytes.length) return `stored length ${completed.length} differs from the input's ${input.bytes.length} bytes`;
  return undefined;
}

/**
 * The part both REST-created transports share: create the upload, send its
 * bytes (each subclass its own way), complete it, and check what the node
 * reports against the input.
 */
export abstract class RestCreatedTransport implements Transport {
  abstract readonly name: 'rest' | 'presigned';
  abstract readonly description: string;
  protected readonly api: RestApi;

  protected constructor(
    readonly node: IngestNode,
    context: TransportContext,
    private readonly mode: 'chunks' | 'direct',
  ) {
    this.api = new RestApi(node.httpBase, context.token);
  }

  get servers(): ServerProcess[] {
    return this.node.pid ? [{ pid: this.node.pid, label: 'shoebox ingest node' }] : [];
  }

  /** Sends every byte of `input` for the created upload, recording each acknowledged request's round trip. */
  protected abstract send(created: CreatedUpload, input: UploadInput, progress: SendProgress, chunkAckMs: number[]): Promise<void>;

  async upload(input: UploadInput): Promise<UploadResult> {
    const progress: SendProgress = { sent: 0 };
    const chunkAckMs: number[] = [];
    const startedAt = performance.now();
    try {
      const created = await this.api.create(input, this.mode);
      await this.send(created, input, progress, chunkAckMs);
      const completed = await this.api.complete(created.id);
      const latencyMs = performance.now() - startedAt;
      const mismatch = completedMismatch(completed, input);
      return { ok: !mismatch, startedAt, latencyMs, chunkAckMs, bytesSent: progress.sent, retries: 0, id: completed.mediaId, ...(mismatch ? { error: mismatch } : {}) };
    } catch (error) {
      return { ok: false, startedAt, latencyMs: performance.now() - startedAt, chunkAckMs, bytesSent: progress.sent, retries: 0, id: '', error: errorMessage(error) };
    }
  }

  async close(): Promise<void> {
    await this.node.child?.stop();
  }
}

export class RestTransport extends RestCreatedTransport {
  readonly name = 'rest' as const;
  readonly description =
    'Shoebox REST chunk API: POST /uploads, one PUT /uploads/{id}/chunk per part-size chunk (one after another), timed until POST /uploads/{id}/complete returns 202 (chunks assembled, SHA-256 verified)';

  private constructor(node: IngestNode, context: TransportContext) {
    super(node, context, 'chunks');
  }

  static async start(context: TransportContext): Promise<RestTransport> {
    return new RestTransport(await ingestNodeFor(context), context);
  }

  protected async send(created: CreatedUpload, input: UploadInput, progress: SendProgress, chunkAckMs: number[]): Promise<void> {
    // Each round trip includes the client's SHA-256 of the chunk, which the request needs in x-chunk-sha256.
    for (let index = 0, offset = 0; offset < input.bytes.length; index++, offset += created.chunkSize) {
      const chunk = input.bytes.subarray(offset, Math.min(input.bytes.length, offset + created.chunkSize));
      const sent = performance.now();
      await this.api.putChunk(created.id, index, chunk, progress);
      chunkAckMs.push(performance.now() - sent);
    }
  }
}
