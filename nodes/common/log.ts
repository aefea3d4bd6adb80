// Structured logging with pino. Every record carries a fixed `event` name from
// LOG_EVENTS, so operators can search and alert on one field.

import { pino, type Logger } from 'pino';

export const LOG_EVENTS = [
  'node_started',
  'node_stopping',
  'node_stopped',
  'worker_started',
  'worker_exited',
  'schema_migrated',
  'buckets_ready',
  'session_created',
  'session_resumed',
  'session_terminated',
  'chunk_rejected',
  'part_stored',
  'upload_received',
  'upload_failed',
  'scan_started',
  'scan_clean',
  'scan_infected',
  'scan_retry',
  'scan_failed',
  'media_quarantined',
  'media_processing',
  'media_ready',
  'media_failed',
  'media_recovered',
  'actor_crashed',
  'request_failed',
  'stream_drained',
] as const;

export type LogEvent = (typeof LOG_EVENTS)[number];

export type EventLogger = Logger;

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}
