import test from 'ava';
import { parseTrace } from '../../lib/index.ts';
import { LIVE_MEMBERS, LiveZoo, liveForecasts, statLatest } from '../../models/index.ts';
import { forecastTrace } from '../../sim/index.ts';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/** A noisy daily-ish series with rare tenfold spikes, on a 1 s grid. */
function spiky(n: number, seed: number): Float64Array {
  const rnd = lcg(seed);
  return Float64Array.from({ length: n }, (_v, i) => {
    const base = 40 + 15 * Math.sin(i / 40) + 6 * rnd();
    return rnd() < 0.03 ? 10 * base : base;
  });
}

const T = 1_764_000_000_000;

test('live track - offline it serves, origin by origin, what the live zoo serves a token round by round', async (t) => {
  const n = 400;
  const values = spiky(n, 5);
  const timestamps = Float64Array.from({ length: n }, (_v, i) => T + i * 1000);
  const horizons = [1, 5, 30];
  const [track] = await liveForecasts([{ values, timestamps }], { horizons, stepMs: 1000, from: 0 });
  const zoo = new LiveZoo({ horizons, stepMs: 1000 });
  for (let o = 0; o < n; o++) {
    const f = zoo.predict(
      [{ token: 'u1', values: values.subarray(0, o + 1), startMs: T, stepMs: 1000 }],
      undefined,
    )[0]!;
    for (let hi = 0; hi < horizons.length; hi++)
      t.true(
        Math.abs(f.p50[hi]! - track!.p50[hi]![o]!) <= 1e-6 * Math.max(1, f.p50[hi]!),
        `origin ${o}, horizon ${horizons[hi]}: zoo ${f.p50[hi]}, track ${track!.p50[hi]![o]}`,
      );
  }
});

test('live track - no look-ahead: a later change leaves earlier forecasts as they were', async (t) => {
  const n = 300;
  const values = spiky(n, 9);
  const timestamps = Float64Array.from({ length: n }, (_v, i) => T + i * 1000);
  const o = { horizons: [1, 10], stepMs: 1000, from: 0, keepMembers: true };
  const [a] = await liveForecasts([{ values, timestamps }], o);
  const changed = Float64Array.from(values);
  changed[200] = 1e6;
  const [b] = await liveForecasts([{ values: changed, timestamps }], o);
  for (let hi = 0; hi < 2; hi++)
    for (let k = 0; k < 200; k++) {
      t.is(b!.p50[hi]![k], a!.p50[hi]![k]);
      t.is(b!.p90[hi]![k], a!.p90[hi]![k]);
    }
  t.not(b!.p50[0]![200], a!.p50[0]![200], 'the change is seen from its own slot on');
  t.is(a!.members!.length, LIVE_MEMBERS.length);
});

test('live members - the median ignores a spike that drags every EWMA up', (t) => {
  const v = [...Array.from({ length: 59 }, () => 10), 1000];
  const out = statLatest(v, [1], 0);
  const at = (name: string): number => out[LIVE_MEMBERS.indexOf(name as (typeof LIVE_MEMBERS)[number])]!;
  t.is(at('median'), 10);
  t.true(at('ewma-fast') > 300, `ewma-fast ${at('ewma-fast')}`);
  t.true(at('ewma-slow') > 30, `ewma-slow ${at('ewma-slow')}`);
});

test('replay forecasts - the served forecaster is the default, and it beats the EWMA baseline on a spiky series', async (t) => {
  const n = 1200;
  const values = spiky(n, 13);
  const csv = `timestamp,value\n${Array.from(values, (v, i) => `${new Date(T + i * 60_000).toISOString()},${v.toFixed(2)}`).join('\n')}\n`;
  const trace = parseTrace(csv);
  const warmup = 400;
  const live = await forecastTrace(trace, { horizons: [1, 3], warmup });
  t.is(live.name, 'live');
  const ewma = await forecastTrace(trace, { horizons: [1, 3], warmup, forecaster: 'ewma' });
  const wape = (f: typeof live, hi: number): number => {
    let e = 0;
    let a = 0;
    const h = f.horizons[hi]!;
    for (let o = warmup; o + h < n; o++) {
      e += Math.abs(values[o + h]! - f.perToken[0]!.p50[hi]![o - f.runFrom]!);
      a += values[o + h]!;
    }
    return e / a;
  };
  for (let hi = 0; hi < 2; hi++)
    t.true(wape(live, hi) < wape(ewma, hi), `horizon ${hi}: live ${wape(live, hi)}, ewma ${wape(ewma, hi)}`);
});
