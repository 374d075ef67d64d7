import test from 'ava';
import { QRA_FEATURES, QraBand, QraFeatures, QraPolicy, QuantilePolicy } from '../../lib/index.ts';
import type { CapacityPolicy, PolicyObservation, PoolWants } from '../../lib/index.ts';

/** A seeded uniform in [0, 1). */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** A count of mean `mean` with Poisson spread (normal approximation, large means), from `r`. */
function count(mean: number, r: () => number): number {
  const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
}

const obsOf = (step: number, demand: number, wants: PoolWants, leadSteps = 1): PolicyObservation => ({
  step,
  nowMs: step * 60_000,
  stepMs: 60_000,
  unitCapacity: 1,
  leadSteps,
  demand,
  served: demand,
  throttled: 0,
  readyUnits: 0,
  startingUnits: 0,
  wants,
});

test('qra - a feature row is what its definition reads off the demand up to its step', (t) => {
  const r = rng(5);
  const lead = 2;
  const stepMs = 3_600_000; // a day is 24 steps, so the day features are exercised
  const d = Array.from({ length: 200 }, () => Math.floor(50 * r()));
  const f = new QraFeatures(lead, stepMs);
  const L = lead + 1;
  const at = (s: number, i: number): number => d[Math.max(0, Math.min(s, i))]!;
  // Means over what it has seen.
  const mean = (s: number, k: number): number => {
    let sum = 0;
    for (let i = Math.max(0, s - k + 1); i <= s; i++) sum += d[i]!;
    return sum / Math.min(k, s + 1);
  };
  for (let s = 0; s < d.length; s++) {
    const row = f.push(d[s]!, 10 + s, s === 7 ? Number.NaN : 20 + s);
    let peak = 0;
    for (let i = s - 4 * L + 1; i <= s; i++) peak = Math.max(peak, at(s, i));
    const want = [
      1,
      d[s]!,
      at(s, s - 1),
      at(s, s - 2),
      mean(s, L),
      mean(s, 4 * L),
      mean(s, 16 * L),
      mean(s, 24),
      peak,
      10 + s,
      s === 7 ? 10 + s : 20 + s,
      s + L - 24 >= 0 ? d[s + L - 24]! : mean(s, 24),
    ];
    t.is(row.length, QRA_FEATURES);
    want.forEach((w, k) => t.true(Math.abs(row[k]! - w) < 1e-9, `step ${s} feature ${k}: ${row[k]} vs ${w}`));
  }
});

test('qra - it learns the quantile a wrong forecast band does not give', (t) => {
  // Demand is a count of a daily-cycling mean with Poisson spread; the forecast knows the
  // mean exactly but has no band (p10 = p50 = p90), so the quantile policy holds the mean.
  const r = rng(11);
  const steps = 3000;
  const meanAt = (s: number): number => 2000 + 1500 * Math.sin((2 * Math.PI * s) / 1440);
  const demand = Array.from({ length: steps + 2 }, (_v, s) => count(meanAt(s), r));
  const wantsAt = (s: number): PoolWants => {
    const m = meanAt(s + 2);
    return { horizons: [2], p10: [m], p50: [m], p90: [m] };
  };
  for (const q of [0.5, 0.9]) {
    const qra = new QraPolicy({ quantile: q });
    const plain = new QuantilePolicy(q);
    let covered = 0;
    let coveredPlain = 0;
    let scored = 0;
    for (let s = 0; s < steps; s++) {
      const o = obsOf(s, demand[s]!, wantsAt(s));
      const units = qra.decide(o);
      const unitsPlain = plain.decide(o);
      if (s < 200) t.is(units, unitsPlain, 'before its first fit it decides as the quantile policy');
      if (s >= 500) {
        scored++;
        if (demand[s + 2]! <= units) covered++;
        if (demand[s + 2]! <= unitsPlain) coveredPlain++;
      }
    }
    const cover = covered / scored;
    // Within a few points: its map is refitted on a part of the daily cycle at a time.
    t.true(Math.abs(cover - q) < 0.06, `q ${q}: covered ${cover}`);
    if (q === 0.9)
      t.true(coveredPlain / scored < 0.65, `the band-less quantile policy covers ${coveredPlain / scored}`);
    t.truthy(qra.coefficients);
  }
});

test('qra - it refits as its rows grow and keeps at most maxRows', (t) => {
  const qra = new QraPolicy({ quantile: 0.8, minRows: 20, maxRows: 100 });
  const wants: PoolWants = { horizons: [1], p10: [5], p50: [10], p90: [15] };
  const r = rng(3);
  const fits: number[] = [];
  let last: Float64Array | undefined;
  for (let s = 0; s < 400; s++) {
    qra.decide(obsOf(s, 5 + Math.floor(10 * r()), wants, 0));
    if (qra.coefficients !== last) {
      fits.push(s);
      last = qra.coefficients;
    }
  }
  t.true(qra.rows <= 100);
  t.is(qra.rows, 100);
  // First at 20 rows (a lead of 0: a row's outcome is the next step), then at +20 until
  // a quarter of the rows is more, then every 25 once capped at 100.
  t.is(fits[0], 20);
  t.deepEqual(
    fits.slice(1, 5).map((s, i) => s - fits[i]!),
    [20, 20, 20, 20],
  );
  t.true(fits.slice(6).every((s, i) => s - fits[i + 5]! === 25));
});

test('qra - a large fit is spread over a few decisions, a small one ends in the one that starts it', (t) => {
  const qra = new QraPolicy({ quantile: 0.9, minRows: 20, maxRows: 20_000 });
  const wants: PoolWants = { horizons: [1], p10: [5], p50: [10], p90: [15] };
  const r = rng(9);
  const runs: number[] = [];
  let run = 0;
  for (let s = 0; s < 26_000; s++) {
    qra.decide(obsOf(s, 5 + Math.floor(10 * r()), wants, 0));
    if (qra.fitting) run++;
    else if (run > 0) {
      runs.push(run);
      run = 0;
    }
    // Small fits (a few thousand rows) finish in the decision that starts them.
    if (qra.rows < 7000) t.false(qra.fitting, `rows ${qra.rows}`);
  }
  // 26 passes of 20,000 rows at 200,000 row-passes a decision: 3 decisions, the last adopts it.
  t.true(runs.length >= 2, `runs ${runs.join(',')}`);
  t.true(
    runs.every((n) => n <= 2),
    `runs ${runs.join(',')}`,
  );
  t.truthy(qra.coefficients);
});

test("qra band - the inner policy sees the forecast until the maps fit, then the pool's own band", (t) => {
  const seen: PoolWants[] = [];
  const inner: CapacityPolicy = {
    name: 'rl',
    decide: (o) => {
      seen.push(o.wants);
      return 1;
    },
  };
  const band = new QraBand(inner);
  t.is(band.name, 'rl');
  // A band-less forecast of 20 a step; the demand is 12 or 28 at random.
  const flat: PoolWants = { horizons: [1, 3], p10: [20, 20], p50: [20, 20], p90: [20, 20] };
  const r = rng(21);
  for (let s = 0; s < 600; s++) band.decide(obsOf(s, r() < 0.5 ? 12 : 28, flat, 0));
  t.is(seen[0], flat, 'before its maps fit, the forecast as it came');
  const last = seen[seen.length - 1]!;
  t.deepEqual(last.horizons, [1, 3]);
  t.true(Math.abs(last.p10[0]! - 12) < 0.5 && Math.abs(last.p90[0]! - 28) < 0.5, JSON.stringify(last));
  t.true(last.p50[0]! >= 12 - 0.5 && last.p50[0]! <= 28 + 0.5);
  t.deepEqual(last.p90, [last.p90[0], last.p90[0]], 'the same band at every horizon');
});

test('qra - bad options are refused naming the field', (t) => {
  for (const [options, field] of [
    [{ quantile: 1 }, 'qra.quantile'],
    [{ quantile: '0.9' }, 'qra.quantile'],
    [{ minRows: 10 }, 'qra.minRows'],
    [{ maxRows: 2.5 }, 'qra.maxRows'],
    [{ minRows: 500, maxRows: 300 }, 'qra.minRows'],
    [{ rows: 3 }, 'qra.rows'],
  ] as const) {
    const e = t.throws(() => new QraPolicy(options as never));
    t.regex(e!.message, new RegExp(field.replace('.', '\\.')), JSON.stringify(options));
  }
  t.throws(() => new QraFeatures(-1, 1000), { message: /leadSteps/ });
  t.throws(() => new QraFeatures(1, 0), { message: /stepMs/ });
});
