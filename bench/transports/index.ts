// The transport registry: a new upload path gets one entry here.

import { GrpcTransport } from './grpc.js';
import { PresignedTransport } from './presigned.js';
import { RestTransport } from './rest.js';
import { RawS3Transport } from './s3.js';
import { ShoeboxTusTransport } from './shoebox-tus.js';
import { TusTransport } from './tus.js';
import type { Transport, TransportContext, TransportName } from './types.js';

export type { Transport, TransportContext, TransportName, UploadInput, UploadResult } from './types.js';
export { TRANSPORT_NAMES, isTransportName } from './types.js';

type Factory = (context: TransportContext, log: (line: string) => void) => Promise<Transport>;

const FACTORIES: Record<TransportName, Factory> = {
  grpc: (context) => GrpcTransport.start(context),
  'shoebox-tus': (context) => ShoeboxTusTransport.start(context),
  rest: (context) => RestTransport.start(context),
  presigned: (context) => PresignedTransport.start(context),
  'raw-put': (context) => RawS3Transport.start(context, 'put'),
  'raw-multipart': (context) => RawS3Transport.start(context, 'multipart'),
  'tus-node': (context, log) => TusTransport.start(context, 'tus-node', log),
  tusd: (context, log) => TusTransport.start(context, 'tusd', log),
};

export function startTransport(name: TransportName, context: TransportContext, log: (line: string) => void): Promise<Transport> {
  return FACTORIES[name](context, log);
}
