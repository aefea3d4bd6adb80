// A tus server for the peers scenario: @tus/server with @tus/s3-store on
// 127.0.0.1, writing to a bench bucket on the same RGW, in its own process so
// its CPU time and memory can be measured like the ingest node's.
// Usage: node dist/bench/servers/tus-node-main.js --port N --bucket NAME --part-size BYTES

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { S3Store } from '@tus/s3-store';
import { Server } from '@tus/server';

import { loadConfig } from '../../nodes/common/config.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    bucket: { type: 'string' },
    'part-size': { type: 'string' },
  },
});
const port = Number(values.port);
const partSize = Number(values['part-size']);
if (!Number.isInteger(port) || port <= 0 || !values.bucket || !Number.isInteger(partSize)) {
  console.error('usage: tus-node-main.js --port N --bucket NAME --part-size BYTES');
  process.exit(2);
}

const config = loadConfig();
const datastore = new S3Store({
  partSize,
  s3ClientConfig: {
    bucket: values.bucket,
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey },
    // RGW 16 needs path-style requests and rejects aws-chunked bodies, as in storage/s3.ts.
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  },
});
const tus = new Server({ path: '/files', datastore });
const http = createServer((req, res) => {
  tus.handle(req, res).catch((error: unknown) => {
    console.error(`tus request ${req.method} ${req.url} failed: ${(error as Error).message}`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
http.listen(port, '127.0.0.1', () => console.error(`tus-node listening on 127.0.0.1:${port}, bucket ${values.bucket}`));
process.on('SIGTERM', () => http.close(() => process.exit(0)));
