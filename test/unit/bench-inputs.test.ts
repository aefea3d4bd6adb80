import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import sharp from 'sharp';

import { generateJpeg, parseInputSpec, randomBytesFor } from '../../bench/inputs.js';
import { Rng, deriveSeed } from '../../bench/rng.js';
import { arrivalOffsets } from '../../bench/scenarios/e2e.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('Rng', () => {
  it('repeats its sequence for the same seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    for (let i = 0; i < 1000; i++) assert.equal(a.nextUint32(), b.nextUint32());
  });

  it('gives different sequences for neighbouring seeds', () => {
    const a = Array.from({ length: 8 }, ((rng) => () => rng.nextUint32())(new Rng(1)));
    const b = Array.from({ length: 8 }, ((rng) => () => rng.nextUint32())(new Rng(2)));
    assert.notDeepEqual(a, b);
  });

  it('keeps floats in [0, 1) and integers in range', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 10_000; i++) {
      const value = rng.next();
      assert.ok(value >= 0, `${value} below 0`);
      assert.ok(value < 1, `${value} not below 1`);
      const int = rng.int(3, 5);
      assert.ok(Number.isInteger(int), `${int} is not an integer`);
      assert.ok(int >= 3, `${int} below 3`);
      assert.ok(int <= 5, `${int} above 5`);
    }
  });

  it('draws exponential gaps with the requested mean', () => {
    const rng = new Rng(9);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += rng.exponential(500);
    assert.ok(Math.abs(sum / 20_000 - 500) < 25, `mean ${sum / 20_000}`);
  });

  it('fills odd lengths completely and repeatably', () => {
    const a = new Rng(3).fill(new Uint8Array(13));
    const b = new Rng(3).fill(new Uint8Array(13));
    assert.deepEqual(a, b);
    assert.ok(a.some((byte) => byte !== 0));
  });

  it('derives distinct seeds per label and index', () => {
    assert.equal(deriveSeed(1, 'x', 0), deriveSeed(1, 'x', 0));
    assert.notEqual(deriveSeed(1, 'x', 0), deriveSeed(1, 'x', 1));
    assert.notEqual(deriveSeed(1, 'x', 0), deriveSeed(2, 'x', 0));
    assert.notEqual(deriveSeed(1, 'x', 0), deriveSeed(1, 'y', 0));
  });
});

describe('generated inputs', () => {
  it('random bytes are the same for the same seed and index', () => {
    assert.equal(sha256(randomBytesFor(1, 100_003, 0)), sha256(randomBytesFor(1, 100_003, 0)));
    assert.equal(randomBytesFor(1, 100_003, 0).length, 100_003);
  });

  it('random bytes differ across indexes and seeds', () => {
    assert.notEqual(sha256(randomBytesFor(1, 4096, 0)), sha256(randomBytesFor(1, 4096, 1)));
    assert.notEqual(sha256(randomBytesFor(1, 4096, 0)), sha256(randomBytesFor(2, 4096, 0)));
  });

  it('generated JPEGs are reproducible and of the requested size', async () => {
    const a = await generateJpeg(5, 320, 200, 0);
    const b = await generateJpeg(5, 320, 200, 0);
    const c = await generateJpeg(5, 320, 200, 1);
    assert.equal(sha256(a), sha256(b));
    assert.notEqual(sha256(a), sha256(c));
    const metadata = await sharp(a).metadata();
    assert.equal(metadata.format, 'jpeg');
    assert.equal(metadata.width, 320);
    assert.equal(metadata.height, 200);
  });
});

describe('parseInputSpec', () => {
  it('parses every form', () => {
    assert.deepEqual(parseInputSpec('random:16MiB'), { kind: 'random', size: 16 * 1024 * 1024, text: 'random:16MiB' });
    assert.deepEqual(parseInputSpec('jpeg:2560x1600'), { kind: 'jpeg', width: 2560, height: 1600, text: 'jpeg:2560x1600' });
    assert.deepEqual(parseInputSpec('corpus'), { kind: 'corpus', names: [], text: 'corpus' });
    assert.deepEqual(parseInputSpec('corpus:rocket.jpg, photos/coffee.png'), { kind: 'corpus', names: ['rocket.jpg', 'photos/coffee.png'], text: 'corpus:rocket.jpg, photos/coffee.png' });
    assert.deepEqual(parseInputSpec('corpus@2560x1600'), { kind: 'corpus-dimensions', width: 2560, height: 1600, text: 'corpus@2560x1600' });
  });

  it('rejects malformed specs with the accepted forms', () => {
    assert.throws(() => parseInputSpec('photos'), /expected random:SIZE, jpeg:WxH/);
    assert.throws(() => parseInputSpec('random:lots'), /invalid size "lots"/);
    assert.throws(() => parseInputSpec('jpeg:0x10'), /dimensions must look like 2560x1600/);
    assert.throws(() => parseInputSpec('corpus:'), /name at least one corpus file/);
  });
});

describe('arrivalOffsets', () => {
  it('spaces uniform arrivals by 1/rate', () => {
    assert.deepEqual(arrivalOffsets(2, 3000, 'uniform', 1, 100), [0, 500, 1000, 1500, 2000, 2500]);
  });

  it('caps the count', () => {
    assert.equal(arrivalOffsets(10, 60_000, 'uniform', 1, 7).length, 7);
  });

  it('repeats Poisson arrivals for a seed, with about rate x duration of them', () => {
    const a = arrivalOffsets(5, 200_000, 'poisson', 3, 100_000);
    assert.deepEqual(a, arrivalOffsets(5, 200_000, 'poisson', 3, 100_000));
    assert.ok(Math.abs(a.length - 1000) < 100, `${a.length} arrivals`);
    for (let i = 1; i < a.length; i++) assert.ok(a[i]! >= a[i - 1]!);
  });
});
