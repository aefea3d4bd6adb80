// The `shoebox` command line: upload photos over gRPC, read media status,
// fetch variants.

import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

import { loadConfig } from '../common/config.js';
import { createClient, uploadFile } from '../client/upload.js';
import { createCassandraClient, migrate } from '../../storage/cassandra.js';
import { TokenRepository } from '../../storage/tokens.js';

const USAGE = `Usage:
  shoebox upload FILE...            upload photos; prints one JSON line per file
  shoebox status MEDIA_ID           print the media item as JSON
  shoebox get MEDIA_ID VARIANT -o PATH
                                    write a variant's bytes (for example thumb-256.webp)
  shoebox token create TENANT       create a bearer token for TENANT and print it (operator
                                    command: talks to Cassandra directly)

Options:
  --grpc HOST:PORT     ingest node gRPC address (default from SHOEBOX_GRPC_ADDRESS, 127.0.0.1:50051)
  --http URL           ingest node HTTP base URL (default from SHOEBOX_HTTP_ADDRESS, http://127.0.0.1:8080)
  --token TOKEN        bearer token (default from SHOEBOX_TOKEN)
  --chunk-size BYTES   bytes per chunk message for upload (default 1048576)
  --retries N          stream attempts per file before giving up (default 12)
  -o, --output PATH    where get writes the variant
  -h, --help           show this help

Exit status: 0 when every file ended ready, 1 when any was rejected, failed
or quarantined, 2 on a usage error.`;

function usageError(message: string): never {
  process.stderr.write(`shoebox: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) usageError(`invalid ${name} ${JSON.stringify(raw)}: must be a positive integer`);
  return Number(raw);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      grpc: { type: 'string' },
      http: { type: 'string' },
      'chunk-size': { type: 'string' },
      retries: { type: 'string' },
      token: { type: 'string' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [command, ...args] = positionals;
  const config = loadConfig();
  const grpcAddress = values.grpc ?? config.grpcAddress;
  const httpBase = (values.http ?? `http://${config.httpHost}:${config.httpPort}`).replace(/\/+$/, '');
  const token = values.token ?? config.clientToken;
  const headers = token ? { authorization: `Bearer ${token}` } : undefined;

  switch (command) {
    case 'upload': {
      if (args.length === 0) usageError('upload needs at least one FILE');
      const chunkSize = positiveInt('--chunk-size', values['chunk-size'], 1024 * 1024);
      const maxAttempts = positiveInt('--retries', values.retries, 12);
      const client = createClient(grpcAddress, token);
      let allReady = true;
      for (const file of args) {
        let line: Record<string, unknown>;
        try {
          const outcome = await uploadFile(client, file, {
            chunkSize,
            maxAttempts,
            onRetry: (attempt, error) =>
              process.stderr.write(`shoebox: ${file}: stream failed (${GrpcStatus[error.code]}: ${error.details}); resuming, attempt ${attempt + 1}\n`),
          });
          line = { file, mediaId: outcome.mediaId, status: outcome.status, sha256: outcome.sha256, variants: outcome.variants };
          if (outcome.reason) line['reason'] = outcome.reason;
          if (outcome.errorCode) line['errorCode'] = outcome.errorCode;
          if (outcome.status !== 'ready') allReady = false;
        } catch (error) {
          allReady = false;
          const message = (error as ServiceError).details ?? (error as Error).message;
          line = { file, mediaId: '', status: 'rejected', sha256: '', variants: [], reason: message };
        }
        process.stdout.write(`${JSON.stringify(line)}\n`);
      }
      client.close();
      return allReady ? 0 : 1;
    }
    case 'status': {
      if (args.length !== 1) usageError('status needs exactly one MEDIA_ID');
      const response = await fetch(`${httpBase}/media/${encodeURIComponent(args[0]!)}`, { headers });
      process.stdout.write(`${JSON.stringify(await response.json())}\n`);
      return response.ok ? 0 : 1;
    }
    case 'get': {
      if (args.length !== 2) usageError('get needs MEDIA_ID and VARIANT');
      if (!values.output) usageError('get needs -o PATH');
      const response = await fetch(`${httpBase}/media/${encodeURIComponent(args[0]!)}/${encodeURIComponent(args[1]!)}`, { headers });
      if (!response.ok) {
        process.stderr.write(`shoebox: get failed with HTTP ${response.status}: ${await response.text()}\n`);
        return 1;
      }
      await writeFile(values.output, Buffer.from(await response.arrayBuffer()));
      return 0;
    }
    case 'token': {
      if (args[0] !== 'create' || args.length !== 2) usageError('usage: shoebox token create TENANT');
      await migrate(config);
      const cassandra = createCassandraClient(config.cassandra);
      try {
        process.stdout.write(`${await new TokenRepository(cassandra).create(args[1]!)}\n`);
      } finally {
        await cassandra.shutdown();
      }
      return 0;
    }
    case undefined:
      usageError('missing command');
    // falls through: usageError exits
    default:
      usageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`shoebox: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
