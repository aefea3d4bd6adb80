// Prometheus metrics. Worker threads keep their own registry; the main thread
// serves its own registry on GET /metrics.
// TODO: aggregate worker-thread registries into /metrics (prom-client AggregatorRegistry is cluster-only).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  uploadsStarted: Counter<'api'>;
  uploadsFinished: Counter<'api' | 'result'>;
  chunksRejected: Counter<'code'>;
  chunkRetries: Counter<'api'>;
  bytesReceived: Counter<'api'>;
  processingBacklog: Gauge;
  mediaFinished: Counter<'status'>;
  variantRequests: Counter<'result'>;
  chunkAckSeconds: Histogram<'api'>;
}

/** `backlog` reports the processing backlog when /metrics is scraped. */
export function createMetrics(withDefaults: boolean, backlog?: () => Promise<number>): Metrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    uploadsStarted: new Counter({ name: 'shoebox_uploads_started_total', help: 'Uploads started, by API', labelNames: ['api'], registers }),
    uploadsFinished: new Counter({
      name: 'shoebox_uploads_finished_total',
      help: 'Uploads whose stream ended, by API and result (received or the error code)',
      labelNames: ['api', 'result'],
      registers,
    }),
    chunksRejected: new Counter({ name: 'shoebox_chunks_rejected_total', help: 'Chunks rejected, by error code', labelNames: ['code'], registers }),
    chunkRetries: new Counter({
      name: 'shoebox_chunk_retries_total',
      help: 'Resumed sessions: a client sent a resume for an existing upload',
      labelNames: ['api'],
      registers,
    }),
    bytesReceived: new Counter({ name: 'shoebox_bytes_received_total', help: 'Chunk bytes accepted, by API', labelNames: ['api'], registers }),
    processingBacklog: new Gauge({
      name: 'shoebox_processing_backlog',
      help: 'Media items received but not yet ready, quarantined or failed, on this node',
      registers,
      async collect() {
        if (backlog) this.set(await backlog());
      },
    }),
    mediaFinished: new Counter({ name: 'shoebox_media_finished_total', help: 'Media items that reached a final status', labelNames: ['status'], registers }),
    variantRequests: new Counter({
      name: 'shoebox_variant_requests_total',
      help: 'Variant GETs by result: hit (304 from the edge validator), served (200) or miss (404)',
      labelNames: ['result'],
      registers,
    }),
    chunkAckSeconds: new Histogram({
      name: 'shoebox_chunk_ack_seconds',
      help: 'Time from a chunk arriving to its acknowledgement',
      labelNames: ['api'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}
