import test from 'ava';
import fc from 'fast-check';
import { gcraCapDebt, gcraPeek, gcraRefund, gcraTake, gcraToleranceMs, InputError } from '../../lib/index.ts';
import type { GcraLimit, GcraState } from '../../lib/index.ts';

const EPOCH = 1_764_000_000_000; // a realistic wall-clock ms, where float error is largest

/** Takes cost-1 requests at `now` until one is denied; returns how many passed. */
function drain(state: GcraState, limit: GcraLimit, now: number): number {
  let n = 0;
  while (gcraTake(state, limit, now, 1).allow) n++;
  return n;
}

test('gcra - burst then steady rate', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 5 }; // T = 100 ms
  const s: GcraState = { tat: 0 };
  for (let i = 0; i < 5; i++) {
    const d = gcraTake(s, limit, EPOCH, 1);
    t.true(d.allow);
    t.is(d.remaining, 4 - i);
    t.is(d.retryAfterMs, 0);
  }
  const denied = gcraTake(s, limit, EPOCH, 1);
  t.deepEqual(denied, { allow: false, remaining: 0, retryAfterMs: 100, resetAfterMs: 500 });
  t.false(gcraTake(s, limit, EPOCH + 99, 1).allow);
  t.true(gcraTake(s, limit, EPOCH + 100, 1).allow);
  t.false(gcraTake(s, limit, EPOCH + 100, 1).allow);
  t.true(gcraTake(s, limit, EPOCH + 200, 1).allow);
});

for (const [rate, periodMs, burst] of [
  [10, 1000, 5],
  [3, 1000, 4], // T = 333.33... ms, not an integer
  [7, 60_000, 1],
  [1000, 1000, 50], // T = 1 ms
] as const) {
  test(`gcra - greedy client over 10 s gets exactly burst + elapsed/T (rate ${rate}/${periodMs}ms, burst ${burst})`, (t) => {
    const limit = { rate, periodMs, burst };
    const T = periodMs / rate;
    const s: GcraState = { tat: 0 };
    let allowed = 0;
    for (let ms = 0; ms <= 10_000; ms++) allowed += drain(s, limit, EPOCH + ms);
    t.is(allowed, burst + Math.floor(10_000 / T));
  });
}

test('gcra - no rounding drift over long busy runs at epoch-sized times', (t) => {
  // T = 1000/0.7 and 60000/9 round the same way on every addition at ~1.8e12 ms;
  // without compensated addition the last cell of each run comes 1 ms late.
  for (const limit of [
    { rate: 0.7, periodMs: 1000, burst: 2 },
    { rate: 9, periodMs: 60_000, burst: 100 },
  ]) {
    const s: GcraState = { tat: 0 };
    let allowed = 0;
    for (let ms = 0; ms <= 200_000; ms++) allowed += drain(s, limit, EPOCH + 123 + ms);
    t.is(allowed, limit.burst + (200_000 * limit.rate) / limit.periodMs, JSON.stringify(limit));
  }
});

test('gcra - retryAfterMs is exact: one ms earlier still fails, at it the request passes', (t) => {
  const limit = { rate: 4, periodMs: 1000, burst: 2 }; // T = 250
  const s: GcraState = { tat: 0 };
  t.is(drain(s, limit, EPOCH), 2);
  const d = gcraTake(s, limit, EPOCH + 30, 1);
  t.is(d.retryAfterMs, 220);
  t.false(gcraTake(s, limit, EPOCH + 30 + 219, 1).allow);
  t.true(gcraTake(s, limit, EPOCH + 30 + 220, 1).allow);
});

test('gcra - cost above 1 takes that many cells', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 10 };
  const s: GcraState = { tat: 0 };
  t.like(gcraTake(s, limit, 0, 4), { allow: true, remaining: 6 });
  t.like(gcraTake(s, limit, 0, 4), { allow: true, remaining: 2 });
  t.deepEqual(gcraTake(s, limit, 0, 4), { allow: false, remaining: 2, retryAfterMs: 200, resetAfterMs: 800 });
  t.like(gcraTake(s, limit, 0, 2), { allow: true, remaining: 0 });
  t.like(gcraTake(s, limit, 0, 0.5), { allow: false, retryAfterMs: 50 });
});

test('gcra - a cost above burst never passes and consumes nothing', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 5 };
  const s: GcraState = { tat: 0 };
  for (const now of [0, 1_000, 1_000_000]) {
    t.deepEqual(gcraTake(s, limit, now, 6), {
      allow: false,
      remaining: 5,
      retryAfterMs: -1,
      resetAfterMs: 0,
    });
  }
  t.is(s.tat, 0);
  t.true(gcraTake(s, limit, 1_000_000, 5).allow);
});

test('gcra - refills to the full burst after idling for resetAfterMs', (t) => {
  const limit = { rate: 2, periodMs: 1000, burst: 6 }; // T = 500
  const s: GcraState = { tat: 0 };
  t.is(drain(s, limit, EPOCH), 6);
  const full = gcraPeek(s, limit, EPOCH, 0);
  t.is(full.resetAfterMs, 3000);
  t.is(gcraPeek(s, limit, EPOCH + 2999, 0).remaining, 5);
  t.deepEqual(gcraPeek(s, limit, EPOCH + 3000, 0), {
    allow: true,
    remaining: 6,
    retryAfterMs: 0,
    resetAfterMs: 0,
  });
  t.is(drain(s, limit, EPOCH + 60_000), 6); // idle longer never gives more than burst
});

test('gcra - peek answers like take and never mutates', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 3 };
  const s: GcraState = { tat: 0 };
  for (let i = 0; i < 5; i++) {
    const before = s.tat;
    const peeked = gcraPeek(s, limit, 50, 1);
    t.is(s.tat, before);
    t.deepEqual(gcraTake(s, limit, 50, 1), peeked);
  }
});

test('gcra - refund makes a request denied elsewhere consume nothing', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 3 };
  const s: GcraState = { tat: 0 };
  t.true(gcraTake(s, limit, EPOCH, 1).allow);
  const afterOne = s.tat;
  t.true(gcraTake(s, limit, EPOCH + 10, 1).allow);
  gcraRefund(s, limit, EPOCH + 20, 1);
  t.is(s.tat, afterOne);
  t.is(drain(s, limit, EPOCH + 20), 2);
  // A refund after the bucket drained past the request leaves it full, not over-full.
  gcraRefund(s, limit, EPOCH + 10_000, 1);
  t.is(drain(s, limit, EPOCH + 10_000), 3);
  gcraRefund(s, limit, EPOCH + 20_000, 3);
  t.is(drain(s, limit, EPOCH + 20_000), 3);
});

test('gcra - no double burst at a period boundary (unlike a fixed window)', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 10 };
  const s: GcraState = { tat: 0 };
  t.is(drain(s, limit, 999), 10);
  t.is(drain(s, limit, 1000), 0); // a fixed 1 s window would allow 10 more here
  t.is(drain(s, limit, 1098), 0);
  t.is(drain(s, limit, 1099), 1);
  // Across any 1 s span, at most burst + rate passes.
  let inSpan = 10 + 1;
  for (let ms = 1100; ms < 1999; ms++) inSpan += drain(s, limit, ms);
  t.true(inSpan <= 20, `${inSpan} passed in [999, 1999)`);
});

test('gcra - a bad cost is an InputError', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 10 };
  for (const cost of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => gcraTake({ tat: 0 }, limit, 0, cost), {
      instanceOf: InputError,
      message: /^cost must be/,
    });
  }
});

test('gcra - the tolerance is burst emission intervals (tau + T)', (t) => {
  t.is(gcraToleranceMs({ rate: 10, periodMs: 1000, burst: 5 }), 500);
  t.is(gcraToleranceMs({ rate: 3, periodMs: 60_000, burst: 1 }), 20_000);
});

test('gcra - capping debt after a raised limit leaves an empty bucket under the new limit', (t) => {
  const low = { rate: 1, periodMs: 1000, burst: 5 }; // T = 1000 ms
  const high = { rate: 10, periodMs: 1000, burst: 5 }; // T = 100 ms, tolerance 500 ms
  const s: GcraState = { tat: 0 };
  t.is(drain(s, low, EPOCH), 5); // TAT is now EPOCH + 5000
  const capped = gcraCapDebt(s, high, EPOCH);
  t.deepEqual(capped, { tat: EPOCH + 500 });
  t.not(capped, s, 'a fresh state; the old one is left as it was');
  t.is(s.tat, EPOCH + 5000);
  // Empty under the new limit: the next cell conforms one new interval later, not 4.5 s later.
  t.false(gcraPeek(capped, high, EPOCH, 1).allow);
  t.true(gcraTake(capped, high, EPOCH + 100, 1).allow);
});

test('gcra - capping leaves a state within the tolerance untouched (the same object)', (t) => {
  const limit = { rate: 10, periodMs: 1000, burst: 5 };
  const s: GcraState = { tat: 0 };
  t.is(gcraCapDebt(s, limit, EPOCH), s);
  gcraTake(s, limit, EPOCH, 5); // exactly at the tolerance
  t.is(gcraCapDebt(s, limit, EPOCH), s);
  const lo: GcraState = { tat: EPOCH + 500, lo: 1e-6 }; // the low part counts: just past it
  t.deepEqual(gcraCapDebt(lo, limit, EPOCH), { tat: EPOCH + 500 });
});

/**
 * The GCRA decision as written before the check path's rewrite (issue 15),
 * with a (high, low) tuple and an intermediate object: the reference that
 * the allocation-free evaluate must match bit for bit.
 */
function referenceTake(state: GcraState, limit: GcraLimit, nowMs: number, cost: number) {
  const add = (base: number, baseLo: number, addend: number): [number, number] => {
    const s = base + addend;
    const bb = s - base;
    const lo = baseLo + (base - (s - bb)) + (addend - bb);
    const hi = s + lo;
    return [hi, lo - (hi - s)];
  };
  const t = limit.periodMs / limit.rate;
  const tolerance = gcraToleranceMs(limit);
  const eps = (tolerance + t) * 1e-9;
  const lo0 = state.lo ?? 0;
  const busy = state.tat - nowMs + lo0 > 0;
  const [newTat, newLo] = busy ? add(state.tat, lo0, cost * t) : add(nowMs, 0, cost * t);
  const never = cost > limit.burst;
  const newAhead = newTat - nowMs + newLo;
  const allow = !never && newAhead <= tolerance + eps;
  const tat = allow ? newTat : state.tat;
  const lo = allow ? newLo : lo0;
  const ahead = Math.max(tat - nowMs + lo, 0);
  const remaining = Math.max(0, Math.floor((tolerance - ahead + eps) / t));
  let retryAfterMs = 0;
  if (never) retryAfterMs = -1;
  else if (!allow) retryAfterMs = Math.max(1, Math.ceil(newAhead - tolerance - eps));
  const resetAfterMs = Math.max(0, Math.ceil(ahead - eps));
  if (allow) {
    state.tat = tat;
    if (lo !== 0 || state.lo !== undefined) state.lo = lo;
  }
  return { allow, remaining, retryAfterMs, resetAfterMs };
}

test('gcra - take and peek match the reference decision and state bit for bit over random runs', (t) => {
  fc.assert(
    fc.property(
      fc.record({
        rate: fc.integer({ min: 1, max: 10_000 }),
        periodMs: fc.integer({ min: 1, max: 86_400_000 }),
        burst: fc.integer({ min: 1, max: 1000 }),
      }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.constantFrom(0, 1, 1, 1, 2, 7, 0.5, 2000)), {
        minLength: 1,
        maxLength: 200,
      }),
      (limit, steps) => {
        const mine: GcraState = { tat: 0 };
        const ref: GcraState = { tat: 0 };
        let now = EPOCH;
        for (const [dt, cost] of steps) {
          now += dt / 7; // fractional times too: a scaled clock's are not whole ms
          const peeked = gcraPeek(mine, limit, now, cost);
          const taken = gcraTake(mine, limit, now, cost);
          const expected = referenceTake(ref, limit, now, cost);
          if (JSON.stringify(taken) !== JSON.stringify(expected)) return false;
          if (JSON.stringify(peeked) !== JSON.stringify(taken)) return false;
          if (!Object.is(mine.tat, ref.tat) || !Object.is(mine.lo, ref.lo)) return false;
        }
        return true;
      },
    ),
    { seed: 15, numRuns: 300 },
  );
  t.pass();
});
