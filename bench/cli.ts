// Command-line options of `node dist/bench/main.js SCENARIO [options]`, parsed
// into one typed object. Defaults depend on the scenario and are listed in
// the help text.

import { parseArgs } from 'node:util';

import { parseInputSpec, type InputSpec } from './inputs.js';
import { TRANSPORT_NAMES, isTransportName, type TransportName } from './transports/types.js';
import { parseDurationMs, parseSize } from './units.js';

export const SCENARIOS = ['ingest', 'e2e', 'flaky', 'peers'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface FaultOptions {
  /** Fraction of proxied connections reset mid-transfer (0-1). */
  resetRate: number;
  /** Fraction of proxied connections that stall once (0-1). */
  stallRate: number;
  stallMs: number;
  /** Bandwidth cap per direction and connection, in bytes per second; 0 for none. */
  bandwidth: number;
  /** Added one-way delay per direction, in ms. */
  latencyMs: number;
}

export interface BenchOptions {
  scenario: Scenario;
  transports: TransportName[];
  concurrency: number[];
  count: number;
  durationMs: number;
  uploadTimeoutMs: number;
  inputs: InputSpec[];
  distinct: number;
  seed: number;
  chunkSize: number;
  /** Bearer token from --token; '' to use SHOEBOX_TOKEN or create one (bench/token.ts). */
  token: string;
  outDir: string;
  rssEvery: number;
  /** gRPC phases hold back new uploads while the node's processing backlog is above this; 0 for no limit. */
  maxBacklog: number;
  /** e2e: uploads started per second. */
  rate: number;
  arrivals: 'uniform' | 'poisson';
  readyTimeoutMs: number;
  sampleIntervalMs: number;
  faults: FaultOptions;
  maxAttempts: number;
  nodeEnv: Record<string, string>;
  /** Start the ingest node under the V8 CPU profiler (one .cpuprofile per thread in the run folder). */
  nodeCpuProf: boolean;
  existingNode?: { grpcAddress: string; httpBase: string; pid?: number };
  progress: boolean;
}

export const HELP = `Usage: node dist/bench/main.js SCENARIO [options]
       ./deploy/task bench -- SCENARIO [options]

Scenarios (each drives the running stack; an ingest node is started on free
loopback ports unless --node-grpc is given):
  ingest   closed-loop uploads at each --concurrency level, per --transports
           (default grpc,raw-multipart; inputs random:16MiB)
  e2e      open-loop uploads at --rate per second for --duration, timed from
           the first byte sent until the media item is ready with every
           variant (inputs corpus@2560x1600)
  flaky    gRPC uploads through a fault-injecting TCP proxy (bandwidth cap,
           latency, connection resets and stalls), using the resumable client
           of nodes/client; every stored original is compared byte for byte
  peers    the same bytes through raw RGW, tus-node (@tus/server + @tus/s3-store),
           tusd (S3 store) and Shoebox gRPC; ratios against raw RGW

Options (sizes take B, KiB, MiB, GiB; durations take ms, s, m):
  --concurrency LIST    concurrent uploads, comma-separated levels (ingest 1,4,16,64; peers 16; flaky 4)
  --count N             uploads per phase at most (ingest, peers 200; flaky 40)
  --duration TIME       time per phase after which no upload starts (30s; e2e 60s)
  --transports LIST     ${TRANSPORT_NAMES.join(', ')}
  --input SPEC          repeatable: random:SIZE, jpeg:WxH, corpus, corpus:NAME[,NAME], corpus@WxH
  --distinct N          different items per generated input spec (4)
  --seed N              seed of generated inputs, arrivals and faults (1)
  --chunk-size SIZE     bytes per gRPC chunk or tus PATCH (1MiB)
  --upload-timeout TIME time one upload may take before it counts as failed (120s)
  --rss-every N         sample the servers' RSS after every N finished uploads (0: off)
  --max-backlog N       gRPC: start no upload while the node's processing backlog is above N (0: no limit)
  --rate N              e2e: uploads started per second (2)
  --arrivals KIND       e2e: uniform or poisson (uniform)
  --ready-timeout TIME  e2e: time an item may take to become ready (120s)
  --sample-interval T   e2e: backlog sampling interval (1s)
  --reset-rate F        flaky: fraction of connections reset mid-transfer (0.1)
  --stall-rate F        flaky: fraction of connections that stall once (0.05)
  --stall TIME          flaky: length of a stall (3s)
  --bandwidth SIZE      flaky: cap per direction and connection, per second (1MiB; 0 for none)
  --latency TIME        flaky: added one-way delay (50ms)
  --max-attempts N      flaky: streams per upload before the client gives up (12)
  --token TOKEN         bearer token for gRPC metadata and HTTP headers (default $SHOEBOX_TOKEN,
                        else a new token for the tenant "bench")
  --node-env KEY=VALUE  repeatable: environment of the started ingest node (SHOEBOX_* settings)
  --node-cpu-prof       profile the started ingest node's threads with V8 (--cpu-prof); the
                        .cpuprofile files land in the run folder (summary: node dist/bench/profile.js FILE)
  --node-grpc ADDR      use a running ingest node at this loopback host:port instead of starting one
  --node-http URL       its HTTP base URL (required with --node-grpc)
  --node-pid PID        its PID, for CPU and memory figures
  --out DIR             result directory (bench/results/<timestamp>-<scenario>)
  --no-progress         no progress line on stderr
  --help                this text
`;

function positiveInt(name: string, text: string, min = 1): number {
  if (!/^\d+$/.test(text) || Number(text) < min) throw new Error(`invalid --${name} "${text}": must be an integer of at least ${min}`);
  return Number(text);
}

function fraction(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new Error(`invalid --${name} "${text}": must be a number from 0 to 1`);
  return value;
}

function list(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean);
}

const DEFAULTS: Record<Scenario, { transports: TransportName[]; concurrency: number[]; count: number; durationMs: number; inputs: string[] }> = {
  ingest: { transports: ['grpc', 'raw-multipart'], concurrency: [1, 4, 16, 64], count: 200, durationMs: 30_000, inputs: ['random:16MiB'] },
  e2e: { transports: ['grpc'], concurrency: [1], count: 100_000, durationMs: 60_000, inputs: ['corpus@2560x1600'] },
  flaky: { transports: ['grpc'], concurrency: [4], count: 40, durationMs: 120_000, inputs: ['corpus'] },
  peers: { transports: ['raw-put', 'raw-multipart', 'tus-node', 'tusd', 'grpc', 'shoebox-tus'], concurrency: [16], count: 200, durationMs: 30_000, inputs: ['random:16MiB'] },
};

/** Parses argv (without node and the script). Throws with a message naming the bad option. */
export function parseCli(argv: string[], now = new Date()): BenchOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      concurrency: { type: 'string' },
      count: { type: 'string' },
      duration: { type: 'string' },
      transports: { type: 'string' },
      input: { type: 'string', multiple: true },
      distinct: { type: 'string' },
      seed: { type: 'string' },
      'chunk-size': { type: 'string' },
      'upload-timeout': { type: 'string' },
      'rss-every': { type: 'string' },
      'max-backlog': { type: 'string' },
      rate: { type: 'string' },
      arrivals: { type: 'string' },
      'ready-timeout': { type: 'string' },
      'sample-interval': { type: 'string' },
      'reset-rate': { type: 'string' },
      'stall-rate': { type: 'string' },
      stall: { type: 'string' },
      bandwidth: { type: 'string' },
      latency: { type: 'string' },
      'max-attempts': { type: 'string' },
      token: { type: 'string' },
      'node-env': { type: 'string', multiple: true },
      'node-cpu-prof': { type: 'boolean' },
      'node-grpc': { type: 'string' },
      'node-http': { type: 'string' },
      'node-pid': { type: 'string' },
      out: { type: 'string' },
      'no-progress': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new Error(`expected exactly one scenario (${SCENARIOS.join(', ')}), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const scenario = positionals[0]!;
  if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new Error(`unknown scenario "${scenario}": expected one of ${SCENARIOS.join(', ')}`);
  const defaults = DEFAULTS[scenario as Scenario];

  const transports = values.transports ? list(values.transports) : defaults.transports;
  for (const name of transports) if (!isTransportName(name)) throw new Error(`unknown transport "${name}": expected one of ${TRANSPORT_NAMES.join(', ')}`);
  if ((scenario === 'e2e' || scenario === 'flaky') && transports.some((name) => name !== 'grpc')) {
    throw new Error(`scenario ${scenario} measures Shoebox gRPC only; leave out --transports`);
  }
  const concurrency = values.concurrency ? list(values.concurrency).map((level) => positiveInt('concurrency', level)) : defaults.concurrency;

  const nodeEnv: Record<string, string> = {};
  for (const pair of values['node-env'] ?? []) {
    const match = /^(SHOEBOX_[A-Z0-9_]+)=(.*)$/.exec(pair);
    if (!match) throw new Error(`invalid --node-env "${pair}": expected SHOEBOX_NAME=value`);
    nodeEnv[match[1]!] = match[2]!;
  }

  let existingNode: BenchOptions['existingNode'];
  if (values['node-grpc']) {
    if (!values['node-http']) throw new Error('--node-grpc needs --node-http, the node\'s HTTP base URL (for /metrics and /media)');
    existingNode = {
      grpcAddress: values['node-grpc'],
      httpBase: values['node-http'].replace(/\/+$/, ''),
      ...(values['node-pid'] ? { pid: positiveInt('node-pid', values['node-pid']) } : {}),
    };
  }

  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const rate = Number(values.rate ?? '2');
  if (!Number.isFinite(rate) || rate <= 0 || rate > 1000) throw new Error(`invalid --rate "${values.rate}": must be a number above 0 and at most 1000`);
  const arrivals = values.arrivals ?? 'uniform';
  if (arrivals !== 'uniform' && arrivals !== 'poisson') throw new Error(`invalid --arrivals "${arrivals}": expected uniform or poisson`);
  const chunkSize = parseSize(values['chunk-size'] ?? '1MiB');

  return {
    scenario: scenario as Scenario,
    transports: transports as TransportName[],
    concurrency,
    count: values.count ? positiveInt('count', values.count) : defaults.count,
    durationMs: parseDurationMs(values.duration ?? `${defaults.durationMs}ms`),
    uploadTimeoutMs: parseDurationMs(values['upload-timeout'] ?? '120s'),
    inputs: (values.input ?? defaults.inputs).map(parseInputSpec),
    distinct: positiveInt('distinct', values.distinct ?? '4'),
    seed: positiveInt('seed', values.seed ?? '1', 0),
    chunkSize,
    token: values.token ?? '',
    outDir: values.out ?? `bench/results/${stamp}-${scenario}`,
    rssEvery: positiveInt('rss-every', values['rss-every'] ?? '0', 0),
    maxBacklog: positiveInt('max-backlog', values['max-backlog'] ?? '0', 0),
    rate,
    arrivals,
    readyTimeoutMs: parseDurationMs(values['ready-timeout'] ?? '120s'),
    sampleIntervalMs: parseDurationMs(values['sample-interval'] ?? '1s'),
    faults: {
      resetRate: fraction('reset-rate', values['reset-rate'] ?? '0.1'),
      stallRate: fraction('stall-rate', values['stall-rate'] ?? '0.05'),
      stallMs: parseDurationMs(values.stall ?? '3s'),
      bandwidth: values.bandwidth === '0' ? 0 : parseSize(values.bandwidth ?? '1MiB'),
      latencyMs: parseDurationMs(values.latency ?? '50ms'),
    },
    maxAttempts: positiveInt('max-attempts', values['max-attempts'] ?? '12'),
    nodeEnv,
    nodeCpuProf: values['node-cpu-prof'] === true,
    ...(existingNode ? { existingNode } : {}),
    progress: !values['no-progress'],
  };
}
