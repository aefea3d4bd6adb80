import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';

import { loadSync } from '@grpc/proto-loader';

import { loadConfig } from '../../nodes/common/config.js';
import { UploadRequest, UploadServiceService } from '../../proto/gen/shoebox/v1/upload.js';

const root = loadConfig({ SHOEBOX_S3_ACCESS_KEY_ID: 'unused', SHOEBOX_S3_SECRET_ACCESS_KEY: 'unused' }).rootDir;
const protoDir = join(root, 'proto');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

describe('generated protobuf code', () => {
  const out = mkdtempSync(join(tmpdir(), 'shoebox-proto-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('matches a fresh ts-proto run', () => {
    execFileSync('node', [join(root, 'node_modules/@bufbuild/buf/bin/buf'), 'generate', '--output', out], { cwd: protoDir, stdio: 'pipe' });
    const committed = join(protoDir, 'gen');
    const fresh = join(out, 'gen');
    assert.deepEqual(listFiles(fresh), listFiles(committed), 'same generated files');
    for (const file of listFiles(fresh)) {
      const same = readFileSync(join(fresh, file), 'utf8') === readFileSync(join(committed, file), 'utf8');
      assert.ok(same, `proto/gen/${file} is stale: run \`./deploy/task proto\` and commit the result`);
    }
  });

  it('agrees with proto-loader on every method', () => {
    const definition = loadSync(join(protoDir, 'shoebox/v1/upload.proto'), { keepCase: false });
    const service = definition['shoebox.v1.UploadService'] as Record<string, { path: string; requestStream: boolean; responseStream: boolean }>;
    const loaded = Object.values(service).map((m) => `${m.path} ${m.requestStream} ${m.responseStream}`).sort();
    const generated = Object.values(UploadServiceService).map((m) => `${m.path} ${m.requestStream} ${m.responseStream}`).sort();
    assert.deepEqual(generated, loaded);
  });
});

describe('Chunk decoding', () => {
  it('returns the data as a view of the message, without copying it', () => {
    const data = Buffer.alloc(256 * 1024, 7);
    const encoded = Buffer.from(UploadRequest.encode({ chunk: { offset: 42, data, crc32c: 9 } }).finish());
    const decoded = UploadRequest.decode(encoded);
    assert.equal(decoded.chunk?.data.length, data.length);
    assert.equal(decoded.chunk?.data.buffer, encoded.buffer, 'data shares the message buffer');
    assert.ok(encoded.buffer.byteLength - decoded.chunk.data.byteLength < 64, 'the rest of the buffer is framing');
  });
});
