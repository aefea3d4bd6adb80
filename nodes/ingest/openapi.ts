// Prints the HTTP API's OpenAPI document, built from the route schemas
// (`./deploy/task openapi` writes it to docs/openapi.json). No route runs,
// so the dependencies are placeholders.

import { pino } from 'pino';

import type { HttpDeps } from './http.js';
import { createHttpServer } from './http.js';
import { loadConfig } from '../common/config.js';
import { createMetrics } from '../common/metrics.js';

export async function buildOpenApiDocument(): Promise<unknown> {
  const config = loadConfig({ SHOEBOX_S3_ACCESS_KEY_ID: 'unused', SHOEBOX_S3_SECRET_ACCESS_KEY: 'unused' });
  const unused = {} as never;
  const deps: HttpDeps = {
    config,
    workerMetrics: async () => [],
    stagingWriter: undefined,
    auth: unused,
    pool: unused,
    sessions: unused,
    media: unused,
    store: unused,
    metrics: createMetrics(false),
    log: pino({ level: 'silent' }),
  };
  const app = await createHttpServer(deps);
  await app.ready();
  const document = app.swagger();
  await app.close();
  return document;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  process.stdout.write(`${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`);
}
