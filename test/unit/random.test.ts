// lib/random.ts: the pooled source of random bytes that lease ids come from.
import test from 'ava';
import { pooledRandomBytes } from '../../lib/index.ts';

test('pooled random bytes - draws of the asked length, distinct, across refills', (t) => {
  const draw = pooledRandomBytes(64);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const b = draw(9);
    t.is(b.length, 9);
    seen.add(b.toString('hex'));
  }
  // 1,000 draws of 72 bits: a repeat would mean the pool handed out the same bytes twice.
  t.is(seen.size, 1000);
  t.is(draw(0).length, 0);
  t.is(draw(64).length, 64);
});

test('pooled random bytes - a draw is a copy: refilling the pool leaves it as it was', (t) => {
  const draw = pooledRandomBytes(16);
  const first = draw(16);
  const kept = Buffer.from(first);
  for (let i = 0; i < 10; i++) draw(16); // ten refills of the same pool
  t.deepEqual(first, kept);
});

test('pooled random bytes - a draw past the pool or not a whole number is refused, naming n', (t) => {
  const draw = pooledRandomBytes(16);
  for (const n of [17, -1, 1.5, Number.NaN]) {
    const err = t.throws(() => draw(n), { instanceOf: RangeError });
    t.regex(err.message, /^n must be an integer from 0 to 16/);
  }
});
