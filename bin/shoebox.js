#!/usr/bin/env node
// Runs the compiled CLI; `task build` (or `npm run build`) produces it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/nodes/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('shoebox: dist/ is missing; run `npm run build` in the checkout first\n');
  process.exit(2);
}
await import(entry.href);
