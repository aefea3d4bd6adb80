import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

import exifr from 'exifr';
import sharp from 'sharp';

import { formatCaptureTime, inspectImage, renderVariants } from '../../actors/imaging.js';
import { ShoeboxError } from '../../nodes/common/errors.js';
import { corpusFile } from '../corpus.js';

const MAX_PIXELS = 100_000_000;
const SIZES = [256, 1024, 2048];

async function load(name: string): Promise<Buffer> {
  return readFile(corpusFile(name));
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ShoeboxError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ShoeboxError, `expected a ShoeboxError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

describe('inspectImage', () => {
  it('reads camera EXIF from a phone photo', async () => {
    const info = await inspectImage(await load('photos/nokia-n9-waterside.jpg'), MAX_PIXELS);
    assert.equal(info.contentType, 'image/jpeg');
    assert.equal(info.exif.make, 'Nokia');
    assert.ok(info.exif.model, 'model extracted');
    assert.match(info.exif.capturedAt ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
  });

  it('keeps GPS apart from the public EXIF', async () => {
    const info = await inspectImage(await load('photos/sony-nex3n-cups-gps-progressive.jpg'), MAX_PIXELS);
    assert.ok(info.gps, 'GPS extracted');
    assert.ok(Math.abs(info.gps.latitude - 56.156) < 0.01, `latitude ${info.gps.latitude}`);
    assert.ok(Math.abs(info.gps.longitude - 10.208) < 0.01, `longitude ${info.gps.longitude}`);
    assert.ok(!JSON.stringify(info.exif).toLowerCase().includes('gps'));
    assert.ok(!JSON.stringify(info.exif).includes('56.15'));
  });

  for (const name of ['orientation-6-olympus.jpg', 'orientation-8-canon.jpg']) {
    it(`reports ${name} as portrait`, async () => {
      const info = await inspectImage(await load(`photos/${name}`), MAX_PIXELS);
      assert.equal(info.width, 1600);
      assert.equal(info.height, 2560);
    });
  }

  it('rejects text named .jpg as not an image', async () => {
    const error = await rejectsWith(inspectImage(await load('bad/text-named.jpg'), MAX_PIXELS), 'NOT_AN_IMAGE');
    assert.match(error.message, /text/);
  });

  it('rejects a decompression bomb from its header', async () => {
    const started = Date.now();
    const error = await rejectsWith(inspectImage(await load('bad/bomb-40000x40000.png'), MAX_PIXELS), 'IMAGE_TOO_LARGE');
    assert.match(error.message, /40000x40000/);
    // Generous bound: the point is that nothing was decoded, which would take minutes.
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  it('rejects an empty buffer as not an image', async () => {
    await rejectsWith(inspectImage(Buffer.alloc(0), MAX_PIXELS), 'NOT_AN_IMAGE');
  });

  it('rejects HEIC with a clear unsupported reason', async () => {
    const error = await rejectsWith(inspectImage(await load('photos/chelsea.heic'), MAX_PIXELS), 'UNSUPPORTED_FORMAT');
    assert.match(error.message, /HEIC/);
  });
});

describe('renderVariants', () => {
  it('makes portrait variants without EXIF for orientation 6', async () => {
    const bytes = await load('photos/orientation-6-olympus.jpg');
    const info = await inspectImage(bytes, MAX_PIXELS);
    const variants = await renderVariants(bytes, info, SIZES, MAX_PIXELS);
    assert.deepEqual(variants.map((v) => v.name).sort(), ['thumb-1024.jpg', 'thumb-1024.webp', 'thumb-2048.webp', 'thumb-256.webp']);
    for (const variant of variants) {
      const meta = await sharp(variant.bytes).metadata();
      assert.ok(meta.height! > meta.width!, `${variant.name} is ${meta.width}x${meta.height}`);
      assert.equal(meta.orientation, undefined, `${variant.name} has no Orientation tag`);
      assert.equal(meta.exif, undefined, `${variant.name} has no EXIF block`);
      assert.equal(Math.max(meta.width!, meta.height!), Number(/(\d+)/.exec(variant.name)![1]));
    }
  });

  it('strips GPS from every variant', async () => {
    const bytes = await load('photos/sony-nex3n-cups-gps-progressive.jpg');
    const info = await inspectImage(bytes, MAX_PIXELS);
    for (const variant of await renderVariants(bytes, info, SIZES, MAX_PIXELS)) {
      assert.equal(await exifr.gps(variant.bytes).catch(() => undefined), undefined, `${variant.name} has GPS`);
      assert.equal((await sharp(variant.bytes).metadata()).exif, undefined);
    }
  });

  it('converts CMYK and 16-bit grey to 8-bit sRGB', async () => {
    for (const name of ['photos/cmyk-rocket.jpg', 'photos/gray16.tif']) {
      const bytes = await load(name);
      const info = await inspectImage(bytes, MAX_PIXELS);
      const [variant] = await renderVariants(bytes, info, [256], MAX_PIXELS);
      const meta = await sharp(variant!.bytes).metadata();
      assert.equal(meta.space, 'srgb', `${name}: ${meta.space}`);
      assert.equal(meta.depth, 'uchar', `${name}: ${meta.depth}`);
    }
  });

  it('does not enlarge small images', async () => {
    const bytes = await load('photos/animated-tiny.gif');
    const info = await inspectImage(bytes, MAX_PIXELS);
    const variants = await renderVariants(bytes, info, SIZES, MAX_PIXELS);
    for (const variant of variants) assert.ok(variant.width <= info.width && variant.height <= info.height);
  });

  it('rejects a truncated JPEG as corrupt', async () => {
    const bytes = await load('photos/truncated-real.jpg');
    const error = await rejectsWith(
      inspectImage(bytes, MAX_PIXELS).then((info) => renderVariants(bytes, info, SIZES, MAX_PIXELS)),
      'IMAGE_CORRUPT',
    );
    assert.match(error.message, /premature end/);
  });
});

describe('formatCaptureTime', () => {
  it('adds the recorded offset', () => {
    assert.equal(formatCaptureTime('2019:05:12 14:33:10', '+02:00'), '2019-05-12T14:33:10+02:00');
  });
  it('leaves the zone out when none was recorded', () => {
    assert.equal(formatCaptureTime('2019:05:12 14:33:10', undefined), '2019-05-12T14:33:10');
  });
  it('ignores malformed values', () => {
    assert.equal(formatCaptureTime('yesterday', '+02:00'), undefined);
    assert.equal(formatCaptureTime(42, undefined), undefined);
  });
});

describe('TIFF that libvips cannot read', () => {
  it('renders the first page of a 64-bit planar TIFF', async () => {
    const bytes = await load('photos/multipage-rgb.tif');
    const info = await inspectImage(bytes, MAX_PIXELS);
    assert.equal(info.contentType, 'image/tiff');
    assert.deepEqual([info.width, info.height], [10, 10]);
    const variants = await renderVariants(bytes, info, SIZES, MAX_PIXELS);
    const meta = await sharp(variants[0]!.bytes).metadata();
    assert.deepEqual([meta.width, meta.height], [10, 10]);
  });

  it('applies the pixel limit before decoding', async () => {
    await rejectsWith(inspectImage(await load('photos/multipage-rgb.tif'), 99), 'IMAGE_TOO_LARGE');
  });
});
