// Shoebox's presigned direct upload: POST /uploads in direct mode returns
// presigned RGW URLs, the bytes go straight to RGW, and
// POST /uploads/{id}/complete hands the stored object to the node. Up to the
// part size (8 MiB by default) the node returns one PutObject URL, above it
// one UploadPart URL per part, which this transport sends one after another.
// Timed until complete returns 202, which the node sends once the object is
// assembled and its SHA-256 verified (media "received"). The node needs the
// staging-writer keys (SHOEBOX_S3_STAGING_WRITER_*) to sign the URLs.

import { assertLoopback } from '../net.js';
import { ingestNodeFor, type IngestNode } from '../servers/shoebox.js';
import { RestCreatedTransport, describeFailure, type CreatedUpload, type PresignedRequest, type SendProgress } from './rest.js';
import type { TransportContext, UploadInput } from './types.js';

/** Sends `body` with exactly the method, URL and headers the node signed. RGW returns 200 for a stored PutObject or UploadPart. */
async function sendPresigned(request: PresignedRequest, body: Uint8Array, label: string, progress: SendProgress): Promise<void> {
  assertLoopback('presigned URL', request.url);
  const response = await fetch(request.url, { method: request.method, headers: request.headers, body });
  progress.sent += body.length;
  if (response.status !== 200) throw new Error(`presigned ${request.method} of ${label} returned ${response.status}: ${await describeFailure(response)}`);
  // Read the body so fetch can reuse the connection.
  await response.arrayBuffer();
}

/** Lists the presigned requests of `created` with the bytes each one carries, in part order. */
function presignedRequests(created: CreatedUpload, bytes: Buffer): Array<{ request: PresignedRequest; body: Uint8Array; label: string }> {
  if (created.put) return [{ request: created.put, body: bytes, label: `upload ${created.id}` }];
  if (!created.parts) throw new Error(`POST /uploads (direct) returned neither put nor parts for upload ${created.id}`);

  const expectedParts = Math.ceil(bytes.length / created.chunkSize);
  if (created.parts.length !== expectedParts) {
    throw new Error(`POST /uploads (direct) returned ${created.parts.length} part URLs for upload ${created.id}, expected ${expectedParts} of ${created.chunkSize} bytes`);
  }
  return [...created.parts]
    .sort((a, b) => a.partNumber - b.partNumber)
    .map((part) => {
      const offset = (part.partNumber - 1) * created.chunkSize;
      return { request: part, body: bytes.subarray(offset, Math.min(bytes.length, offset + created.chunkSize)), label: `part ${part.partNumber} of upload ${created.id}` };
    });
}

export class PresignedTransport extends RestCreatedTransport {
  readonly name = 'presigned' as const;
  readonly description =
    'Shoebox presigned direct upload: POST /uploads (mode direct), the bytes PUT straight to RGW (one PutObject, or one UploadPart per part above the part size, one after another), timed until POST /uploads/{id}/complete returns 202 (object assembled, SHA-256 verified)';

  private constructor(node: IngestNode, context: TransportContext) {
    super(node, context, 'direct');
  }

  static async start(context: TransportContext): Promise<PresignedTransport> {
    assertLoopback('S3 endpoint', context.config.s3.endpoint);
    return new PresignedTransport(await ingestNodeFor(context), context);
  }

  protected async send(created: CreatedUpload, input: UploadInput, progress: SendProgress, chunkAckMs: number[]): Promise<void> {
    for (const { request, body, label } of presignedRequests(created, input.bytes)) {
      const sent = performance.now();
      await sendPresigned(request, body, label, progress);
      chunkAckMs.push(performance.now() - sent);
    }
  }
}
