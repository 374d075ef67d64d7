// Issue 12, WorldCup98 live run: a lease that raises a token's rate must keep
// its rule's burst tolerance in time, or requests spread at the lease's rate
// are denied for arriving a moment early.
import test from 'ava';
import { PoolManager, TokenActor } from '../../actors/index.ts';
import {
  InputError,
  SimulatedClock,
  compileRule,
  leaseBurst,
  parseRule,
  tokenKeyOf,
} from '../../lib/index.ts';
import type { Lease, LeaseLimits } from '../../lib/index.ts';
import { checkWantParams } from '../../services/index.ts';
import { SimulatedProvider } from '../../sim/index.ts';

const T0 = 1_764_000_000_000;
const SEC = 1000;
const STEP = 5 * SEC;
const wantsOf = (x: number) => ({ horizons: [1], p10: [x], p50: [x], p90: [x] });

/**
 * The lease a pool of 5 s steps, units of 1 request per second and `ready`
 * units held, grants one token whose rule is `limit` and which wants `want`
 * requests per step.
 */
function grant(o: {
  ready: number;
  limit: { rate: number; periodMs: number; burst?: number };
  want?: number;
  limits?: LeaseLimits;
}): Lease {
  const clock = new SimulatedClock(T0);
  const provider = new SimulatedProvider({ leadMs: 0, initialUnits: o.ready });
  const pool = new PoolManager(
    {
      name: 'db',
      unitCapacity: STEP / SEC,
      minUnits: 0,
      maxUnits: 20,
      stepMs: STEP,
      leadSteps: 0,
      leaseTtlMs: 20 * STEP,
      ...(o.limits === undefined ? {} : { limits: o.limits }),
    },
    { clock, provider, policy: { name: 'fixed', decide: () => o.ready } },
  );
  clock.advance(STEP);
  const want = o.want ?? 10;
  pool.want({ token: 'tok', priority: 1, wants: wantsOf(want), limit: o.limit });
  pool.tick({ step: 0, demand: want, served: want, throttled: 0 });
  return pool.lease('tok')!;
}

// The WorldCup run's rule: 0.5 per second, so its burst is 1 (a tolerance of 2 s).
const slow = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 0.5, period: '1s' }));
const slowLimit = { rate: 0.5, periodMs: SEC, burst: 1 };

test('pool lease burst - a raised lease keeps the rule burst tolerance in time, at most a step', (t) => {
  // 4 units of 1/s: 4 per second, with the rule's 2 s of tolerance: 8.
  const lease = grant({ ready: 4, limit: slowLimit });
  t.is(lease.rate, 4);
  t.is(lease.burst, 8);
  // A rule of 10 per minute, burst 10 (a minute of tolerance), raised to 2 per second: one 5 s step of it.
  const perMinute = grant({ ready: 2, limit: { rate: 10, periodMs: 60 * SEC, burst: 10 } });
  t.is(perMinute.rate, 120);
  t.is(perMinute.burst, 10);
  t.is(leaseBurst(7200, { rate: 1, periodMs: 3600 * SEC, burst: 1 }, STEP), 10);
});

test('pool lease burst - requests spread at the lease rate pass when they arrive a moment early', (t) => {
  const clock = new SimulatedClock(T0);
  const actor = new TokenActor(tokenKeyOf(slow, { user: 'u1' }), slow, clock);
  const lease = grant({ ready: 4, limit: slowLimit });
  actor.setLease(lease, { decayMs: 2 * STEP, stepMs: STEP });
  // 4 per second for 60 s, each 30 ms early or late of its even spacing, as a
  // time-scaled node sees them: within the lease, so none is denied.
  let denied = 0;
  for (let i = 0; i < 240; i++) {
    clock.set(lease.grantedAtMs + 100 + i * 250 + (i % 2 === 0 ? 30 : -30));
    if (!actor.check(1).allow) denied++;
  }
  t.is(denied, 0);
  // The lease still bounds the rate: a burst of 20 at once passes its 8 and no more.
  clock.advance(10 * SEC);
  let allowed = 0;
  for (let i = 0; i < 20; i++) if (actor.check(1).allow) allowed++;
  t.is(allowed, 8);
});

test('pool lease burst - never below the rule burst: raised by a step cap, or lowered', (t) => {
  // A rule of 1 per second with a burst of 20 (20 s): a step of 2/s is 10, the rule's 20 stands.
  t.is(grant({ ready: 2, limit: { rate: 1, periodMs: SEC, burst: 20 } }).burst, 20);
  // Protect lowers the rate below the rule (1 unit for a rule of 4/s); the burst stays the rule's.
  const low = grant({ ready: 1, limits: 'protect', limit: { rate: 4, periodMs: SEC, burst: 4 } });
  t.is(low.rate, 1);
  t.is(low.burst, 4);
  // A token that did not send its burst keeps its rule's (the lease carries none).
  t.is(grant({ ready: 4, limit: { rate: 0.5, periodMs: SEC } }).burst, undefined);
});

test('pool lease burst - the burst decays with the rate back to the rule', (t) => {
  const clock = new SimulatedClock(T0);
  const actor = new TokenActor(tokenKeyOf(slow, { user: 'u1' }), slow, clock);
  const lease: Lease = { token: 'tok', rate: 4, burst: 8, grantedAtMs: T0, expiresAtMs: T0 + 15 * SEC };
  const terms = { decayMs: 10 * SEC, stepMs: STEP };
  actor.setLease(lease, terms);
  t.like(actor.describe().effectiveLimit, { rate: 4, burst: 8 });
  // Half way down the decay: 2.25 per second, still 2 s of tolerance.
  clock.set(T0 + 20 * SEC);
  t.like(actor.describe().effectiveLimit, { rate: 2.25, burst: 4.5 });
  clock.set(T0 + 60 * SEC);
  t.like(actor.describe().effectiveLimit, { rate: 0.5, burst: 1 });
  // Without a burst of its own, the rule's.
  const { burst: _, ...plain } = lease;
  actor.setLease({ ...plain, expiresAtMs: T0 + 100 * SEC }, terms);
  t.like(actor.describe().effectiveLimit, { rate: 4, burst: 1 });
});

test('pool lease burst - a bad burst is refused with the field named', (t) => {
  const lease: Lease = { token: 'tok', rate: 4, burst: 0.5, grantedAtMs: T0, expiresAtMs: T0 + SEC };
  const actor = new TokenActor(tokenKeyOf(slow, { user: 'u1' }), slow, new SimulatedClock(T0));
  t.throws(() => actor.setLease(lease, { decayMs: 0, stepMs: STEP }), {
    instanceOf: InputError,
    message: /^lease\.burst must be a finite number >= 1, got 0\.5/,
  });
  const want = { token: 'a', priority: 1, wants: wantsOf(1) };
  t.notThrows(() => checkWantParams({ pool: 'db', wants: [{ ...want, limit: slowLimit }] }));
  t.throws(
    () =>
      checkWantParams({ pool: 'db', wants: [{ ...want, limit: { rate: 1, periodMs: SEC, burst: 'x' } }] }),
    { instanceOf: InputError, message: /^wants\[0\]\.limit\.burst must be a number >= 1, got "x"/ },
  );
  t.throws(() => grant({ ready: 1, limit: { rate: 1, periodMs: SEC, burst: 0 } }), {
    instanceOf: InputError,
    message: 'want[tok].limit.burst must be a number >= 1, got 0',
  });
  t.throws(() => leaseBurst(1, { rate: 1, periodMs: SEC, burst: 1 }, 0), {
    instanceOf: InputError,
    message: /^stepMs must be/,
  });
});
