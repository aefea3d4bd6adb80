// The processing pipeline after an upload is received: scan the staging
// object with clamd, then inspect it, render the variants and promote it to
// the canonical bucket; infected objects move to quarantine instead. Every
// step records the media status first, so a restarted node knows where to
// pick up (the pending_media queue lists what is not final yet).

import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { crc32c } from '@node-rs/crc32';
import NodeClam from 'clamscan';
import type { Logger } from 'pino';

import type { Config } from '../nodes/common/config.js';
import type { PipelineMetrics } from '../nodes/common/metrics.js';
import { MalwareDetectedError, ScanFailedError, ShoeboxError, StoredObjectCorruptError, messageOf } from '../nodes/common/errors.js';
import { FINAL_STATUSES, type MediaRecord, type MediaRepository, type VariantRecord } from '../storage/media.js';
import { objectKeys, type ObjectStore } from '../storage/s3.js';
import { inspectImage, renderVariants } from './imaging.js';

export interface PipelineDeps {
  config: Config;
  media: MediaRepository;
  store: ObjectStore;
  log: Logger;
  metrics: PipelineMetrics;
}

export type ScanVerdict = { clean: true } | { clean: false; signature: string };

/** Scans a stream with clamd over TCP (INSTREAM). Fails closed: anything but a clear verdict throws. */
export class Scanner {
  private clam: Promise<NodeClam> | undefined;

  constructor(private readonly config: Config['clamd']) {}

  async scan(stream: NodeJS.ReadableStream): Promise<ScanVerdict> {
    this.clam ??= new NodeClam().init({
      removeInfected: false,
      quarantineInfected: false,
      debugMode: false,
      clamscan: { active: false },
      clamdscan: {
        host: this.config.host,
        port: this.config.port,
        socket: false,
        localFallback: false,
        timeout: this.config.timeoutMs,
        active: true,
        bypassTest: false,
      },
      preference: 'clamdscan',
    });
    let clam: NodeClam;
    try {
      clam = await this.clam;
    } catch (error) {
      this.clam = undefined;
      throw error;
    }
    const result = await clam.scanStream(stream as never);
    // clamscan resolves with isInfected null for an empty stream, a timeout or
    // a response it could not parse. None of those is "clean".
    if (result.isInfected === false) return { clean: true };
    if (result.isInfected === true) return { clean: false, signature: result.viruses.join(', ') || 'unknown signature' };
    throw new Error(`clamd gave no verdict (${String((result as { resultString?: string }).resultString ?? 'no answer').trim()})`);
  }
}

/** Size of the pieces a buffer is streamed to clamd in. */
const SCAN_SLICE_BYTES = 256 * 1024;

function* slices(bytes: Buffer, size: number): Generator<Buffer> {
  for (let start = 0; start < bytes.length; start += size) yield bytes.subarray(start, start + size);
}

/** Exponential backoff with a cap: 0.5 s, 1 s, 2 s, 4 s ... 8 s. */
export function backoffMs(attempt: number): number {
  return Math.min(8_000, 500 * 2 ** (attempt - 1));
}

/**
 * Checks the staging object's bytes against the length and CRC-32C recorded
 * when the upload was received, so nothing that RGW stored wrongly is
 * published. Items received before the CRC-32C was recorded are not checked.
 */
export function verifyStoredBytes(item: Pick<MediaRecord, 'mediaId' | 'length' | 'crc32c'>, bytes: Buffer): void {
  if (item.crc32c === undefined) return;
  const actual = { length: bytes.length, crc32c: crc32c(bytes) >>> 0 };
  if (actual.length !== item.length || actual.crc32c !== item.crc32c) {
    throw new StoredObjectCorruptError(item.mediaId, { length: item.length, crc32c: item.crc32c }, actual);
  }
}

export class Pipeline {
  constructor(
    private readonly deps: PipelineDeps,
    private readonly scanner: Scanner,
  ) {}

  /**
   * Scans a received media item. Returns the verdict `clean` when it should
   * go on to processing, with the staging object's bytes when they were
   * read here, or `final` when it reached a final status here.
   */
  async scan(mediaId: string): Promise<{ verdict: 'clean'; bytes?: Buffer } | { verdict: 'final' }> {
    const { config, media, store, log } = this.deps;
    const item = await media.get(mediaId);
    if (!item || FINAL_STATUSES.has(item.status)) {
      if (item) await media.dequeue(mediaId);
      return { verdict: 'final' };
    }
    // Processing starts only after a clean verdict, so a recovered item in
    // "processing" was already scanned.
    if (item.status === 'processing') return { verdict: 'clean' };

    await media.setStatus(mediaId, 'scanning');
    log.info({ event: 'scan_started', mediaId }, 'scan started');
    const bucket = config.s3.stagingBucket;
    const key = objectKeys.staging(item.uploadId);
    let lastError = '';
    for (let attempt = 1; attempt <= config.clamd.maxAttempts; attempt++) {
      try {
        // Read once, into memory: processing needs the whole object anyway
        // (sharp decodes from a buffer), so it gets these bytes instead of a
        // second GET.
        const bytes = await store.getObjectBytes(bucket, key);
        if (!bytes) throw new Error(`staging object ${bucket}/${key} is missing`);
        const stream = Readable.from(slices(bytes, SCAN_SLICE_BYTES));
        const verdict = await this.withTimeout(this.scanner.scan(stream), config.clamd.timeoutMs, () => stream.destroy());
        if (verdict.clean) {
          log.info({ event: 'scan_clean', mediaId }, 'scan clean');
          return { verdict: 'clean', bytes };
        }
        await this.quarantine(item, key, verdict.signature);
        return { verdict: 'final' };
      } catch (error) {
        lastError = messageOf(error);
        if (attempt < config.clamd.maxAttempts) {
          log.warn({ event: 'scan_retry', mediaId, attempt, err: lastError }, 'scan failed, retrying');
          await sleep(backoffMs(attempt));
        }
      }
    }
    const failure = new ScanFailedError(config.clamd.maxAttempts, lastError);
    log.error({ event: 'scan_failed', mediaId, err: lastError }, failure.message);
    await this.fail(item, failure);
    return { verdict: 'final' };
  }

  /**
   * Inspects, renders variants, promotes the original; marks the item ready
   * or failed. `scanned` are the staging object's bytes if the scan step
   * already read them; otherwise they are read here.
   */
  async process(mediaId: string, scanned?: Buffer): Promise<void> {
    const { config, media, store, log } = this.deps;
    const item = await media.get(mediaId);
    if (!item || FINAL_STATUSES.has(item.status)) return;
    await media.setStatus(mediaId, 'processing');
    log.info({ event: 'media_processing', mediaId }, 'processing');

    const stagingKey = objectKeys.staging(item.uploadId);
    const bytes = scanned ?? (await store.getObjectBytes(config.s3.stagingBucket, stagingKey));
    if (!bytes) throw new Error(`staging object ${config.s3.stagingBucket}/${stagingKey} is missing`);
    try {
      verifyStoredBytes(item, bytes);
      const info = await inspectImage(bytes, config.image.maxPixels);
      const rendered = await renderVariants(bytes, info, config.image.variantSizes, config.image.maxPixels);
      const variants: VariantRecord[] = [];
      for (const variant of rendered) {
        const etag = await store.putObject(config.s3.canonicalBucket, objectKeys.variant(mediaId, variant.name), variant.bytes, variant.contentType);
        variants.push({ name: variant.name, contentType: variant.contentType, width: variant.width, height: variant.height, length: variant.bytes.length, etag });
      }
      await store.copyObject(config.s3.stagingBucket, stagingKey, config.s3.canonicalBucket, objectKeys.original(mediaId));
      await media.setStatus(mediaId, 'ready', {
        contentType: info.contentType,
        width: info.width,
        height: info.height,
        exif: info.exif,
        gps: info.gps,
        variants,
        errorCode: '',
        reason: '',
      });
      this.recordFinal(item, 'ready');
      await store.deleteObject(config.s3.stagingBucket, stagingKey);
      await media.dequeue(mediaId);
      log.info({ event: 'media_ready', mediaId, variants: variants.length }, 'media ready');
    } catch (error) {
      // Content errors (not an image, corrupt, too large) are final; storage
      // errors propagate so the caller retries.
      if (error instanceof ShoeboxError && error.code !== 'STORAGE_UNAVAILABLE' && error.code !== 'INTERNAL') {
        await this.fail(item, error);
        return;
      }
      throw error;
    }
  }

  /** Marks an item failed for good after repeated unexpected errors. */
  async fail(item: MediaRecord, error: ShoeboxError): Promise<void> {
    const { config, media, store, log } = this.deps;
    await media.setStatus(item.mediaId, 'failed', { errorCode: error.code, reason: error.message });
    this.recordFinal(item, 'failed');
    await store.deleteObject(config.s3.stagingBucket, objectKeys.staging(item.uploadId));
    await media.dequeue(item.mediaId);
    // A corrupt staging object means storage lost data, which operators must see.
    const level = error.code === 'STORED_OBJECT_CORRUPT' ? 'error' : 'warn';
    log[level]({ event: 'media_failed', mediaId: item.mediaId, code: error.code }, error.message);
  }

  private async quarantine(item: MediaRecord, stagingKey: string, signature: string): Promise<void> {
    const { config, media, store, log } = this.deps;
    log.warn({ event: 'scan_infected', mediaId: item.mediaId, signature }, 'malware detected');
    await store.copyObject(config.s3.stagingBucket, stagingKey, config.s3.quarantineBucket, objectKeys.quarantine(item.mediaId));
    const error = new MalwareDetectedError(signature);
    await media.setStatus(item.mediaId, 'quarantined', { signature, errorCode: error.code, reason: error.message });
    this.recordFinal(item, 'quarantined');
    await store.deleteObject(config.s3.stagingBucket, stagingKey);
    await media.dequeue(item.mediaId);
    log.warn({ event: 'media_quarantined', mediaId: item.mediaId, signature }, 'media quarantined');
  }

  private recordFinal(item: MediaRecord, status: 'ready' | 'quarantined' | 'failed'): void {
    this.deps.metrics.mediaFinished.inc({ status });
    // createdAt is when the upload started, so this includes the transfer itself.
    this.deps.metrics.processingSeconds.observe({ status }, (Date.now() - item.createdAt.getTime()) / 1000);
  }

  private async withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new Error(`clamd scan timed out after ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
