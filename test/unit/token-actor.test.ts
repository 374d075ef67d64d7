import test from 'ava';
import { TokenActor } from '../../actors/index.ts';
import type { TokenActorSnapshot } from '../../actors/index.ts';
import { compileRule, InputError, parseRule, SimulatedClock, tokenKeyOf } from '../../lib/index.ts';
import type { CompiledRule } from '../../lib/index.ts';

const T0 = 1_764_000_000_000;
const perUser = (patch: Record<string, unknown> = {}): CompiledRule =>
  compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s', burst: 5, ...patch }));

function setup(rule = perUser()) {
  const clock = new SimulatedClock(T0);
  const token = tokenKeyOf(rule, { user: 'u1' });
  return { clock, token, actor: new TokenActor(token, rule, clock) };
}

test('token-actor - checks take from the bucket and are recorded in the window', (t) => {
  const { clock, token, actor } = setup();
  const decisions = Array.from({ length: 6 }, () => actor.check(1));
  t.deepEqual(
    decisions.map((d) => d.allow),
    [true, true, true, true, true, false],
  );
  t.deepEqual(decisions[5], {
    token,
    ruleId: 'per-user',
    mode: 'enforce',
    allow: false,
    limit: 10,
    remaining: 0,
    retryAfterMs: 100,
    resetAfterMs: 500,
  });
  clock.advance(100);
  t.true(actor.check(1).allow);
  t.deepEqual(actor.window.totals(), { requests: 7, allowed: 6, denied: 1, cost: 7 });
  t.is(actor.lastMs, T0 + 100);
});

test('token-actor - check at a given time decides and records as the clock at that time would', (t) => {
  const a = setup();
  const b = setup();
  // b is told the time (a batch's one clock read); a reads it from its clock, moved to the same times.
  for (const dt of [0, 0, 0, 0, 0, 0, 30, 70, 0, 250, 999]) {
    a.clock.advance(dt);
    t.deepEqual(b.actor.check(1, a.clock.now()), a.actor.check(1));
  }
  t.not(b.clock.now(), a.clock.now(), "b's own clock never moved");
  t.deepEqual(b.actor.window.totals(), a.actor.window.totals());
  t.deepEqual(b.actor.snapshot().window, a.actor.snapshot().window);
  t.is(b.actor.lastMs, a.actor.lastMs);
  t.is(b.actor.tat, a.actor.tat);
});

test('token-actor - shadow mode reports the would-be denial', (t) => {
  const { actor } = setup(perUser({ mode: 'shadow', burst: 1 }));
  t.like(actor.check(1), { mode: 'shadow', allow: true });
  t.like(actor.check(1), { mode: 'shadow', allow: false, retryAfterMs: 100 });
  t.is(actor.window.totals().denied, 1);
});

test('token-actor - refund returns the budget and recounts the request as denied', (t) => {
  const { clock, actor } = setup();
  for (let i = 0; i < 5; i++) actor.check(1);
  const at = clock.now();
  clock.advance(1500); // the refund arrives later, in another second
  actor.check(1); // refilled by now
  actor.refund(1, at);
  t.deepEqual(actor.window.series('1s', 2, clock.now()).buckets, [
    { requests: 5, allowed: 4, denied: 1, cost: 5 },
    { requests: 1, allowed: 1, denied: 0, cost: 1 },
  ]);
  t.is(actor.peek(0).remaining, 5, 'refunded budget is back');
});

test('token-actor - peek changes nothing', (t) => {
  const { actor } = setup();
  actor.check(2);
  const snap = JSON.stringify(actor.snapshot());
  t.like(actor.peek(3), { allow: true, remaining: 0 });
  t.like(actor.peek(4), { allow: false, retryAfterMs: 100 });
  t.is(JSON.stringify(actor.snapshot()), snap);
});

test('token-actor - a restored snapshot continues the same counts: an over-limit token stays throttled', (t) => {
  const { clock, token, actor } = setup(perUser({ rate: 1, period: '1m', burst: 3 }));
  for (let i = 0; i < 4; i++) actor.check(1);
  clock.advance(2_000);
  const wire = JSON.parse(JSON.stringify(actor.snapshot())) as TokenActorSnapshot;

  // The new owner's clock is 300 ms behind (skew between nodes).
  const other = new SimulatedClock(clock.now() - 300);
  const moved = new TokenActor(token, perUser({ rate: 1, period: '1m', burst: 3 }), other, wire);
  const d = moved.check(1);
  t.false(d.allow);
  t.is(d.retryAfterMs, 60_000 - 2_000 + 300);
  t.deepEqual(moved.window.totals(), { requests: 5, allowed: 3, denied: 2, cost: 5 });
  t.is(moved.createdMs, T0);
  const now = other.now();
  t.deepEqual(moved.window.series('1m', 1, now).buckets, [{ requests: 5, allowed: 3, denied: 2, cost: 5 }]);
  t.deepEqual(moved.window.series('1s', 60, now - 1_000), actor.window.series('1s', 60, now - 1_000));
  other.advance(58_300);
  t.true(moved.check(1).allow);
  t.false(moved.check(1).allow);
});

test('token-actor - setRule keeps the GCRA state and the window', (t) => {
  const { clock, actor } = setup();
  for (let i = 0; i < 5; i++) actor.check(1);
  actor.setRule(perUser({ rate: 100, burst: 5 })); // T 100 ms -> 10 ms
  t.false(actor.check(1).allow);
  clock.advance(10);
  t.false(actor.check(1).allow, 'the 500 ms of debt is still owed');
  clock.advance(449); // tat T0+500, new tolerance 5 x 10 ms: passes from T0+460
  t.false(actor.check(1).allow);
  clock.advance(1);
  t.true(actor.check(1).allow);
  t.is(actor.window.totals().requests, 9);
  t.throws(() => actor.setRule(perUser({ id: 'other' })), {
    instanceOf: InputError,
    message: /^rule\.id must be/,
  });
});

test('token-actor - snapshots for another token or rule, or malformed, are refused', (t) => {
  const { clock, token, actor } = setup();
  actor.check(1);
  const snap = actor.snapshot();
  const rule = perUser();
  t.throws(() => new TokenActor(tokenKeyOf(rule, { user: 'u2' }), rule, clock, snap), {
    instanceOf: InputError,
    message: /^snapshot\.token must be token per-user\|user=u2, got "per-user\|user=u1"$/,
  });
  t.throws(() => new TokenActor(token, perUser({ id: 'x' }), clock, snap), {
    instanceOf: InputError,
    message: /^snapshot\.ruleId/,
  });
  t.throws(() => new TokenActor(token, rule, clock, { ...snap, gcra: { tat: 'x' } } as never), {
    instanceOf: InputError,
    message: /^snapshot\.gcra\.tat must be a time/,
  });
  t.throws(() => new TokenActor(token, rule, clock, { ...snap, gcra: { tat: 1, lo: null } } as never), {
    instanceOf: InputError,
    message: /^snapshot\.gcra\.lo must be a finite number/,
  });
  t.throws(() => new TokenActor(token, rule, clock, { ...snap, window: { v: 9 } } as never), {
    instanceOf: InputError,
    message: /^snapshot\.window must be/,
  });
});

test('token-actor - describe gives the REPL a JSON view', (t) => {
  const { clock, token, actor } = setup();
  actor.check(1);
  clock.advance(1_000);
  actor.check(1);
  actor.check(1);
  const d = actor.describe();
  t.like(d, {
    token,
    ruleId: 'per-user',
    mode: 'enforce',
    limit: { rate: 10, period: '1s', burst: 5 },
    remaining: 3,
    resetAfterMs: 200,
    createdMs: T0,
    lastMs: T0 + 1_000,
    totals: { requests: 3, allowed: 3, denied: 0, cost: 3 },
  });
  t.is(d.last60s.requests.length, 60);
  t.deepEqual(d.last60s.requests.slice(-2), [1, 2]);
  t.deepEqual(JSON.parse(JSON.stringify(d)), d);
});

test('token-actor - merging a late hand-off keeps the stricter state and adds the counts', (t) => {
  const rule = perUser({ rate: 1, period: '1m', burst: 3 });
  const { clock, token, actor: old } = setup(rule);
  for (let i = 0; i < 3; i++) old.check(1); // the old owner used the whole burst
  clock.advance(500);
  const fresh = new TokenActor(token, rule, clock); // a request overtook the hand-off
  t.true(fresh.check(1).allow);
  fresh.merge(JSON.parse(JSON.stringify(old.snapshot())) as TokenActorSnapshot);
  t.like(fresh.check(1), { allow: false, retryAfterMs: 60_000 - 500 });
  t.deepEqual(fresh.window.totals(), { requests: 5, allowed: 4, denied: 1, cost: 5 });
  t.is(fresh.createdMs, T0);
  t.is(fresh.lastMs, T0 + 500);
  // Merging a looser state keeps ours.
  const idle = new TokenActor(token, rule, clock);
  fresh.merge(idle.snapshot());
  t.false(fresh.check(1).allow);
  t.throws(() => fresh.merge({ ...old.snapshot(), ruleId: 'x' }), { instanceOf: InputError });
});
