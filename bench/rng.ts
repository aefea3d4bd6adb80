// A small seeded pseudo-random generator, so generated inputs, arrival times
// and fault schedules are the same on every run with the same --seed.
// Not for cryptography.

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 32-bit). Seeded
 * through splitmix32, so nearby seeds give unrelated streams.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    // Discard the first outputs, as the generator's author recommends.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Returns an integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Returns true with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Draws from the exponential distribution with the given mean, as Poisson arrivals need. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Fills `target` with pseudo-random bytes, four at a time. */
  fill(target: Uint8Array): Uint8Array {
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    const whole = target.byteLength - (target.byteLength % 4);
    for (let i = 0; i < whole; i += 4) view.setUint32(i, this.nextUint32(), true);
    for (let i = whole; i < target.byteLength; i++) target[i] = this.nextUint32() & 0xff;
    return target;
  }
}

/** Derives a seed for item `index` of stream `label`, so items can be generated independently. */
export function deriveSeed(seed: number, label: string, index: number): number {
  // FNV-1a over the label, mixed with the seed and the index.
  let hash = 0x811c9dc5 ^ (seed >>> 0);
  for (const char of `${label}#${index}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
