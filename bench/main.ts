// The bench harness: `node dist/bench/main.js SCENARIO [options]` (see
// bench/cli.ts for the options, docs/benchmarks.md for the scenarios). Drives
// the running stack, writes result.json, report.md and SVG plots into the
// result directory, and shows one progress line on stderr.

import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { isAbsolute, join } from 'node:path';

import { loadConfig } from '../nodes/common/config.js';
import { HELP, parseCli, type BenchOptions } from './cli.js';
import { buildInputs } from './inputs.js';
import { describeMachine } from './machine.js';
import { assertLoopback } from './net.js';
import { Progress } from './progress.js';
import { resolveToken } from './token.js';
import { machineLine, targetTable, writeRun, type RunResult } from './report.js';
import type { ScenarioContext, ScenarioOutput } from './scenarios/context.js';
import { runE2e } from './scenarios/e2e.js';
import { runFlaky } from './scenarios/flaky.js';
import { runThroughput } from './scenarios/throughput.js';
import { formatBytes } from './units.js';

const SCENARIO_RUNNERS: Record<BenchOptions['scenario'], (context: ScenarioContext) => Promise<ScenarioOutput>> = {
  ingest: runThroughput,
  peers: runThroughput,
  e2e: runE2e,
  flaky: runFlaky,
};

/** Parameters as recorded in result.json: every option, with the token replaced by where it came from. */
function recordedParameters(options: BenchOptions, tokenSource: string): Record<string, unknown> {
  const recorded: Record<string, unknown> = { ...options, inputs: options.inputs.map((spec) => spec.text) };
  recorded['token'] = tokenSource;
  return recorded;
}

async function main(): Promise<number> {
  const parsed = parseCli(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const config = loadConfig();
  const argvToken = parsed.token;
  assertLoopback('S3 endpoint', config.s3.endpoint);
  for (const point of config.cassandra.contactPoints) assertLoopback('Cassandra contact point', point.includes(':') ? point : `${point}:9042`);
  assertLoopback('clamd address', `${config.clamd.host}:${config.clamd.port}`);

  const progress = new Progress(parsed.progress);
  const runDir = isAbsolute(parsed.outDir) ? parsed.outDir : join(config.rootDir, parsed.outDir);
  mkdirSync(runDir, { recursive: true });
  const runId = `bench-${Date.now().toString(36)}`;
  const startedAt = new Date();

  progress.log(`bench ${parsed.scenario}: results in ${runDir}`);
  const { token, source: tokenSource } = await resolveToken(config, parsed.token);
  const options: BenchOptions = { ...parsed, token };
  const machine = await describeMachine(config);
  const inputs = await buildInputs(options.inputs, { seed: options.seed, distinct: options.distinct, corpusDir: config.corpusDir });
  progress.log(`${inputs.length} inputs, ${formatBytes(inputs.reduce((sum, input) => sum + input.bytes.length, 0))} in total`);

  const context: ScenarioContext = {
    options,
    config,
    runDir,
    inputs,
    progress,
    transportContext: {
      config,
      chunkSize: options.chunkSize,
      token: options.token,
      runDir,
      runId,
      nodeEnv: options.nodeEnv,
      nodeCpuProf: options.nodeCpuProf,
      ...(options.existingNode ? { existingNode: options.existingNode } : {}),
    },
  };
  const output = await SCENARIO_RUNNERS[options.scenario](context);
  progress.done();

  const result: RunResult = {
    scenario: options.scenario,
    command: ['node', 'dist/bench/main.js', ...process.argv.slice(2).map((arg) => (argvToken && arg === argvToken ? '<token>' : arg))].join(' '),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    loadAverageAtEnd: loadavg().map((value) => Number(value.toFixed(2))),
    machine,
    parameters: recordedParameters(options, tokenSource),
    inputs: inputs.map((input) => ({ name: input.name, bytes: input.bytes.length, sha256: input.sha256 })),
    targets: output.targets,
    ...output.sections,
  };
  const report = [
    `# Bench ${options.scenario}, ${startedAt.toISOString()}`,
    '',
    `Command: \`${result.command}\``,
    '',
    `Machine: ${machineLine(machine)}.`,
    '',
    `Inputs: ${options.inputs.map((spec) => spec.text).join(', ')} (${inputs.length} items, seed ${options.seed}); chunk size ${formatBytes(options.chunkSize)}.`,
    '',
    '## Targets',
    '',
    targetTable(output.targets),
    '',
    output.report,
    '',
    `Plots: ${Object.keys(output.svgs).map((name) => `[${name}](${name})`).join(', ')}.`,
  ].join('\n');
  const written = writeRun(runDir, result, report, output.svgs);
  progress.log(`wrote ${written.join(', ')}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`\nbench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
