import test from 'ava';
import { TokenActor } from '../../actors/index.ts';
import { compileRule, InputError, parseRule, SimulatedClock, tokenKeyOf } from '../../lib/index.ts';
import type { Lease } from '../../lib/index.ts';

const T0 = 1_764_000_000_000;
// 10 requests per 1 s, burst 5.
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s', burst: 5 }));
const terms = { decayMs: 10_000, stepMs: 5000 };

function setup() {
  const clock = new SimulatedClock(T0);
  const actor = new TokenActor(tokenKeyOf(rule, { user: 'u1' }), rule, clock);
  return { clock, actor };
}

// A lease's rate is in requests per the rule's period (1 s here), like the rule's own rate.
const lease = (ratePerPeriod: number, ttlMs = 15_000): Lease => ({
  token: 't',
  rate: ratePerPeriod,
  grantedAtMs: T0,
  expiresAtMs: T0 + ttlMs,
});

/** Requests allowed in `ms`, one attempt every 10 ms (after the burst is spent). */
function allowedOver(clock: SimulatedClock, actor: TokenActor, ms: number): number {
  let n = 0;
  for (let i = 0; i < ms / 10; i++) {
    if (actor.check(1).allow) n++;
    clock.advance(10);
  }
  return n;
}

test('token-actor-lease - a lease above the rule limit lets more through', (t) => {
  const plain = setup();
  const leased = setup();
  // 40 per second, four times the rule (whatever the pool's 5 s step).
  leased.actor.setLease(lease(40), terms);
  const a = allowedOver(plain.clock, plain.actor, 2000);
  const b = allowedOver(leased.clock, leased.actor, 2000);
  t.true(b > a * 3, `leased ${b}, plain ${a}`);
  t.is(leased.actor.peek(0).limit, 40);
});

test('token-actor-lease - a short pool lowers the limit', (t) => {
  const { clock, actor } = setup();
  // 2 per second.
  actor.setLease(lease(2), terms);
  const n = allowedOver(clock, actor, 5000);
  t.true(n <= 5 + 11, `allowed ${n}`);
  t.true(n < 40);
  t.is(actor.check(0).limit, 2);
});

test('token-actor-lease - after expiry the limit decays to the rule limit, never zero or unlimited', (t) => {
  const { clock, actor } = setup();
  actor.setLease(lease(0, 1000), terms);
  t.true(actor.peek(0).limit > 0);
  t.true(actor.peek(0).limit < 1e-3);
  clock.set(T0 + 1000 + 5000);
  t.is(actor.peek(0).limit, 5);
  clock.set(T0 + 1000 + 10_000);
  t.is(actor.peek(0).limit, 10);
  clock.advance(60_000);
  t.is(actor.peek(0).limit, 10);

  const high = setup();
  high.actor.setLease(lease(200, 1000), terms);
  t.is(high.actor.peek(0).limit, 200);
  high.clock.set(T0 + 1000 + 10_000);
  t.is(high.actor.peek(0).limit, 10);
});

test('token-actor-lease - a starved token recovers as soon as its limit comes back', (t) => {
  const { clock, actor } = setup();
  actor.setLease(lease(0, 1000), terms);
  const first = Array.from({ length: 6 }, () => actor.check(1).allow);
  // The burst still passes; then nothing at a near-zero rate.
  t.deepEqual(first, [true, true, true, true, true, false]);
  clock.set(T0 + 1000 + 10_000);
  // At most an empty bucket under the restored limit (one 100 ms interval), not the starved rate's debt.
  const d = actor.check(1);
  t.true(d.allow || (d.retryAfterMs > 0 && d.retryAfterMs <= 100), `retry after ${d.retryAfterMs}`);
  clock.advance(100);
  t.true(actor.check(1).allow);
});

test('token-actor-lease - without a lease nothing changes', (t) => {
  const { actor } = setup();
  t.is(actor.check(1).limit, 10);
  const d = actor.describe();
  t.is(d.lease, undefined);
  t.deepEqual(d.effectiveLimit, { rate: 10, periodMs: 1000, burst: 5 });
  actor.setLease(lease(100), terms);
  actor.setLease(undefined, terms);
  t.is(actor.peek(0).limit, 10);
});

test('token-actor-lease - describe shows the lease and the effective limit', (t) => {
  const { actor } = setup();
  actor.setLease(lease(20), terms);
  const d = actor.describe();
  t.deepEqual(d.lease, { ...lease(20), ...terms });
  t.deepEqual(d.effectiveLimit, { rate: 20, periodMs: 1000, burst: 5 });
});

test('token-actor-lease - bad leases are refused with the field named', (t) => {
  const { actor } = setup();
  t.throws(() => actor.setLease(lease(-1), terms), { instanceOf: InputError, message: /lease\.rate/ });
  t.throws(() => actor.setLease(lease(1), { decayMs: 1, stepMs: 0 }), {
    instanceOf: InputError,
    message: /lease\.stepMs/,
  });
  t.throws(() => actor.setLease(lease(1), { decayMs: -1, stepMs: 5 }), {
    instanceOf: InputError,
    message: /lease\.decayMs/,
  });
});
