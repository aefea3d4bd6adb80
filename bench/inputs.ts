// Bench inputs, named by a spec string (the --input option):
//   random:SIZE     pseudo-random bytes from the seed. Not an image, so the
//                   node scans it and then fails it as NOT_AN_IMAGE.
//   jpeg:WxH        a JPEG of W x H pixels generated from the seed with sharp
//                   (smooth random colour fields plus noise, quality 85)
//   corpus          every JPEG and PNG photo in the corpus (photos/)
//   corpus:A,B      the named corpus files, relative to photos/ or the corpus root
//   corpus@WxH      corpus photos of exactly W x H pixels (as stored, before EXIF orientation)
// Corpus files are read in place, never copied.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

import sharp from 'sharp';

import { Rng, deriveSeed } from './rng.js';
import type { UploadInput } from './transports/types.js';
import { parseSize } from './units.js';

export type InputSpec =
  | { kind: 'random'; size: number; text: string }
  | { kind: 'jpeg'; width: number; height: number; text: string }
  | { kind: 'corpus'; names: string[]; text: string }
  | { kind: 'corpus-dimensions'; width: number; height: number; text: string };

/** Corpus photos that the node does not accept, left out of `corpus`. */
const CORPUS_EXCLUDED = new Set(['truncated-real.jpg']);
const CORPUS_TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png' };

function parseDimensions(text: string, spec: string): { width: number; height: number } {
  const match = /^(\d+)x(\d+)$/.exec(text);
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  if (!match || width < 1 || height < 1 || width > 16_384 || height > 16_384) {
    throw new Error(`invalid input "${spec}": dimensions must look like 2560x1600, each from 1 to 16384`);
  }
  return { width, height };
}

/** Parses one --input spec; throws with the accepted forms on anything else. */
export function parseInputSpec(text: string): InputSpec {
  const trimmed = text.trim();
  if (trimmed.startsWith('random:')) return { kind: 'random', size: parseSize(trimmed.slice(7)), text: trimmed };
  if (trimmed.startsWith('jpeg:')) return { kind: 'jpeg', ...parseDimensions(trimmed.slice(5), trimmed), text: trimmed };
  if (trimmed === 'corpus') return { kind: 'corpus', names: [], text: trimmed };
  if (trimmed.startsWith('corpus@')) return { kind: 'corpus-dimensions', ...parseDimensions(trimmed.slice(7), trimmed), text: trimmed };
  if (trimmed.startsWith('corpus:')) {
    const names = trimmed.slice(7).split(',').map((name) => name.trim()).filter(Boolean);
    if (names.length === 0) throw new Error(`invalid input "${trimmed}": name at least one corpus file after "corpus:"`);
    return { kind: 'corpus', names, text: trimmed };
  }
  throw new Error(`invalid input "${text}": expected random:SIZE, jpeg:WxH, corpus, corpus:NAME[,NAME] or corpus@WxH`);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Returns `size` pseudo-random bytes; the same seed and index give the same bytes. */
export function randomBytesFor(seed: number, size: number, index: number): Buffer {
  return Buffer.from(new Rng(deriveSeed(seed, `random:${size}`, index)).fill(new Uint8Array(size)).buffer);
}

/**
 * Generates a W x H JPEG: a coarse grid of random colours, enlarged with
 * bicubic interpolation into smooth fields, plus light per-pixel noise, so it
 * compresses roughly like a photo rather than like pure noise.
 */
export async function generateJpeg(seed: number, width: number, height: number, index: number): Promise<Buffer> {
  const rng = new Rng(deriveSeed(seed, `jpeg:${width}x${height}`, index));
  const gridWidth = Math.max(2, Math.round(width / 160));
  const gridHeight = Math.max(2, Math.round(height / 160));
  const grid = rng.fill(new Uint8Array(gridWidth * gridHeight * 3));
  const smooth = await sharp(grid, { raw: { width: gridWidth, height: gridHeight, channels: 3 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
  for (let i = 0; i < smooth.length; i++) smooth[i] = Math.max(0, Math.min(255, smooth[i]! + (rng.nextUint32() % 17) - 8));
  return sharp(smooth, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

function corpusPhotos(corpusDir: string): string[] {
  const dir = join(corpusDir, 'photos');
  if (!existsSync(dir)) throw new Error(`corpus photos not found at ${dir}; set SHOEBOX_CORPUS_DIR to the corpus folder`);
  return readdirSync(dir)
    .filter((name) => CORPUS_TYPES[extname(name).toLowerCase()] && !CORPUS_EXCLUDED.has(name))
    .sort()
    .map((name) => `photos/${name}`);
}

function corpusInput(corpusDir: string, name: string): UploadInput {
  const candidates = [join(corpusDir, name), join(corpusDir, 'photos', name)];
  const path = candidates.find((candidate) => existsSync(candidate));
  if (!path) throw new Error(`corpus file "${name}" not found in ${corpusDir} or its photos/ folder`);
  const bytes = readFileSync(path);
  return { name: name.startsWith('photos/') ? name : `photos/${name}`, bytes, sha256: sha256(bytes), contentType: CORPUS_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream' };
}

/**
 * Builds the inputs of a run: `distinct` different items for each generated
 * spec, and every matching file for each corpus spec. Uploads use them in
 * turn (upload i gets input i modulo the count).
 */
export async function buildInputs(specs: InputSpec[], options: { seed: number; distinct: number; corpusDir: string }): Promise<UploadInput[]> {
  const inputs: UploadInput[] = [];
  for (const spec of specs) {
    switch (spec.kind) {
      case 'random':
        for (let i = 0; i < options.distinct; i++) {
          const bytes = randomBytesFor(options.seed, spec.size, i);
          inputs.push({ name: `${spec.text}#${i}`, bytes, sha256: sha256(bytes), contentType: 'application/octet-stream' });
        }
        break;
      case 'jpeg':
        for (let i = 0; i < options.distinct; i++) {
          const bytes = await generateJpeg(options.seed, spec.width, spec.height, i);
          inputs.push({ name: `${spec.text}#${i}`, bytes, sha256: sha256(bytes), contentType: 'image/jpeg' });
        }
        break;
      case 'corpus': {
        const names = spec.names.length > 0 ? spec.names : corpusPhotos(options.corpusDir);
        for (const name of names) inputs.push(corpusInput(options.corpusDir, name));
        break;
      }
      case 'corpus-dimensions': {
        let found = 0;
        for (const name of corpusPhotos(options.corpusDir)) {
          const input = corpusInput(options.corpusDir, name);
          const metadata = await sharp(input.bytes).metadata();
          if (metadata.width === spec.width && metadata.height === spec.height) {
            inputs.push(input);
            found++;
          }
        }
        if (found === 0) throw new Error(`input "${spec.text}": no corpus photo in ${options.corpusDir}/photos is ${spec.width}x${spec.height}`);
        break;
      }
    }
  }
  if (inputs.length === 0) throw new Error('no inputs: give at least one --input');
  return inputs;
}
