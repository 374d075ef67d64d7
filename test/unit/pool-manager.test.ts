import test from 'ava';
import { InputError, SimulatedClock } from '../../lib/index.ts';
import { HpaPolicy, QuantilePolicy, effectiveLimit } from '../../lib/index.ts';
import type { CapacityPolicy } from '../../lib/index.ts';
import { PoolManager } from '../../actors/index.ts';
import type { AllocationDecision, PoolConfig } from '../../actors/index.ts';
import { SimulatedProvider } from '../../sim/index.ts';

const STEP = 60_000;
const LEAD = 3;
const config: PoolConfig = {
  name: 'db',
  unitCapacity: 10,
  minUnits: 1,
  maxUnits: 100,
  stepMs: STEP,
  leadSteps: LEAD,
  leaseTtlMs: 2 * STEP,
};
// Demand per step: flat 50, then a ramp to 400 from step 20.
const demand = (s: number): number => (s < 20 ? 50 : 400);
const horizons = [1, 2, 3, 4];

/** Runs a pool over 30 steps with a perfect forecast; returns ready capacity per step. */
function run(
  policy: CapacityPolicy,
  sink?: (d: AllocationDecision) => void,
): { ready: number[]; requested: number } {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: LEAD * STEP, initialUnits: 5 });
  const pool = new PoolManager(config, { clock, provider, policy, ...(sink ? { sink } : {}) });
  const ready: number[] = [];
  let requested = -1;
  for (let s = 0; s < 30; s++) {
    clock.set(s * STEP);
    const r = provider.readyUnits(clock.now());
    ready.push(r);
    const d = demand(s);
    clock.set((s + 1) * STEP);
    const p50 = horizons.map((h) => demand(s + h));
    pool.want({ token: 'tok', priority: 1, wants: { horizons, p10: p50, p50, p90: p50 } });
    const res = pool.tick({
      step: s,
      demand: d,
      served: Math.min(d, r * 10),
      throttled: Math.max(0, d - r * 10),
    });
    if (requested < 0 && res.target >= 40) requested = s;
  }
  return { ready, requested };
}

test('pool manager - a predicted ramp gets capacity ready before the ramp arrives', (t) => {
  const decisions: AllocationDecision[] = [];
  const { ready, requested } = run(new QuantilePolicy(0.5), (d) => decisions.push(d));
  // The units were asked for a full lead time ahead, and are ready at step 20.
  t.true(requested <= 20 - 1 - LEAD, `requested at step ${requested}`);
  t.true(ready[19]! < 40, 'not bought too early');
  t.true(ready[20]! >= 40, `ready at ramp: ${ready[20]}`);
  const provision = decisions.find((d) => d.kind === 'provision' && d.toUnits === 40);
  t.truthy(provision);
  t.is(provision!.forecast.p50[LEAD], 400, 'the decision carries the forecast that led to it');
});

test('pool manager - the feedback loop compares actual demand with the forecasts per pool and token', (t) => {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: STEP, initialUnits: 10 });
  const pool = new PoolManager(config, { clock, provider, policy: new QuantilePolicy(0.5) });
  for (let s = 0; s < 50; s++) {
    clock.set((s + 1) * STEP);
    // Token a forecasts itself exactly; token b always forecasts 20 too many.
    const a = [1, 2].map((h) => 10 + s + h);
    const b = [1, 2].map(() => 50 + 20);
    pool.want({
      token: 'a',
      priority: 1,
      actual: 10 + s,
      wants: { horizons: [1, 2], p10: a, p50: a, p90: a },
    });
    pool.want({ token: 'b', priority: 1, actual: 50, wants: { horizons: [1, 2], p10: b, p50: b, p90: b } });
    pool.tick({ step: s, demand: 60 + s, served: 60 + s, throttled: 0 });
  }
  const fb = pool.feedback();
  t.is(fb.tokens.a![0]!.mae, 0);
  t.is(fb.tokens.a![1]!.coverage90, 1);
  t.true(Math.abs(fb.tokens.b![0]!.mae - 20) < 1e-9);
  t.true(Math.abs(fb.pool[1]!.mae - 20) < 1e-9);
  t.is(fb.pool[0]!.count, 49);
  t.is(fb.pool[1]!.horizon, 2);
});

test('pool manager - the reactive policy only reacts after the ramp (the baseline to beat)', (t) => {
  const { ready } = run(new HpaPolicy());
  t.true(ready[20]! * 10 < 400);
  t.true(ready[20 + LEAD + 1]! * 10 >= 400);
});

test('pool manager - leases under contention follow max-min fair share by priority', (t) => {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: STEP, initialUnits: 10 });
  const fixed: CapacityPolicy = { name: 'fixed', decide: () => 10 };
  const pool = new PoolManager(config, { clock, provider, policy: fixed });
  const w = (x: number) => ({ horizons: [1], p10: [x], p50: [x], p90: [x] });
  pool.want({ token: 'small', priority: 1, wants: w(10) });
  pool.want({ token: 'low', priority: 1, wants: w(200) });
  pool.want({ token: 'high', priority: 2, wants: w(200) });
  pool.tick({ step: 0, demand: 410, served: 100, throttled: 310 });
  // 100 of capacity: small gets its 10, the other 90 split 1:2.
  t.is(pool.lease('small')!.rate, 10);
  t.is(pool.lease('low')!.rate, 30);
  t.is(pool.lease('high')!.rate, 60);
});

test('pool manager - when the manager is lost, leases decay to the rule limits, never zero or unlimited', (t) => {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: STEP, initialUnits: 2 });
  const pool = new PoolManager(config, { clock, provider, policy: { name: 'fixed', decide: () => 2 } });
  const w = (x: number) => ({ horizons: [1], p10: [x], p50: [x], p90: [x] });
  pool.want({ token: 'starved', priority: 1, wants: w(1000) });
  pool.want({ token: 'rich', priority: 1, wants: w(1) });
  pool.tick({ step: 0, demand: 0, served: 0, throttled: 0 });
  const rules = { starved: 50, rich: 5 };
  const limitAt = (token: 'starved' | 'rich', ms: number): number =>
    effectiveLimit(rules[token], pool.lease(token), ms, 60_000);
  t.is(limitAt('starved', 1_000), 19);
  t.is(limitAt('rich', 1_000), 1);
  // No more ticks: the manager is unreachable. After expiry plus the decay, the rule's own limit.
  const later = config.leaseTtlMs + 60_000;
  t.is(limitAt('starved', later), 50);
  t.is(limitAt('rich', later), 5);
  for (let ms = 0; ms < later * 2; ms += 7_000) {
    for (const tok of ['starved', 'rich'] as const) {
      const l = limitAt(tok, ms);
      t.true(l > 0 && Number.isFinite(l));
    }
  }
});

test('pool manager - bad configuration and wants are rejected naming the field', (t) => {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: 0 });
  const policy: CapacityPolicy = { name: 'x', decide: () => 1 };
  t.throws(() => new PoolManager({ ...config, maxUnits: 0 }, { clock, provider, policy }), {
    instanceOf: InputError,
    message: 'pool.maxUnits must be an integer >= minUnits (1), got 0',
  });
  const pool = new PoolManager(config, { clock, provider, policy });
  t.throws(
    () => pool.want({ token: 't', priority: 0, wants: { horizons: [1], p10: [1], p50: [1], p90: [1] } }),
    {
      instanceOf: InputError,
      message: 'want[t].priority must be a positive number, got 0',
    },
  );
});

test('pool manager - the simulated provider honours lead time and releases at once', (t) => {
  const p = new SimulatedProvider({ leadMs: 3000, initialUnits: 2 });
  p.setUnits(5, 1000);
  t.is(p.readyUnits(3999), 2);
  t.is(p.startingUnits(3999), 3);
  t.is(p.readyUnits(4000), 5);
  p.setUnits(7, 5000);
  p.setUnits(4, 5500);
  t.is(p.startingUnits(5500), 0, 'starting units are cancelled first');
  t.is(p.readyUnits(5500), 4);
});

// Issue 12: a rule of 20 per second on a pool of 10 per second per unit, one unit ready.
const SEC = 1000;
const perSecond = { rate: 20, periodMs: SEC };
const wantsOf = (x: number) => ({ horizons: [1], p10: [x], p50: [x], p90: [x] });

/** A pool of 1 s steps holding `ready` units (fixed policy), one token wanting `want` per second. */
function leaseFor(
  o: { limits?: 'raise-only' | 'protect'; ready: number; maxUnits: number; want: number; demand?: number },
  limit: { rate: number; periodMs: number } | null = perSecond,
): number {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: 0, initialUnits: o.ready });
  const pool = new PoolManager(
    {
      ...config,
      stepMs: SEC,
      leadSteps: 0,
      minUnits: 0,
      maxUnits: o.maxUnits,
      leaseTtlMs: 3 * SEC,
      ...(o.limits === undefined ? {} : { limits: o.limits }),
    },
    { clock, provider, policy: { name: 'fixed', decide: () => o.ready } },
  );
  clock.set(SEC);
  pool.want({ token: 'tok', priority: 1, wants: wantsOf(o.want), ...(limit === null ? {} : { limit }) });
  const demand = o.demand ?? o.want;
  pool.tick({ step: 0, demand, served: demand, throttled: 0 });
  return pool.lease('tok')!.rate;
}

test('pool manager - raise-only (the default) never lowers a token below its rule while the pool can grow', (t) => {
  // The fair share is the 10 per second one unit serves: below the rule's 20.
  t.is(leaseFor({ ready: 1, maxUnits: 10, want: 30 }), 20);
  t.is(leaseFor({ limits: 'raise-only', ready: 1, maxUnits: 10, want: 30 }), 20);
  // No units ready at all (all starting): still the rule's limit, not a starved lease.
  t.is(leaseFor({ ready: 0, maxUnits: 10, want: 30 }), 20);
  // Spare capacity still raises it: 5 units serve 50 per second, all of it the token's.
  t.is(leaseFor({ ready: 5, maxUnits: 10, want: 30 }), 50);
});

test('pool manager - raise-only lowers a token below its rule only at maxUnits with demand above capacity', (t) => {
  // At maxUnits (1 ready of 1) and 30 wanted per second against 10: the fair share, 10.
  t.is(leaseFor({ ready: 1, maxUnits: 1, want: 30 }), 10);
  // At maxUnits but the step's realised demand alone exceeds the capacity: lowered too.
  t.is(leaseFor({ ready: 1, maxUnits: 1, want: 5, demand: 40 }), 10);
  // At maxUnits, demand within capacity: the rule's limit stands.
  t.is(leaseFor({ ready: 1, maxUnits: 1, want: 8, demand: 8 }), 20);
});

test('pool manager - protect hands out the fair share of the ready capacity, below the rule when short', (t) => {
  t.is(leaseFor({ limits: 'protect', ready: 1, maxUnits: 10, want: 30 }), 10);
  t.is(leaseFor({ limits: 'protect', ready: 0, maxUnits: 10, want: 30 }), 0);
  t.is(leaseFor({ limits: 'protect', ready: 5, maxUnits: 10, want: 30 }), 50);
});

test('pool manager - a lease is in requests per the rule period, whatever the pool step', (t) => {
  // 1200 per minute is 20 per second; one unit serves 10 per 1 s step = 600 per minute.
  const perMinute = { rate: 1200, periodMs: 60 * SEC };
  t.is(leaseFor({ limits: 'protect', ready: 1, maxUnits: 10, want: 30 }, perMinute), 600);
  t.is(leaseFor({ ready: 1, maxUnits: 10, want: 30 }, perMinute), 1200);
  t.is(leaseFor({ ready: 5, maxUnits: 10, want: 30 }, perMinute), 3000);
  // Without the rule's limit the lease is the fair share per step (the replay's case).
  t.is(leaseFor({ ready: 1, maxUnits: 10, want: 30 }, null), 10);
});

test('pool manager - lease decisions say how the rate came about; a bad limit is named', (t) => {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: 0, initialUnits: 1 });
  const decisions: AllocationDecision[] = [];
  const pool = new PoolManager(
    { ...config, stepMs: SEC, leadSteps: 0, minUnits: 1, maxUnits: 10, leaseTtlMs: 3 * SEC },
    { clock, provider, policy: { name: 'fixed', decide: () => 1 }, sink: (d) => decisions.push(d) },
  );
  pool.want({ token: 'tok', priority: 1, wants: wantsOf(30), limit: perSecond });
  pool.tick({ step: 0, demand: 30, served: 10, throttled: 20 });
  const lease = decisions.find((d) => d.kind === 'lease')!;
  t.is(lease.rate, 20);
  t.regex(lease.reason!, /^raise-only: the rule's limit, above the fair share 10 per step/);
  t.throws(
    () => pool.want({ token: 'x', priority: 1, wants: wantsOf(1), limit: { rate: 0, periodMs: SEC } }),
    {
      instanceOf: InputError,
      message: 'want[x].limit.rate must be a positive number, got 0',
    },
  );
  t.throws(
    () =>
      new PoolManager(
        { ...config, limits: 'lower' as 'protect' },
        { clock, provider, policy: { name: 'x', decide: () => 1 } },
      ),
    {
      instanceOf: InputError,
      message: /^pool\.limits must be one of raise-only, protect, got "lower"/,
    },
  );
});

test('pool manager - the first step scale-up is recorded with its reason and forecast', (t) => {
  const clock = new SimulatedClock(0);
  const provider = new SimulatedProvider({ leadMs: 0, initialUnits: 1 });
  const decisions: AllocationDecision[] = [];
  const pool = new PoolManager(
    { ...config, stepMs: SEC, leadSteps: 0, minUnits: 1, maxUnits: 4, leaseTtlMs: 3 * SEC },
    { clock, provider, policy: new QuantilePolicy(0.9), sink: (d) => decisions.push(d) },
  );
  pool.want({ token: 'tok', priority: 1, wants: wantsOf(100), limit: perSecond });
  pool.tick({ step: 0, demand: 30, served: 10, throttled: 20 });
  const up = decisions.find((d) => d.kind === 'provision')!;
  t.like(up, { fromUnits: 1, toUnits: 4, policy: 'quantile' });
  t.is(
    up.reason,
    'policy quantile asked for 10 units, capped at maxUnits 4; forecast p50 100, p90 100 requests per step' +
      ' 1 step(s) ahead; last step 30 requests, 20 throttled; 4 units of 10 per step',
  );
  t.deepEqual(up.forecast.p90, [100]);
});
