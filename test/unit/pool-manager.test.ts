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
