// Prometheus metrics. The main thread counts what crosses the edges (uploads,
// chunks, variant requests); each worker thread counts its pipeline results
// in a registry of its own. GET /metrics serves the sum of all of them.

import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export type MetricsSnapshot = Array<MetricObjectWithValues<MetricValue<string>>>;

/** Metrics of one worker thread's pipeline. */
export interface PipelineMetrics {
  registry: Registry;
  /** Media items that reached ready, quarantined or failed. */
  mediaFinished: Counter<'status'>;
  /** Time from the upload's start to a final status. */
  processingSeconds: Histogram<'status'>;
  /** This worker's V8 heap and off-heap memory, read at each scrape. */
  workerMemory: Gauge<'worker' | 'kind'>;
}

/** Creates the registry of one worker thread; `worker` labels its memory figures. */
export function createPipelineMetrics(worker: number): PipelineMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    workerMemory: new Gauge({
      name: 'shoebox_worker_memory_bytes',
      help: "A worker thread's memory by kind: heap_used and heap_total (its V8 heap), external and array_buffers (off-heap, held by its objects)",
      labelNames: ['worker', 'kind'],
      registers,
      collect() {
        // In a worker thread, memoryUsage() reports that thread's isolate (rss is the whole process).
        const usage = process.memoryUsage();
        const label = String(worker);
        this.set({ worker: label, kind: 'heap_used' }, usage.heapUsed);
        this.set({ worker: label, kind: 'heap_total' }, usage.heapTotal);
        this.set({ worker: label, kind: 'external' }, usage.external);
        this.set({ worker: label, kind: 'array_buffers' }, usage.arrayBuffers);
      },
    }),
    mediaFinished: new Counter({ name: 'shoebox_media_finished_total', help: 'Media items that reached a final status', labelNames: ['status'], registers }),
    processingSeconds: new Histogram({
      name: 'shoebox_processing_seconds',
      help: 'Time from the start of an upload to its media item reaching a final status',
      labelNames: ['status'],
      buckets: [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
      registers,
    }),
  };
}

/** Sums the main thread's registry and the workers' snapshots into Prometheus text. */
export async function aggregateMetrics(main: Registry, workers: MetricsSnapshot[]): Promise<{ contentType: string; text: string }> {
  const merged = AggregatorRegistry.aggregate([(await main.getMetricsAsJSON()) as MetricsSnapshot, ...workers]);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

export interface Metrics {
  registry: Registry;
  uploadsStarted: Counter<'api'>;
  uploadsFinished: Counter<'api' | 'result'>;
  chunksRejected: Counter<'code'>;
  chunkRetries: Counter<'api'>;
  bytesReceived: Counter<'api'>;
  processingBacklog: Gauge;
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
