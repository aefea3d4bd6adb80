// Paths into the shared test corpus (photos, hostile files), read in place.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { loadConfig } from '../nodes/common/config.js';

const dir = loadConfig({ SHOEBOX_S3_ACCESS_KEY_ID: 'unused', SHOEBOX_S3_SECRET_ACCESS_KEY: 'unused' }).corpusDir;
if (!existsSync(dir)) throw new Error(`test corpus not found at ${dir}; set SHOEBOX_CORPUS_DIR to the corpus folder`);

export const corpusDir = dir;

export function corpusFile(relative: string): string {
  const path = join(dir, relative);
  if (!existsSync(path)) throw new Error(`corpus file ${path} is missing`);
  return path;
}
