// Image inspection and variant generation: pure functions over bytes, with
// no storage access, so they are unit-tested on the corpus directly.

import exifr from 'exifr';
import { fileTypeFromBuffer } from 'file-type';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import UTIF, { type IFD } from 'utif';

import {
  ImageCorruptError,
  ImageTooLargeError,
  NotAnImageError,
  UnsupportedFormatError,
  messageOf,
} from '../nodes/common/errors.js';
import type { GpsRecord, PublicExif } from '../storage/media.js';

/** Formats the bundled libvips decodes, by the MIME type file-type reports. */
const DECODABLE: Record<string, string> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/tiff': 'tiff',
  'image/avif': 'avif',
};

/** libvips repeats its warnings; keep each distinct line once. */
function decoderMessage(error: unknown): string {
  const lines = messageOf(error).split('\n').map((line) => line.trim()).filter(Boolean);
  return [...new Set(lines)].join('; ');
}

export interface ImageInfo {
  /** Sniffed MIME type, for example "image/jpeg". */
  contentType: string;
  format: string;
  /**
   * Pixels decoded by UTIF when libvips cannot read a TIFF (it rejects
   * planar 64-bit float samples, for one): the first page as 8-bit RGBA.
   */
  fallbackRgba?: { data: Buffer; width: number; height: number };
  /** Dimensions after applying the EXIF orientation. */
  width: number;
  height: number;
  exif: PublicExif;
  gps: GpsRecord | undefined;
}

export interface RenderedVariant {
  name: string;
  contentType: string;
  width: number;
  height: number;
  bytes: Buffer;
}

function describeNonImage(bytes: Buffer, mime: string | undefined): string {
  if (mime) return mime;
  const head = bytes.subarray(0, 512);
  const printable = head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 128);
  return printable ? 'text' : 'unrecognised binary data';
}

/**
 * Sniffs the format from the bytes and reads the header: rejects non-images,
 * formats this build cannot decode, and images above `maxPixels`, all before
 * any pixel is decoded.
 */
export async function inspectImage(bytes: Buffer, maxPixels: number): Promise<ImageInfo> {
  const type = await fileTypeFromBuffer(bytes);
  if (!type || !type.mime.startsWith('image/')) throw new NotAnImageError(describeNonImage(bytes, type?.mime));
  if (type.mime === 'image/heic' || type.mime === 'image/heif') {
    throw new UnsupportedFormatError('HEIC', 'HEVC decoding is not available in the bundled libvips; convert to JPEG or AVIF');
  }
  const format = DECODABLE[type.mime];
  if (!format) throw new UnsupportedFormatError(type.mime, 'only JPEG, PNG, WebP, GIF, TIFF and AVIF are accepted');

  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    if (format === 'tiff') return inspectTiffFallback(bytes, maxPixels, decoderMessage(error));
    throw new ImageCorruptError(format, decoderMessage(error));
  }
  const rawWidth = meta.width ?? 0;
  const rawHeight = meta.height ?? 0;
  if (rawWidth === 0 || rawHeight === 0) throw new ImageCorruptError(format, 'header declares no dimensions');
  if (rawWidth * rawHeight > maxPixels) throw new ImageTooLargeError(rawWidth, rawHeight, maxPixels);

  const orientation = meta.orientation ?? 0;
  const swap = orientation >= 5 && orientation <= 8;
  const { exif, gps } = await readExif(bytes, orientation);
  return {
    contentType: type.mime,
    format,
    width: swap ? rawHeight : rawWidth,
    height: swap ? rawWidth : rawHeight,
    exif,
    gps,
  };
}

function inspectTiffFallback(bytes: Buffer, maxPixels: number, libvipsMessage: string): ImageInfo {
  let first: IFD | undefined;
  try {
    first = UTIF.decode(bytes)[0];
  } catch {
    first = undefined;
  }
  // Tags 256 and 257 (ImageWidth, ImageLength) come from the header alone.
  const width = Number((first?.['t256'] as number[] | undefined)?.[0] ?? 0);
  const height = Number((first?.['t257'] as number[] | undefined)?.[0] ?? 0);
  if (!first || !(width > 0) || !(height > 0)) throw new ImageCorruptError('tiff', libvipsMessage);
  if (width * height > maxPixels) throw new ImageTooLargeError(width, height, maxPixels);
  try {
    UTIF.decodeImage(bytes, first);
    const rgba = UTIF.toRGBA8(first);
    const data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
    if (data.length !== width * height * 4) throw new Error(`decoded ${data.length} bytes for ${width}x${height}`);
    return {
      contentType: 'image/tiff',
      format: 'tiff',
      width,
      height,
      exif: {},
      gps: undefined,
      fallbackRgba: { data, width, height },
    };
  } catch (error) {
    throw new ImageCorruptError('tiff', `${libvipsMessage}; UTIF: ${messageOf(error)}`);
  }
}

/** "2019:05:12 14:33:10" plus "+02:00" -> "2019-05-12T14:33:10+02:00". */
export function formatCaptureTime(raw: unknown, offset: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const match = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(raw.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match;
  const zone = typeof offset === 'string' && /^[+-]\d{2}:\d{2}$/.test(offset.trim()) ? offset.trim() : '';
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${zone}`;
}

function cleanText(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  // Camera firmware pads strings with NUL and sometimes leaves bytes after it.
  const text = value.split('\0')[0]!.trim();
  return text === '' ? undefined : text;
}

async function readExif(bytes: Buffer, orientation: number): Promise<{ exif: PublicExif; gps: GpsRecord | undefined }> {
  const exif: PublicExif = {};
  if (orientation > 0) exif.orientation = orientation;
  let tags: Record<string, unknown> | undefined;
  try {
    tags = (await exifr.parse(bytes, { tiff: true, exif: true, gps: true, reviveValues: false, translateValues: false })) as
      | Record<string, unknown>
      | undefined;
  } catch {
    // EXIF is optional: a photo with a broken EXIF block is still a photo.
    return { exif, gps: undefined };
  }
  if (!tags) return { exif, gps: undefined };

  const make = cleanText(tags['Make']);
  const model = cleanText(tags['Model']);
  const capturedAt = formatCaptureTime(tags['DateTimeOriginal'] ?? tags['CreateDate'], tags['OffsetTimeOriginal'] ?? tags['OffsetTime']);
  if (make) exif.make = make;
  if (model) exif.model = model;
  if (capturedAt) exif.capturedAt = capturedAt;

  let gps: GpsRecord | undefined;
  try {
    const position = await exifr.gps(bytes);
    if (position && Number.isFinite(position.latitude) && Number.isFinite(position.longitude)) {
      gps = { latitude: position.latitude, longitude: position.longitude };
      const altitude = tags['GPSAltitude'];
      if (typeof altitude === 'number') gps.altitude = altitude;
    }
  } catch {
    gps = undefined;
  }
  return { exif, gps };
}

/**
 * Renders every variant: decodes once to the largest size, applies the EXIF
 * orientation, converts to 8-bit sRGB, and derives the smaller sizes from
 * that. Output carries no metadata (sharp strips it unless asked to keep it).
 * Variants: `thumb-<size>.webp` for every size, plus `thumb-<middle>.jpg` for
 * clients without WebP.
 */
export async function renderVariants(bytes: Buffer, info: ImageInfo, sizes: number[], maxPixels: number): Promise<RenderedVariant[]> {
  const largest = Math.max(...sizes);
  let base: { data: Buffer; info: OutputInfo };
  try {
    const fallback = info.fallbackRgba;
    const input = fallback
      ? sharp(fallback.data, { raw: { width: fallback.width, height: fallback.height, channels: 4 } })
      : sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', pages: 1 });
    base = await input
      .autoOrient()
      .resize(largest, largest, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new ImageCorruptError(info.format, decoderMessage(error));
  }
  const raw = { width: base.info.width, height: base.info.height, channels: base.info.channels };
  const jpegSize = sizes[Math.floor(sizes.length / 2)] ?? largest;

  const jobs: Array<Promise<RenderedVariant>> = [];
  for (const size of sizes) {
    jobs.push(encode(base.data, raw, size, 'webp'));
    if (size === jpegSize) jobs.push(encode(base.data, raw, size, 'jpeg'));
  }
  return Promise.all(jobs);
}

async function encode(
  data: Buffer,
  raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 },
  size: number,
  format: 'webp' | 'jpeg',
): Promise<RenderedVariant> {
  let pipeline = sharp(data, { raw }).resize(size, size, { fit: 'inside', withoutEnlargement: true });
  pipeline = format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: 82 });
  const out = await pipeline.toBuffer({ resolveWithObject: true });
  return {
    name: `thumb-${size}.${format === 'webp' ? 'webp' : 'jpg'}`,
    contentType: format === 'webp' ? 'image/webp' : 'image/jpeg',
    width: out.info.width,
    height: out.info.height,
    bytes: out.data,
  };
}
