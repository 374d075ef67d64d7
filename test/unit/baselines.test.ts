import test from 'ava';
import {
  EwmaModel,
  HoltWintersModel,
  NaiveModel,
  SeasonalNaiveModel,
  makeBaseline,
  BaselineName,
} from '../../models/index.ts';
import type { SeriesView } from '../../models/index.ts';

function view(values: number[], stepMs = 60_000): SeriesView {
  return { values: Float64Array.from(values), timestamps: Float64Array.from(values, (_v, i) => i * stepMs) };
}

test('baselines - naive repeats the last value at every horizon', (t) => {
  const out = new NaiveModel().point(view([1, 2, 3, 4, 5]), 2, 4, [1, 3]);
  t.deepEqual([...out[0]!], [3, 4]);
  t.deepEqual([...out[1]!], [3, 4]);
});

test('baselines - seasonal naive takes the slot one period before the target', (t) => {
  const v = view([10, 20, 30, 40, 11, 21, 31, 41, 12]);
  const m = new SeasonalNaiveModel(4);
  const out = m.point(v, 5, 8, [1, 2, 5]);
  // origin 5, h=1 -> target 6 -> slot 2 (30); h=2 -> slot 3 (40); h=5 -> target 10 -> slot 2 (two periods back).
  t.deepEqual([...out[0]!], [30, 40, 11]);
  t.deepEqual([...out[1]!], [40, 11, 21]);
  t.deepEqual([...out[2]!], [30, 40, 11]);
  // Too little history: falls back to the last value.
  t.deepEqual([...m.point(v, 1, 2, [4])[0]!], [20]);
});

test('baselines - ewma fits a high alpha on a random walk and a low one on noise', (t) => {
  let x = 100;
  let seed = 1;
  const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  const walk = Array.from({ length: 2000 }, () => (x += 5 * rnd()));
  const noise = Array.from({ length: 2000 }, () => 100 + 5 * rnd());
  const a = new EwmaModel();
  a.fit(view(walk), [1]);
  const b = new EwmaModel();
  b.fit(view(noise), [1]);
  t.true(a.alphas[0]! >= 0.7, `walk alpha ${a.alphas[0]}`);
  t.true(b.alphas[0]! <= 0.05, `noise alpha ${b.alphas[0]}`);
  const out = b.point(view(noise), 1990, 1999, [1]);
  for (const f of out[0]!) t.true(Math.abs(f - 100) < 1.5);
});

test('baselines - holt-winters forecasts a clean seasonal series with a trend almost exactly', (t) => {
  const m = 24;
  const vals = Array.from(
    { length: 24 * 20 },
    (_v, i) => 50 + 0.05 * i + 10 * Math.sin((2 * Math.PI * i) / m),
  );
  const hw = new HoltWintersModel(m);
  hw.fit(view(vals.slice(0, 400)), [1, 12]);
  const out = hw.point(view(vals), 400, 460, [1, 12]);
  for (let j = 0; j < 60; j++) {
    t.true(Math.abs(out[0]![j]! - vals[400 + j + 1]!) < 1, `h1 at ${j}`);
    t.true(Math.abs(out[1]![j]! - vals[400 + j + 12]!) < 2, `h12 at ${j}`);
  }
});

test('baselines - no look-ahead: changing the future leaves forecasts unchanged', async (t) => {
  const vals = Array.from({ length: 3000 }, (_v, i) => 20 + 5 * Math.sin(i / 7) + (i % 13));
  const changed = vals.map((v, i) => (i > 2500 ? v * 3 + 100 : v));
  for (const name of Object.values(BaselineName)) {
    const f = makeBaseline(name, [1, 5], 60_000);
    await f.fit([view(vals.slice(0, 2400))]);
    const a = await f.predict([view(vals)], 2400, 2501);
    const b = await f.predict([view(changed)], 2400, 2501);
    t.deepEqual(a[0]!.p50, b[0]!.p50, name);
  }
});
