import test from 'ava';
import { readFileSync } from 'node:fs';
import { InputError } from '../../lib/index.ts';
import { parseTrace } from '../../lib/index.ts';
import { HpaPolicy, unitsForWants } from '../../lib/index.ts';
import type { PolicyObservation } from '../../lib/index.ts';
import {
  DEFAULT_ACTION,
  RecentLoad,
  RlPolicy,
  RL_ACTIONS,
  STATE_COUNT,
  featuresOf,
  stateOf,
} from '../../models/index.ts';
import { prepareReplay, runReplay } from '../../sim/index.ts';
import type { ReplayData } from '../../sim/index.ts';
import { tracePath } from '../helpers/traces-data.ts';

const FB = tracePath('nab-tweets', 'Twitter_volume_FB.csv');
let data: ReplayData;

test.before(async () => {
  // A slice keeps the test fast: 5,000 five-minute steps (17 days).
  const text = readFileSync(FB, 'utf8').split('\n').slice(0, 5001).join('\n');
  data = await prepareReplay(parseTrace(text));
});

test('rl - learning improves the objective over episodes on a trace', (t) => {
  const rl = new RlPolicy({ throttlePrice: data.model.throttlePrice });
  const objectives: number[] = [];
  for (let e = 0; e < 3; e++) {
    rl.resetEpisode();
    objectives.push(runReplay(data, rl).objective);
  }
  t.true(rl.stats.updates > 4000);
  // Each episode learns from the last. On the served forecasts of 4 pending forecasts per horizon
  // (issue 12 item 7) three episodes gain 0.84 % and six 0.96 %; the untrained policy is 2.8 %
  // worse than the first episode (it was above 1 % in three with the former combiner's forecasts).
  t.true(
    objectives[1]! < objectives[0]! && objectives[2]! < objectives[1]!,
    `episodes: ${objectives.join(', ')}`,
  );
  t.true(objectives[2]! < 0.995 * objectives[0]!, `episodes: ${objectives.join(', ')}`);
  // A policy that does not learn stays where it started.
  const frozen = new RlPolicy({ throttlePrice: data.model.throttlePrice, learn: false });
  const a = runReplay(data, frozen).objective;
  frozen.resetEpisode();
  t.is(runReplay(data, frozen).objective, a);
  t.true(objectives[2]! < a);
});

test('rl - a higher throttle price buys more capacity and throttles less', (t) => {
  const c = (data.model.unitCost * data.stepMs) / 1000 / data.model.unitCapacity;
  const cheap = runReplay(data, new RlPolicy({ throttlePrice: 2 * c }));
  const dear = runReplay(data, new RlPolicy({ throttlePrice: 50 * c }));
  t.true(dear.cost > cheap.cost);
  t.true(dear.throttledFraction < cheap.throttledFraction);
});

test('rl - the learned policy persists as JSON and decides the same after reload', (t) => {
  const rl = new RlPolicy({ throttlePrice: data.model.throttlePrice });
  runReplay(data, rl);
  const json = JSON.parse(JSON.stringify(rl.toJSON())) as unknown;
  const a = new RlPolicy({ throttlePrice: data.model.throttlePrice, learn: false }, rl.toJSON());
  const b = RlPolicy.fromJSON(json, { learn: false });
  t.deepEqual(runReplay(data, a), runReplay(data, b));
  t.throws(() => RlPolicy.fromJSON({ kind: 'other' }), {
    instanceOf: InputError,
    message: 'rl policy must be a headroom-rl-q version 2 object, got "other"',
  });
  t.throws(() => RlPolicy.fromJSON({ ...rl.toJSON(), version: 1 }), {
    instanceOf: InputError,
    message: 'rl policy must be a headroom-rl-q version 2 object, got "version 1"',
  });
  t.throws(() => RlPolicy.fromJSON({ ...rl.toJSON(), q: [1] }), { instanceOf: InputError });
});

test('rl - exploration never holds less than the reactive rule would', (t) => {
  const rl = new RlPolicy({ throttlePrice: data.model.throttlePrice, epsilon: 1, seed: 7 });
  const hpa = new HpaPolicy();
  const checks = { n: 0 };
  const wrapped = {
    name: 'rl',
    decide(o: PolicyObservation): number {
      const floor = hpa.decide(o);
      const u = rl.decide(o);
      checks.n++;
      if (u < floor) t.fail(`step ${o.step}: ${u} < reactive ${floor}`);
      return u;
    },
  };
  runReplay(data, wrapped, { to: data.start + 500 });
  t.is(rl.stats.explored, checks.n);
  t.is(checks.n, 500);
});

test('rl - state features are scale-free and inside the table', (t) => {
  const o = (scale: number): PolicyObservation => ({
    step: 1,
    nowMs: Date.UTC(2020, 0, 1, 13),
    stepMs: 60_000,
    unitCapacity: 10 * scale,
    leadSteps: 1,
    demand: 100 * scale,
    served: 90 * scale,
    throttled: 10 * scale,
    readyUnits: 9,
    startingUnits: 0,
    wants: {
      horizons: [1, 2],
      p10: [80 * scale, 80 * scale],
      p50: [100 * scale, 120 * scale],
      p90: [130 * scale, 150 * scale],
    },
  });
  t.is(stateOf(featuresOf(o(1), true, 2)), stateOf(featuresOf(o(1000), true, 2)));
  // Volatility is a state dimension: a bursty window is a different state from a calm one.
  t.not(stateOf(featuresOf(o(1), true, 1.1)), stateOf(featuresOf(o(1), true, 4)));
  for (const ptm of [0, 1, 2, 5, 1e9, Number.NaN])
    for (const thr of [false, true]) t.true(stateOf(featuresOf(o(1), thr, ptm)) < STATE_COUNT);
  t.is(RL_ACTIONS.length, 108);
});

test('rl - the volatility window tracks the mean and peak of the last steps', (t) => {
  const w = new RecentLoad(5);
  const seen: number[] = [];
  let x = 7;
  for (let i = 0; i < 500; i++) {
    // A deterministic sawtooth with bursts, long enough to pass the compaction.
    x = (x * 31 + 11) % 97;
    const v = i % 50 === 0 ? 1000 : x;
    seen.push(v);
    w.push(v);
    const last = seen.slice(-5);
    t.is(w.peak, Math.max(...last));
    t.true(Math.abs(w.mean - last.reduce((a, b) => a + b, 0) / last.length) < 1e-9);
  }
  t.throws(() => new RecentLoad(0), { instanceOf: InputError });
});

test('rl - a dip shorter than the start-up lead releases nothing', (t) => {
  // Untrained and not learning, the policy takes its default action at every step.
  const rl = new RlPolicy({ throttlePrice: 1, learn: false });
  const lead = 2;
  const wants = (p50: number) => ({
    horizons: [1, 2, 3],
    p10: [0, 0, 0],
    p50: [p50, p50, p50],
    p90: [p50 * 1.2, p50 * 1.2, p50 * 1.2],
  });
  const obs = (step: number, p50: number): PolicyObservation => ({
    step,
    nowMs: step * 1000,
    stepMs: 1000,
    unitCapacity: 1,
    leadSteps: lead,
    demand: p50,
    served: p50,
    throttled: 0,
    readyUnits: 0,
    startingUnits: 0,
    wants: wants(p50),
  });
  const z = RL_ACTIONS[DEFAULT_ACTION]!.z;
  const high = unitsForWants(wants(100), 1, z);
  const low = unitsForWants(wants(10), 1, z);
  t.true(high > low);
  const got = [100, 10, 10, 10, 10].map((p50, step) => rl.decide(obs(step, p50)));
  // Held for the decision that asked and the next `lead`, released after.
  t.deepEqual(got, [high, high, high, low, low]);
});
