import test from 'ava';
import {
  AdaptiveInterval,
  HybridCombiner,
  fitSimplexL1,
  makeBaseline,
  rollingForecast,
  scoreRun,
} from '../../models/index.ts';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

test('hybrid - simplex L1 weights recover an exact convex mix', (t) => {
  const rnd = lcg(5);
  const a = Float64Array.from({ length: 400 }, () => 10 * rnd());
  const b = Float64Array.from({ length: 400 }, () => 10 * rnd());
  const y = a.map((x, i) => 0.3 * x + 0.7 * b[i]!);
  const w = fitSimplexL1([a, b], y, 400);
  t.true(Math.abs(w[0]! - 0.3) < 0.03, `w ${w}`);
  t.true(Math.abs(w[0]! + w[1]! - 1) < 1e-9);
});

test('hybrid - a useless member gets (almost) no weight', (t) => {
  const rnd = lcg(9);
  const y = Float64Array.from({ length: 500 }, (_v, i) => 50 + 10 * Math.sin(i / 5));
  const good = y.map((x) => x + (rnd() - 0.5));
  const noise = y.map(() => 100 * rnd());
  const w = fitSimplexL1([noise, good], y);
  t.true(w[1]! > 0.95, `w ${w}`);
});

test('hybrid - the combiner skips members without a forecast and reports its weights', (t) => {
  const c = new HybridCombiner(['a', 'b'], 1);
  c.fitHorizon(
    0,
    [
      Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      Float64Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ],
    Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
  );
  t.true(c.weights[0]![0]! > 0.99);
  t.is(c.combine(0, [Number.NaN, 4]), 4);
  t.deepEqual(Object.keys(c.toJSON()), ['rule', 'a', 'b']);
  t.regex(String(c.rules[0]), /^(simplex|top\d)$/);
});

test('hybrid - adaptive conformal intervals hold 80% coverage through a volatility shift', (t) => {
  const rnd = lcg(11);
  const normal = (): number => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const run = (rate: number): number => {
    const ival = new AdaptiveInterval({ rate });
    ival.refit(
      Array.from({ length: 500 }, () => ({
        y: normal(),
        p10: Number.NaN,
        p50: 0,
        p90: Number.NaN,
        scale: 1,
      })),
    );
    let covered = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const y = 3 * normal(); // three times the volatility seen in validation
      const [lo, , hi] = ival.apply(Number.NaN, 0, Number.NaN, 1, false);
      if (y >= lo && y <= hi) covered++;
      ival.observe(y, lo, hi);
    }
    return covered / n;
  };
  const plain = run(0);
  const adaptive = run(0.05);
  t.true(plain < 0.4, `plain ${plain}`);
  t.true(adaptive > 0.75 && adaptive < 0.85, `adaptive ${adaptive}`);
});

test('hybrid - rolling evaluation has no look-ahead in any model, interval or weight', async (t) => {
  const n = 900;
  const ts = Float64Array.from({ length: n }, (_v, i) => Date.UTC(2020, 0, 1) + i * 300_000);
  const rnd = lcg(2);
  const base = Float64Array.from({ length: n }, (_v, i) => 40 + 15 * Math.sin(i / 9) + 5 * rnd());
  const cut = 700;
  const changed = base.map((v, i) => (i > cut ? v * 4 + 50 : v));
  const opts = { horizons: [1, 4], scoreFrom: 500, scoreTo: n - 1, blockSize: 37 };
  const models = (): ReturnType<typeof makeBaseline>[] =>
    ['naive', 'ewma', 'holt-winters'].map((m) => makeBaseline(m as never, [1, 4], 300_000));
  const a = await rollingForecast(models(), [base], ts, opts);
  const b = await rollingForecast(models(), [changed], ts, opts);
  for (const name of ['naive', 'ewma', 'holt-winters', 'hybrid']) {
    const fa = a.forecasts.get(name)![0]!;
    const fb = b.forecasts.get(name)![0]!;
    for (let hi = 0; hi < 2; hi++) {
      const upto = cut - a.runFrom + 1;
      t.deepEqual(fa.p10[hi]!.subarray(0, upto), fb.p10[hi]!.subarray(0, upto), `${name} p10`);
      t.deepEqual(fa.p50[hi]!.subarray(0, upto), fb.p50[hi]!.subarray(0, upto), `${name} p50`);
      t.deepEqual(fa.p90[hi]!.subarray(0, upto), fb.p90[hi]!.subarray(0, upto), `${name} p90`);
      t.notDeepEqual(fa.p50[hi]!.subarray(upto), fb.p50[hi]!.subarray(upto));
    }
  }
  const m = scoreRun(a, [base], [1, 4], 500, n - 1, ['hybrid', 'naive']);
  t.true(m.hybrid!['1']!.wape <= m.naive!['1']!.wape * 1.05);
  t.true(m.hybrid!['1']!.coverage80 > 0.6);
  t.truthy(a.hybridWeights);
});
