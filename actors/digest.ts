// The checksums of a whole upload, computed in one pass over its bytes:
// SHA-256 for the client (declared and returned), CRC-32C for the pipeline,
// which checks the staging object it reads back against it before publishing.

import { createHash, type Hash } from 'node:crypto';

import { crc32c } from '@node-rs/crc32';

export interface Digest {
  /** Lowercase hex. */
  sha256: string;
  /** CRC-32C (Castagnoli) as an unsigned 32-bit integer. */
  crc32c: number;
}

export class UploadDigest {
  private constructor(
    private readonly hash: Hash,
    private crc: number,
  ) {}

  static create(): UploadDigest {
    return new UploadDigest(createHash('sha256'), 0);
  }

  update(bytes: Buffer): void {
    this.hash.update(bytes);
    this.crc = crc32c(bytes, this.crc);
  }

  copy(): UploadDigest {
    return new UploadDigest(this.hash.copy(), this.crc);
  }

  /** Finishes the digest. The instance cannot be updated afterwards. */
  digest(): Digest {
    return { sha256: this.hash.digest('hex'), crc32c: this.crc >>> 0 };
  }
}

/** Computes both checksums of a stream of buffers, such as an object body. */
export async function digestStream(body: AsyncIterable<unknown>): Promise<Digest> {
  const digest = UploadDigest.create();
  for await (const piece of body) digest.update(piece as Buffer);
  return digest.digest();
}
