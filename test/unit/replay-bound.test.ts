import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrace } from '../../lib/index.ts';
import {
  SchedulePolicy,
  foresightFront,
  foresightSchedule,
  makePolicy,
  prepareReplay,
  runReplay,
  sweepPolicy,
  syntheticTrace,
  throttleAtCost,
} from '../../sim/index.ts';
import { TRACES_DATA } from '../helpers/traces-data.ts';

test('replay bound - the schedule replayed through the allocation code costs and throttles what the bound says', async (t) => {
  // The schedule does not read forecasts: the cheapest forecaster will do.
  const o = { forecaster: 'naive' };
  const cases = [
    await prepareReplay(syntheticTrace({ seed: 2, steps: 3000 }), o),
    await prepareReplay(syntheticTrace({ seed: 7, steps: 3000, stepMs: 60_000 }), o),
    await prepareReplay(
      parseTrace(readFileSync(join(TRACES_DATA, 'nab-tweets/Twitter_volume_KO.csv'), 'utf8')),
      o,
    ),
  ];
  for (const data of cases)
    for (const price of [1.5, 10, 300]) {
      const b = foresightSchedule(data, price);
      const r = runReplay(data, new SchedulePolicy(b));
      t.true(Math.abs(r.cost - b.cost) <= 1e-6 * b.cost, `cost ${r.cost} vs ${b.cost} at ${price}`);
      t.true(
        Math.abs(r.throttledFraction - b.throttledFraction) <= 1e-9,
        `throttled ${r.throttledFraction} vs ${b.throttledFraction} at ${price}`,
      );
    }
});

test('replay bound - no policy front throttles less than the bound at its cost', async (t) => {
  const data = await prepareReplay(syntheticTrace({ seed: 4, steps: 3000 }), { forecaster: 'ewma' });
  const bound = foresightFront(data);
  // A higher price buys more capacity and less throttling.
  for (let i = 1; i < bound.length; i++) {
    t.true(bound[i]!.cost >= bound[i - 1]!.cost - 1e-9);
    t.true(bound[i]!.throttledFraction <= bound[i - 1]!.throttledFraction + 1e-12);
  }
  for (const p of ['oracle', 'quantile', 'reactive', 'rl'] as const)
    for (const pt of sweepPolicy(data, p)) {
      const b = throttleAtCost(bound, pt.cost);
      if (Number.isFinite(b)) t.true(b <= pt.throttledFraction + 1e-12, `${p} ${pt.setting}`);
    }
  // It beats the oracle policy (which scales every coming peak alike) somewhere on its front.
  const oracle = sweepPolicy(data, 'oracle');
  t.true(oracle.some((pt) => throttleAtCost(bound, pt.cost) < pt.throttledFraction - 1e-4));
  const re = runReplay(data, makePolicy('reactive', data));
  t.true(Number.isFinite(throttleAtCost(bound, re.cost)));
});
