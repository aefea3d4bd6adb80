// Network helpers. The bench only ever talks to servers on this machine, so
// every address it is given is checked to be a loopback address first.

import { isIP } from 'node:net';
import { createServer } from 'node:net';

/** Returns true for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1';
  return false;
}

/** Throws unless `address` (`host:port` or a URL) points at a loopback address. */
export function assertLoopback(what: string, address: string): void {
  let host: string;
  if (/^[a-z]+:\/\//i.test(address)) {
    host = new URL(address).hostname;
  } else {
    const match = /^(.+):(\d{1,5})$/.exec(address);
    if (!match) throw new Error(`invalid ${what} "${address}": expected host:port`);
    host = match[1]!;
  }
  if (!isLoopbackHost(host)) throw new Error(`${what} "${address}" is not a loopback address; the bench only sends traffic to 127.0.0.1 or ::1`);
}

/** Asks the kernel for a free TCP port on 127.0.0.1. Another process may take it before it is used. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
