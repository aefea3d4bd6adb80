import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';

import type { FaultOptions } from '../../bench/cli.js';
import { FaultProxy, planConnection } from '../../bench/proxy.js';

const NO_FAULTS: FaultOptions = { resetRate: 0, stallRate: 0, stallMs: 0, bandwidth: 0, latencyMs: 0 };

describe('planConnection', () => {
  const faults: FaultOptions = { ...NO_FAULTS, resetRate: 0.1, stallRate: 0.05, stallMs: 3000 };

  it('gives the same plan for the same seed and connection', () => {
    for (let index = 0; index < 50; index++) assert.deepEqual(planConnection(1, index, faults, 1_000_000), planConnection(1, index, faults, 1_000_000));
  });

  it('resets and stalls about the requested fraction of connections', () => {
    let resets = 0;
    let stalls = 0;
    for (let index = 0; index < 10_000; index++) {
      const plan = planConnection(1, index, faults, 1_000_000);
      if (plan.resetAfterBytes !== null) resets++;
      if (plan.stallAfterBytes !== null) stalls++;
    }
    assert.ok(Math.abs(resets - 1000) < 100, `${resets} resets of 10000`);
    assert.ok(Math.abs(stalls - 500) < 75, `${stalls} stalls of 10000`);
  });

  it('places faults between 10% and 90% of the expected bytes', () => {
    const always: FaultOptions = { ...faults, resetRate: 1, stallRate: 1 };
    for (let index = 0; index < 1000; index++) {
      const plan = planConnection(2, index, always, 1_000_000);
      assert.ok(plan.resetAfterBytes! >= 100_000, `reset at ${plan.resetAfterBytes}`);
      assert.ok(plan.resetAfterBytes! <= 900_000, `reset at ${plan.resetAfterBytes}`);
      assert.ok(plan.stallAfterBytes! >= 100_000, `stall at ${plan.stallAfterBytes}`);
      assert.ok(plan.stallAfterBytes! <= 900_000, `stall at ${plan.stallAfterBytes}`);
      assert.equal(plan.stallMs, 3000);
    }
  });

  it('lets the first 4 KiB through on small inputs', () => {
    const plan = planConnection(3, 0, { ...faults, resetRate: 1 }, 1000);
    assert.equal(plan.resetAfterBytes, 4096);
  });

  it('plans no fault at rate 0', () => {
    for (let index = 0; index < 100; index++) {
      const plan = planConnection(4, index, NO_FAULTS, 1_000_000);
      assert.equal(plan.resetAfterBytes, null);
      assert.equal(plan.stallAfterBytes, null);
    }
  });
});

/** Sends `bytes` through a socket and collects the echo until `expected` bytes came back or the socket closed. */
function echoThrough(address: string, bytes: Buffer): Promise<{ received: Buffer; error?: NodeJS.ErrnoException; ms: number }> {
  const [host, port] = [address.split(':')[0]!, Number(address.split(':')[1])];
  const started = performance.now();
  return new Promise((resolve) => {
    const pieces: Buffer[] = [];
    let error: NodeJS.ErrnoException | undefined;
    const socket = connect(port, host, () => socket.write(bytes));
    socket.on('data', (piece: Buffer) => {
      pieces.push(piece);
      if (Buffer.concat(pieces).length >= bytes.length) socket.end();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    socket.on('close', () => resolve({ received: Buffer.concat(pieces), ...(error ? { error } : {}), ms: performance.now() - started }));
  });
}

describe('FaultProxy', () => {
  let echo: Server;
  let echoPort = 0;
  const sockets = new Set<Socket>();

  before(async () => {
    echo = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    echoPort = (echo.address() as { port: number }).port;
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('forwards bytes unchanged without faults', async () => {
    const proxy = new FaultProxy({ host: '127.0.0.1', port: echoPort }, NO_FAULTS, 1, 1000);
    const address = await proxy.listen();
    const payload = Buffer.alloc(300_000, 7);
    payload.write('start');
    const { received, error } = await echoThrough(address, payload);
    await proxy.close();
    assert.equal(error, undefined);
    assert.ok(received.equals(payload), 'echo equals the payload');
    assert.equal(proxy.stats.connections, 1);
    assert.equal(proxy.stats.bytesUp, payload.length);
    assert.equal(proxy.stats.bytesDown, payload.length);
  });

  it('caps bandwidth and adds delay', async () => {
    const proxy = new FaultProxy({ host: '127.0.0.1', port: echoPort }, { ...NO_FAULTS, bandwidth: 512 * 1024, latencyMs: 50 }, 1, 1000);
    const address = await proxy.listen();
    const { received, ms } = await echoThrough(address, Buffer.alloc(128 * 1024, 1));
    await proxy.close();
    assert.equal(received.length, 128 * 1024);
    // 128 KiB at 512 KiB/s takes 250 ms each way, pipelined, plus 2 x 50 ms of delay.
    assert.ok(ms >= 300, `took ${ms.toFixed(0)} ms`);
  });

  it('resets a connection mid-transfer', async () => {
    const proxy = new FaultProxy({ host: '127.0.0.1', port: echoPort }, { ...NO_FAULTS, resetRate: 1 }, 1, 200_000);
    const address = await proxy.listen();
    const { received, error } = await echoThrough(address, Buffer.alloc(400_000, 2));
    await proxy.close();
    assert.equal(proxy.stats.resets, 1);
    assert.equal(error?.code, 'ECONNRESET');
    assert.ok(received.length < 400_000, `${received.length} bytes came back`);
  });

  it('stalls a connection once', async () => {
    const proxy = new FaultProxy({ host: '127.0.0.1', port: echoPort }, { ...NO_FAULTS, stallRate: 1, stallMs: 400 }, 1, 100_000);
    const address = await proxy.listen();
    const { received, ms } = await echoThrough(address, Buffer.alloc(200_000, 3));
    await proxy.close();
    assert.equal(proxy.stats.stalls, 1);
    assert.equal(received.length, 200_000);
    assert.ok(ms >= 400, `took ${ms.toFixed(0)} ms`);
  });

  it('refuses a target off this machine', () => {
    assert.throws(() => new FaultProxy({ host: '10.0.0.1', port: 80 }, NO_FAULTS, 1, 1000), /not a loopback address/);
  });
});
