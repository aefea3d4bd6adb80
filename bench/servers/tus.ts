// The two tus peers of the peers scenario, each a child process on 127.0.0.1
// writing to its own bench bucket on the same RGW:
//   tus-node  @tus/server + @tus/s3-store (npm, versions in package.json)
//   tusd      the Go reference server with its S3 store, built with `go install` at a pinned version

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { Config } from '../../nodes/common/config.js';
import { freePort } from '../net.js';
import { startChild, type ChildServer } from './child.js';

export const TUSD_VERSION = 'v2.9.1';
const TUSD_MODULE = 'github.com/tus/tusd/v2/cmd/tusd';

export interface TusServer {
  child: ChildServer;
  /** Creation URL, for example http://127.0.0.1:PORT/files/ */
  endpoint: string;
  version: string;
}

/** Returns the tusd binary, building it into .state/bench/tools on first use (about 2 minutes on 2 cores). */
export async function ensureTusd(config: Config, log: (line: string) => void): Promise<string> {
  const dir = join(config.stateDir, 'bench', 'tools', `tusd-${TUSD_VERSION}`);
  const binary = join(dir, 'tusd');
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  log(`building tusd ${TUSD_VERSION} with go install into ${dir}`);
  try {
    await promisify(execFile)('go', ['install', `${TUSD_MODULE}@${TUSD_VERSION}`], {
      env: { ...process.env, GOBIN: dir },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    throw new Error(`go install ${TUSD_MODULE}@${TUSD_VERSION} failed: ${(error as Error).message}`);
  }
  if (!existsSync(binary)) throw new Error(`go install finished but ${binary} is missing`);
  return binary;
}

export async function startTusd(config: Config, runDir: string, bucket: string, log: (line: string) => void): Promise<TusServer> {
  const binary = await ensureTusd(config, log);
  const port = await freePort();
  const child = await startChild({
    label: 'tusd',
    command: binary,
    args: [
      '-host', '127.0.0.1',
      '-port', String(port),
      '-base-path', '/files/',
      '-s3-bucket', bucket,
      '-s3-endpoint', config.s3.endpoint,
      '-s3-part-size', String(config.upload.partSize),
      '-disable-download',
      '-disable-termination',
    ],
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      AWS_ACCESS_KEY_ID: config.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
      AWS_REGION: config.s3.region,
      // Credentials and region come from the variables above. These keep the
      // AWS SDK for Go from reading profiles or asking an instance metadata service.
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      // Same reason as in storage/s3.ts: RGW 16 rejects the SDK's default checksummed bodies.
      AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
    },
    logFile: join(runDir, 'tusd.log'),
    readyUrl: `http://127.0.0.1:${port}/files/`,
  });
  return { child, endpoint: `http://127.0.0.1:${port}/files/`, version: `tusd ${TUSD_VERSION}` };
}

export async function startTusNode(config: Config, runDir: string, bucket: string): Promise<TusServer> {
  const port = await freePort();
  const child = await startChild({
    label: 'tus-node',
    command: process.execPath,
    args: [join(config.rootDir, 'dist/bench/servers/tus-node-main.js'), '--port', String(port), '--bucket', bucket, '--part-size', String(config.upload.partSize)],
    env: { ...process.env },
    logFile: join(runDir, 'tus-node.log'),
    readyUrl: `http://127.0.0.1:${port}/files`,
  });
  const versions = await packageVersions(config.rootDir, ['@tus/server', '@tus/s3-store']);
  return { child, endpoint: `http://127.0.0.1:${port}/files`, version: versions.join(', ') };
}

async function packageVersions(rootDir: string, names: string[]): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const found: string[] = [];
  for (const name of names) {
    try {
      const manifest = JSON.parse(await readFile(join(rootDir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
      found.push(`${name} ${manifest.version}`);
    } catch {
      found.push(`${name} (version unknown)`);
    }
  }
  return found;
}
