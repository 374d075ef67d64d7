import test from 'ava';
import { fitQuantileRegression } from '../../lib/index.ts';
import type { PolicyObservation } from '../../lib/index.ts';
import {
  NeighbourPolicy,
  causalFeatureRows,
  fittedCausalFront,
  foresightFront,
  neighbourFront,
  poissonQuantile,
  prepareReplay,
  syntheticTrace,
  throttleAtCost,
} from '../../sim/index.ts';

/** The exact Poisson quantile, summed in log space (no underflow at large means). */
function exactPoissonQuantile(mean: number, q: number): number {
  let logP = -mean;
  let cdf = Math.exp(logP);
  let k = 0;
  while (cdf < q) {
    k++;
    logP += Math.log(mean / k);
    cdf += Math.exp(logP);
  }
  return k;
}

test('replay peers - poissonQuantile is the least count whose CDF reaches q', (t) => {
  for (const mean of [0.1, 0.4, 1, 3.4, 11.7, 87.8, 399])
    for (const q of [0.05, 0.3, 0.5, 0.9, 0.99, 0.999])
      t.is(poissonQuantile(mean, q), exactPoissonQuantile(mean, q), `mean ${mean} q ${q}`);
  t.is(poissonQuantile(0, 0.9), 0);
  // Above a mean of 400 the expansion is within one count of the exact quantile.
  for (const mean of [401, 1000, 5000])
    for (const q of [0.1, 0.5, 0.9, 0.995]) {
      const e = exactPoissonQuantile(mean, q);
      t.true(
        Math.abs(poissonQuantile(mean, q) - e) <= 1,
        `mean ${mean} q ${q}: ${poissonQuantile(mean, q)} vs ${e}`,
      );
    }
});

test('replay peers - bad means and levels are refused naming the field', (t) => {
  for (const [mean, q, field] of [
    [-1, 0.5, 'mean'],
    [Number.NaN, 0.5, 'mean'],
    [Number.POSITIVE_INFINITY, 0.5, 'mean'],
    [1, 0, 'quantile'],
    [1, 1, 'quantile'],
    [1, Number.NaN, 'quantile'],
  ] as const) {
    const e = t.throws(() => poissonQuantile(mean, q));
    t.is((e as Error & { field?: string }).field, field);
  }
  const e = t.throws(() => fitQuantileRegression([Float64Array.of(1)], Float64Array.of(1, 2), 0.5));
  t.is((e as Error & { field?: string }).field, 'rows');
  t.throws(() => new NeighbourPolicy(new Float64Array(4), 0, 0.5), { message: /span/ });
});

test('replay peers - the quantile regression finds the conditional quantile of a linear model', (t) => {
  // y = 2 + 3x + u, u uniform on [0, 10): the q quantile of y given x is 2 + 10q + 3x.
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const X: Float64Array[] = [];
  const y = new Float64Array(4000);
  for (let i = 0; i < y.length; i++) {
    const x = 50 * rand();
    X.push(Float64Array.of(1, x));
    y[i] = 2 + 3 * x + 10 * rand();
  }
  const pinball = (b: Float64Array, q: number): number => {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const r = y[i]! - b[0]! - b[1]! * X[i]![1]!;
      s += r >= 0 ? q * r : (q - 1) * r;
    }
    return s;
  };
  for (const q of [0.1, 0.5, 0.9, 0.99]) {
    const b = fitQuantileRegression(X, y, q);
    t.true(Math.abs(b[0]! - (2 + 10 * q)) < 0.5, `q ${q}: intercept ${b[0]}`);
    t.true(Math.abs(b[1]! - 3) < 0.02, `q ${q}: slope ${b[1]}`);
    // At least as good as the true coefficients on its own sample (it minimises this loss).
    t.true(pinball(b, q) <= pinball(Float64Array.of(2 + 10 * q, 3), q) * 1.001, `q ${q}`);
  }
});

test('replay peers - a causal feature row reads nothing after its step', async (t) => {
  const data = await prepareReplay(syntheticTrace({ seed: 3, steps: 1500 }), { forecaster: 'naive' });
  const rows = causalFeatureRows(data);
  t.is(rows.length, data.demand.length);
  for (const step of [data.start, data.start + 100, data.demand.length - 2]) {
    const later = Float64Array.from(data.demand, (v, i) => (i > step ? v * 7 + 3 : v));
    const again = causalFeatureRows({ ...data, demand: later })[step]!;
    t.deepEqual([...again], [...rows[step]!], `step ${step}`);
    // ...and the step itself is read.
    const now = Float64Array.from(data.demand, (v, i) => (i === step ? v + 5 : v));
    t.notDeepEqual([...causalFeatureRows({ ...data, demand: now })[step]!], [...rows[step]!]);
  }
});

test('replay peers - the neighbour peer knows the steps either side of a step, not its own', (t) => {
  const demand = Float64Array.from([10, 10, 10, 10, 10, 10, 10, 10]);
  const obs = (step: number): PolicyObservation =>
    ({ step, leadSteps: 0, unitCapacity: 1 }) as unknown as PolicyObservation;
  const base = new NeighbourPolicy(demand, 1, 0.5).decide(obs(3)); // serves step 4: neighbours 3 and 5
  t.is(base, 10);
  const own = Float64Array.from(demand);
  own[4] = 1000;
  t.is(new NeighbourPolicy(own, 1, 0.5).decide(obs(3)), base);
  const next = Float64Array.from(demand);
  next[5] = 30;
  t.is(new NeighbourPolicy(next, 1, 0.5).decide(obs(3)), 20);
});

test('replay peers - neither peer throttles less than the physical bound at its cost', async (t) => {
  const data = await prepareReplay(syntheticTrace({ seed: 4, steps: 3000 }), { forecaster: 'ewma' });
  const bound = foresightFront(data);
  const fitted = fittedCausalFront(data);
  const neighbours = neighbourFront(data);
  for (const pt of [...fitted, ...neighbours]) {
    const b = throttleAtCost(bound, pt.cost);
    if (Number.isFinite(b))
      t.true(b <= pt.throttledFraction + 1e-12, `${pt.setting}: ${b} vs ${pt.throttledFraction}`);
  }
  // A higher quantile level buys more capacity.
  for (let i = 1; i < fitted.length; i++) t.true(fitted[i]!.cost >= fitted[i - 1]!.cost * 0.98);
});
