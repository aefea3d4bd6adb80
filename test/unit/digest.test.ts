import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';

import { crc32c } from '@node-rs/crc32';

import { UploadDigest, digestStream } from '../../actors/digest.js';
import { verifyStoredBytes } from '../../actors/pipeline.js';

const bytes = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) & 0xff));
const expected = { sha256: createHash('sha256').update(bytes).digest('hex'), crc32c: crc32c(bytes) >>> 0 };

describe('UploadDigest', () => {
  it('matches one-shot checksums when fed in pieces', () => {
    const digest = UploadDigest.create();
    for (let start = 0; start < bytes.length; start += 7_777) digest.update(bytes.subarray(start, start + 7_777));
    assert.deepEqual(digest.digest(), expected);
  });

  it('copies keep their own state', () => {
    const digest = UploadDigest.create();
    digest.update(bytes.subarray(0, 50_000));
    const copy = digest.copy();
    copy.update(Buffer.from('extra bytes'));
    digest.update(bytes.subarray(50_000));
    assert.deepEqual(digest.digest(), expected);
  });

  it('digests a stream like a buffer', async () => {
    assert.deepEqual(await digestStream(Readable.from([bytes.subarray(0, 3), bytes.subarray(3)])), expected);
  });
});

describe('verifyStoredBytes', () => {
  const item = { mediaId: 'm-1', length: bytes.length, crc32c: expected.crc32c };

  it('accepts the bytes that were received', () => {
    assert.doesNotThrow(() => verifyStoredBytes(item, bytes));
  });

  it('rejects a changed byte', () => {
    const changed = Buffer.from(bytes);
    changed.writeUInt8(changed.readUInt8(10) ^ 1, 10);
    assert.throws(() => verifyStoredBytes(item, changed), { code: 'STORED_OBJECT_CORRUPT' });
  });

  it('rejects a different length', () => {
    assert.throws(() => verifyStoredBytes(item, bytes.subarray(1)), /has 99999 bytes/);
  });

  it('skips items without a recorded CRC-32C', () => {
    assert.doesNotThrow(() => verifyStoredBytes({ ...item, crc32c: undefined }, Buffer.from('x')));
  });
});
