// A small tus 1.0.0 client (core protocol plus the creation extension) over
// node:http, so every PATCH round trip can be timed. It resumes nothing: a
// failed request fails the upload, and the bench counts it.

import { Agent, request } from 'node:http';

import { assertLoopback } from './net.js';

const TUS_VERSION = '1.0.0';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(url: URL, method: string, headers: Record<string, string>, agent: Agent, body?: Uint8Array): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent }, (res) => {
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(pieces).toString('utf8').slice(0, 500) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function headerValue(reply: Reply, name: string): string {
  const value = reply.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

export interface TusUploadOutcome {
  location: string;
  chunkAckMs: number[];
  bytesSent: number;
}

/**
 * Creates an upload at `endpoint` (POST with Upload-Length) and sends `bytes`
 * in PATCH requests of `chunkSize` bytes. Throws on any status other than
 * the ones tus 1.0.0 prescribes (201 for creation, 204 for PATCH), or when the
 * server's Upload-Offset differs from the bytes sent.
 */
export async function tusUpload(
  endpoint: string,
  agent: Agent,
  bytes: Uint8Array,
  chunkSize: number,
  filename: string,
  progress: { sent: number },
  extraHeaders: Record<string, string> = {},
): Promise<TusUploadOutcome> {
  assertLoopback('tus endpoint', endpoint);
  const metadata = `filename ${Buffer.from(filename).toString('base64')}`;
  const created = await send(
    new URL(endpoint),
    'POST',
    { ...extraHeaders, 'Tus-Resumable': TUS_VERSION, 'Upload-Length': String(bytes.length), 'Upload-Metadata': metadata, 'Content-Length': '0' },
    agent,
  );
  // tus 1.0.0, creation extension: the server MUST respond 201 Created with the upload URL in Location.
  if (created.status !== 201) throw new Error(`tus POST ${endpoint} returned ${created.status}: ${created.body}`);
  const location = new URL(headerValue(created, 'location'), endpoint);
  assertLoopback('tus upload URL', location.href);

  const chunkAckMs: number[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + chunkSize));
    const started = performance.now();
    const patched = await send(
      location,
      'PATCH',
      {
        ...extraHeaders,
        'Tus-Resumable': TUS_VERSION,
        'Upload-Offset': String(offset),
        'Content-Type': 'application/offset+octet-stream',
        'Content-Length': String(chunk.length),
      },
      agent,
      chunk,
    );
    progress.sent += chunk.length;
    // tus 1.0.0, PATCH: the server MUST respond 204 No Content with the new Upload-Offset.
    if (patched.status !== 204) throw new Error(`tus PATCH ${location.href} at offset ${offset} returned ${patched.status}: ${patched.body}`);
    const newOffset = Number(headerValue(patched, 'upload-offset'));
    if (newOffset !== offset + chunk.length) throw new Error(`tus PATCH ${location.href}: Upload-Offset ${newOffset}, expected ${offset + chunk.length}`);
    chunkAckMs.push(performance.now() - started);
    offset = newOffset;
  }
  return { location: location.href, chunkAckMs, bytesSent: progress.sent };
}
