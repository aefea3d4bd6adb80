// The HTTP edge (fastify): media JSON, variant bytes, metrics and health.

import type { S3Client } from '@aws-sdk/client-s3';
import swagger from '@fastify/swagger';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import type { MediaRepository } from '../../storage/media.js';
import { objectKeys, type ObjectStore } from '../../storage/s3.js';
import type { Config } from '../common/config.js';
import { MediaNotFoundError, RequestInvalidError, VariantNotFoundError, fromHttpError } from '../common/errors.js';
import { toPublicMedia } from '../common/media-view.js';
import { aggregateMetrics, type Metrics, type MetricsSnapshot } from '../common/metrics.js';
import type { WorkerPool } from '../../actors/pool.js';
import type { SessionRepository } from '../../storage/sessions.js';
import { requireUuid } from './grpc.js';
import { PAGE_PATH, registerPage } from './page.js';
import { registerRest } from './rest.js';
import { registerTus } from './tus.js';
import type { Authenticator } from '../common/auth.js';

export interface HttpDeps {
  config: Config;
  /** Snapshots of the worker threads' registries, summed into /metrics. */
  workerMetrics: () => Promise<MetricsSnapshot[]>;
  stagingWriter: S3Client | undefined;
  auth: Authenticator;
  pool: WorkerPool;
  sessions: SessionRepository;
  media: MediaRepository;
  store: ObjectStore;
  metrics: Metrics;
  log: Logger;
}

/** Routes that need no bearer token. */
const OPEN_PATHS = new Set(['/healthz', '/metrics', '/openapi.json', PAGE_PATH]);
const VARIANT_NAME = /^[a-z0-9-]+\.(webp|jpg)$/;
/** Variants never change once written (a new upload gets a new media id). */
const VARIANT_CACHE_CONTROL = 'public, max-age=31536000, immutable';

export async function createHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  const { config, auth, pool, sessions, media, store, metrics, log, stagingWriter, workerMetrics } = deps;
  // fastify logs each request at info; per-chunk request lines would drown
  // the event log, so its own logger only passes warnings and errors.
  const app = fastify({
    loggerInstance: log.child({ edge: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    // Reject unknown fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false } },
  });

  // Every route but health and metrics acts for the tenant of the bearer token.
  app.decorateRequest('tenant', '');
  app.addHook('onRequest', async (request) => {
    // CORS preflights and tus discovery (OPTIONS) carry no credentials.
    if (request.method === 'OPTIONS' || OPEN_PATHS.has(request.url) || request.url.startsWith(`${PAGE_PATH}/`)) return;
    request.tenant = await auth.tenantOf(request.headers.authorization);
  });

  // Registered before any route, so every route's schema lands in the document.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Shoebox HTTP API', version: '1', description: 'REST chunk uploads, presigned direct uploads and media. tus 1.0.0 is served at /files/.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.setErrorHandler((error, request, reply) => {
    const shoeboxError = fromHttpError(error);
    if (shoeboxError.httpStatus >= 500) log.error({ event: 'request_failed', url: request.url, err: error }, shoeboxError.message);
    void reply.status(shoeboxError.httpStatus).send({ error: { code: shoeboxError.code, message: shoeboxError.message } });
  });

  registerTus(app, { config, pool, sessions, metrics, log });
  registerRest(app, { config, pool, sessions, metrics, stagingWriter });

  registerPage(app);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', async () => ({ status: 'ok', node: config.nodeName }));

  app.get('/metrics', async (_request, reply) => {
    const { contentType, text } = await aggregateMetrics(metrics.registry, await workerMetrics());
    void reply.header('content-type', contentType);
    return text;
  });

  app.get<{ Params: { id: string } }>('/media/:id', async (request) => {
    const mediaId = requireUuid('media id', request.params.id);
    const record = await media.get(mediaId);
    if (!record || record.tenant !== request.tenant) throw new MediaNotFoundError(mediaId);
    return toPublicMedia(record, config.publicBaseUrl);
  });

  app.get<{ Params: { id: string; variant: string } }>('/media/:id/:variant', async (request, reply) => {
    const mediaId = requireUuid('media id', request.params.id);
    const name = request.params.variant;
    if (!VARIANT_NAME.test(name)) throw new RequestInvalidError('variant', name, 'must look like thumb-256.webp');
    const record = await media.get(mediaId);
    if (!record || record.tenant !== request.tenant) throw new MediaNotFoundError(mediaId);
    const variant = record.status === 'ready' ? record.variants.find((v) => v.name === name) : undefined;
    if (!variant) {
      metrics.variantRequests.inc({ result: 'miss' });
      throw new VariantNotFoundError(mediaId, name);
    }
    const etag = variant.etag || `"${record.sha256}-${name}"`;
    void reply.header('etag', etag).header('cache-control', VARIANT_CACHE_CONTROL);
    if (request.headers['if-none-match'] === etag) {
      metrics.variantRequests.inc({ result: 'hit' });
      return reply.status(304).send();
    }
    const object = await store.getObject(config.s3.canonicalBucket, objectKeys.variant(mediaId, name));
    if (!object) {
      metrics.variantRequests.inc({ result: 'miss' });
      throw new VariantNotFoundError(mediaId, name);
    }
    metrics.variantRequests.inc({ result: 'served' });
    void reply.header('content-type', variant.contentType).header('content-length', object.length);
    return reply.send(object.body);
  });

  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Tenant of the request's bearer token; '' on unauthenticated routes. */
    tenant: string;
  }
}
