import { randomFillSync } from 'node:crypto';

/**
 * mulberry32: a small, fast, seeded PRNG (Tommy Ettinger's 32-bit generator),
 * for reproducible sampling, exploration and property tests. Not for secrets.
 * @returns a function giving uniform numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Cryptographically random bytes drawn from a pool filled `poolBytes` at a
 * time: one getrandom call per pool rather than one per draw (a node gives
 * every lease grant a random id, and `randomBytes(9)` per grant was 3 % of
 * a node's main thread under a lease workload). Each draw is a copy: later
 * refills never change bytes already handed out.
 * @throws RangeError for a draw larger than the pool
 */
export function pooledRandomBytes(poolBytes = 4096): (n: number) => Buffer {
  const pool = Buffer.allocUnsafe(poolBytes);
  let at = poolBytes;
  return (n) => {
    if (!(Number.isSafeInteger(n) && n >= 0 && n <= poolBytes))
      throw new RangeError(`n must be an integer from 0 to ${poolBytes}, got ${n}`);
    if (at + n > poolBytes) {
      randomFillSync(pool);
      at = 0;
    }
    const out = Buffer.from(pool.subarray(at, at + n));
    at += n;
    return out;
  };
}
