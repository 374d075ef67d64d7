import test from 'ava';
import { InputError } from '../../lib/index.ts';
import {
  HoldDownPolicy,
  HpaPolicy,
  QuantilePolicy,
  effectiveLimit,
  maxMinFairShare,
  normalQuantile,
  quantileAt,
  shareWithSpare,
  unitsFor,
  unitsForWants,
} from '../../lib/index.ts';
import type { Lease, PolicyObservation } from '../../lib/index.ts';

test('allocation - max-min fair share gives small wants in full and splits the rest by priority', (t) => {
  const s = maxMinFairShare(100, [
    { id: 'a', want: 10, weight: 1 },
    { id: 'b', want: 80, weight: 1 },
    { id: 'c', want: 80, weight: 2 },
  ]);
  t.is(s.get('a'), 10);
  t.is(s.get('b'), 30);
  t.is(s.get('c'), 60);
});

test('allocation - fair share without contention grants every want, spare spreads by weight', (t) => {
  const claims = [
    { id: 'a', want: 10, weight: 1 },
    { id: 'b', want: 20, weight: 3 },
  ];
  const s = maxMinFairShare(100, claims);
  t.deepEqual([...s.entries()].sort(), [
    ['a', 10],
    ['b', 20],
  ]);
  const w = shareWithSpare(100, claims);
  t.is(w.get('a'), 10 + 70 / 4);
  t.is(w.get('b'), 20 + (70 * 3) / 4);
});

test('allocation - fair share never exceeds capacity nor any want', (t) => {
  const claims = Array.from({ length: 7 }, (_, i) => ({
    id: `t${i}`,
    want: (i * 37) % 50,
    weight: 1 + (i % 3),
  }));
  for (const cap of [0, 5, 40, 120, 1000]) {
    const s = maxMinFairShare(cap, claims);
    const total = [...s.values()].reduce((a, b) => a + b, 0);
    t.true(total <= cap + 1e-9);
    t.true(
      Math.abs(
        total -
          Math.min(
            cap,
            claims.reduce((a, c) => a + c.want, 0),
          ),
      ) < 1e-9,
    );
    for (const c of claims) t.true(s.get(c.id)! <= c.want + 1e-9);
  }
});

test('allocation - bad claims are rejected naming the field and value', (t) => {
  t.throws(() => maxMinFairShare(-1, []), {
    instanceOf: InputError,
    message: 'capacity must be a finite number >= 0, got -1',
  });
  t.throws(() => maxMinFairShare(1, [{ id: 'x', want: 1, weight: 0 }]), {
    instanceOf: InputError,
    message: 'claims[x].weight must be a positive number, got 0',
  });
});

test('allocation - a lease holds until expiry, then decays to the rule limit, never to zero or unlimited', (t) => {
  const low: Lease = { token: 't', rate: 0, grantedAtMs: 0, expiresAtMs: 10_000 };
  const high: Lease = { token: 't', rate: 1e9, grantedAtMs: 0, expiresAtMs: 10_000 };
  t.is(effectiveLimit(100, low, 5_000, 30_000), 0);
  t.is(effectiveLimit(100, low, 25_000, 30_000), 50);
  t.is(effectiveLimit(100, high, 1_000_000, 30_000), 100);
  t.is(effectiveLimit(100, low, 1_000_000, 30_000), 100);
  t.is(effectiveLimit(100, undefined, 0, 30_000), 100);
  t.throws(() => effectiveLimit(0, undefined, 0, 1), {
    instanceOf: InputError,
    message: 'ruleLimit must be a positive finite number, got 0',
  });
});

test('allocation - quantiles read off the forecast and units needed', (t) => {
  t.is(quantileAt(80, 100, 130, 0.5), 100);
  t.true(Math.abs(quantileAt(80, 100, 130, 0.9) - 130) < 1e-6);
  t.true(Math.abs(quantileAt(80, 100, 130, 0.1) - 80) < 1e-6);
  t.true(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  t.is(unitsFor(100, 10), 10);
  t.is(unitsFor(101, 10), 11);
  t.is(unitsFor(70, 10, 0.7), 10);
  t.is(unitsFor(0, 10), 0);
  t.throws(() => normalQuantile(1), {
    instanceOf: InputError,
    message: 'quantile must be a number strictly between 0 and 1, got 1',
  });
  const wants = { horizons: [1, 2], p10: [5, 50], p50: [10, 100], p90: [15, 150] };
  t.is(unitsForWants(wants, 10, 0), 10);
  t.is(new QuantilePolicy(0.9).decide(obs(0, 0, wants)), 15);
});

function obs(
  step: number,
  demand: number,
  wants = { horizons: [1], p10: [0], p50: [0], p90: [0] },
  ready = 0,
): PolicyObservation {
  return {
    step,
    nowMs: step * 60_000,
    stepMs: 60_000,
    unitCapacity: 10,
    leadSteps: 1,
    demand,
    served: Math.min(demand, ready * 10),
    throttled: Math.max(0, demand - ready * 10),
    readyUnits: ready,
    startingUnits: 0,
    wants,
  };
}

test('allocation - reactive (HPA) scales up at once and holds scale-down for five minutes', (t) => {
  const hpa = new HpaPolicy();
  t.is(hpa.decide(obs(0, 70)), 10);
  t.is(hpa.decide(obs(1, 140, undefined, 10)), 20);
  // Load falls; the recommendation of 10 must wait until 20 leaves the 5-minute window.
  const held = [2, 3, 4, 5].map((s) => hpa.decide(obs(s, 70, undefined, 20)));
  t.deepEqual(held, [20, 20, 20, 20]);
  t.is(hpa.decide(obs(6, 70, undefined, 20)), 10);
});

test('allocation - reactive evaluates every 15 s on the last minute when steps are short', (t) => {
  const hpa = new HpaPolicy();
  const o = (step: number, demand: number): PolicyObservation => ({
    ...obs(step, demand),
    stepMs: 1000,
    nowMs: step * 1000,
  });
  t.is(hpa.decide(o(0, 7)), 1);
  for (let s = 1; s < 15; s++) t.is(hpa.decide(o(s, 70)), 1, `step ${s} is between evaluations`);
  // At step 15 the last minute (16 samples) averages (7 + 15 * 70) / 16.
  t.is(hpa.decide(o(15, 70)), Math.ceil((7 + 15 * 70) / 16 / 7));
});

test('allocation - hold-down lets a target fall only after it stayed lower for its steps; rises pass at once', (t) => {
  const asks = [2, 6, 4, 3, 3, 3, 8, Number.NaN, 1, 1, 1];
  let i = 0;
  const inner = { name: 'quantile', decide: () => asks[i++]! };
  const held = new HoldDownPolicy(inner, 3);
  t.is(held.name, 'quantile');
  t.deepEqual(
    asks.map(() => held.decide(obs(0, 0))),
    [2, 6, 6, 6, 4, 3, 8, 8, 8, 1, 1],
  );
  t.throws(() => new HoldDownPolicy(inner, 0), {
    instanceOf: InputError,
    message: /holdDown.steps must be an integer >= 1, got 0/,
  });
});
