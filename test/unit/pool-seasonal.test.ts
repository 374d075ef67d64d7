import test from 'ava';
import {
  InputError,
  SimulatedClock,
  planWants,
  seasonalLift,
  stepTotals,
  SeasonalProfile,
} from '../../lib/index.ts';
import { PoolManager } from '../../actors/index.ts';
import { SimulatedProvider } from '../../sim/index.ts';

const Z90 = 1.2815515655446004;
const close = (a: number, b: number, eps = 1e-9): boolean =>
  Math.abs(a - b) <= eps * Math.max(1, Math.abs(b));

test('pool planning - a step of sparse seconds plans its mean, not a second median of 0 times the seconds', (t) => {
  // 0.4 requests a second: most seconds empty, the forecast's median 0 and p90 1 a second, sent per
  // 5 s step (times 5): 0, 0, 5.
  const sparse = { horizons: [1, 2, 3], p10: [0, 0, 0], p50: [0, 0, 0], p90: [5, 5, 5] };
  const recent = [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1];
  const w = stepTotals(sparse, recent, 5000);
  // The step's mean: 0.4 a second, 2 a step.
  t.deepEqual(w.p50, [2, 2, 2]);
  // A second's spread of 1 / z90 is all counting noise at a mean of 0.4 (variance 0.4): over five
  // independent seconds sqrt(5 x 0.4), plus the rest (1/z90^2 - 0.4) as the level's, times 25.
  const s2 = 1 / Z90 ** 2;
  const total = Math.sqrt(25 * (s2 - 0.4) + 5 * 0.4);
  t.true(close(w.p90[0]!, 2 + Z90 * total), `p90 ${w.p90[0]}`);
  t.true(w.p90[0]! < 5 + 2, 'narrower than five seconds moving together');
  t.deepEqual(w.p10, [2, 2, 2], 'no spread below a median of 0');
  // Dense demand whose spread is the level's: as sent (k times a second's spread).
  const dense = { horizons: [1], p10: [400], p50: [500], p90: [600] };
  const d = stepTotals(dense, new Array<number>(20).fill(100), 5000);
  t.is(d.p50[0], 500);
  t.true(close(d.p90[0]!, 500 + Z90 * Math.sqrt(25 * ((20 / Z90) ** 2 - 100) + 5 * 100)));
  t.true(d.p90[0]! > 575 && d.p90[0]! <= 600, `p90 ${d.p90[0]}`);
  // A replay's step is its slot: its forecast is the step's already.
  t.is(stepTotals(sparse, recent, 60_000, { sampleMs: 60_000 }), sparse);
  // A point forecast keeps its NaN sides.
  const point = stepTotals({ horizons: [1], p10: [Number.NaN], p50: [0], p90: [Number.NaN] }, [1, 1], 5000);
  t.deepEqual(point.p50, [5]);
  t.true(Number.isNaN(point.p90[0]!));
  t.throws(() => stepTotals(sparse, recent, 5000, { sampleMs: 0 }), {
    instanceOf: InputError,
    message: /sampleMs must be a positive number, got 0/,
  });
});

test('pool planning - a replay plans with the live trend lift on a trace of seconds, none on one of minutes', (t) => {
  // Steps of a second, lead 2: horizons 1, 2, 3; the last five steps rise by 10 a step.
  const flat = { horizons: [1, 2, 3], p10: [40, 40, 40], p50: [50, 50, 50], p90: [60, 60, 60] };
  const plan = planWants(flat, 2, [10, 20, 30, 40, 50], 1000, { sampleMs: 1000 });
  // The line reaches 65, 75, 85 half a step past each horizon's step.
  t.deepEqual(plan.wants.p50, [65, 75, 85]);
  t.deepEqual(plan.wants.p90, [75, 85, 95]);
  t.is(plan.lift, 35);
  // Minutes: the trend's 20 s windows hold no sample.
  const minutes = planWants(flat, 2, [10, 20, 30, 40, 50], 60_000, { sampleMs: 60_000 });
  t.is(minutes.lift, 0);
  t.deepEqual(minutes.wants.p50, [50, 50, 50]);
});

/** Demand per step of a day of `S` steps: night 10, a ramp to 100 from step S/4 to S/2, then 100. */
const day = (S: number, s: number): number => {
  const x = ((s % S) + S) % S;
  if (x < S / 4) return 10;
  if (x < S / 2) return 10 + (90 * (x - S / 4)) / (S / 4);
  return 100;
};

test('pool seasonal - the last season, scaled to today, read around each horizon', (t) => {
  const S = 96;
  const p = new SeasonalProfile(S);
  t.is(p.levelSteps, 8);
  t.is(p.smoothSteps, 2);
  for (let s = 0; s < S; s++) p.observe(s, day(S, s));
  t.is(p.forecast(S - 1, [1]), null, 'less than a season and a level window');
  // Today runs 20 % above the last season.
  for (let s = S; s < S + 30; s++) p.observe(s, 1.2 * day(S, s));
  const f = p.forecast(S + 29, [1, 3])!;
  t.true(close(f.ratio, 1.2), `ratio ${f.ratio}`);
  // At step 29 of the day, on the ramp (24..48, +3.75 a step): the five-step average peaks 2 steps
  // after the target, at 1.2 x the ramp there.
  const ramp = (x: number): number => 10 + 3.75 * (x - 24);
  t.true(close(f.values[0]!, 1.2 * ramp(32)), `h1 ${f.values[0]}`);
  t.true(close(f.values[1]!, 1.2 * ramp(34)), `h3 ${f.values[1]}`);
  t.true(f.values[1]! > 1.2 * day(S, 29 + 3), 'ahead of the ramp, by the timing tolerance');
  // An unknown stretch last season: no forecast.
  const gap = new SeasonalProfile(S);
  for (let s = S; s < S + 30; s++) gap.observe(s, day(S, s));
  t.is(gap.forecast(S + 29, [1]), null);
  t.throws(() => new SeasonalProfile(3), {
    instanceOf: InputError,
    message: /seasonSteps must be an integer >= 4, got 3/,
  });
  t.throws(() => new SeasonalProfile(96, { smoothSteps: 4 }), {
    instanceOf: InputError,
    message: /smoothSteps must be an integer from 0 to 3, got 4/,
  });
  t.throws(() => p.observe(1.5, 1), {
    instanceOf: InputError,
    message: /step must be an integer step index, got 1.5/,
  });
  t.throws(() => p.observe(1, -1), {
    instanceOf: InputError,
    message: /demand must be a number >= 0, got -1/,
  });
});

test('pool seasonal - the seasonal forecast is a floor under the median, spread kept, never lowering', (t) => {
  const w = { horizons: [1, 2], p10: [8, 8], p50: [10, 10], p90: [14, 14] };
  const up = seasonalLift(w, [9, 15]);
  t.deepEqual(up.wants.p50, [10, 15]);
  t.deepEqual(up.wants.p10, [8, 13]);
  t.deepEqual(up.wants.p90, [14, 19]);
  t.is(up.lift, 5);
  t.is(seasonalLift(w, [Number.NaN, 1]).wants, w);
});

test('pool seasonal - on its second day a pool holds capacity ahead of the daily ramp', (t) => {
  // Steps of 15 min (a day of 96), one unit serves 10 a step, start-up lead 1 step; the tokens'
  // forecast is the last step's demand (a forecaster that follows, never leads).
  const S = 96;
  const stepMs = 15 * 60_000;
  const run = (seasonSteps: number): number[] => {
    const clock = new SimulatedClock(0);
    const provider = new SimulatedProvider({ leadMs: stepMs, initialUnits: 1 });
    const m = new PoolManager(
      {
        name: 'p',
        unitCapacity: 10,
        minUnits: 1,
        maxUnits: 100,
        stepMs,
        leadSteps: 1,
        leaseTtlMs: 3 * stepMs,
        seasonSteps,
      },
      {
        clock,
        provider,
        policy: { name: 'median', decide: (o) => Math.ceil((o.wants.p50.at(-1) ?? 0) / 10) },
      },
    );
    const ready: number[] = [];
    for (let s = 0; s < 2 * S; s++) {
      ready.push(provider.readyUnits(clock.now()));
      const d = day(S, s);
      clock.set((s + 1) * stepMs);
      m.want({ token: 'u', priority: 1, wants: { horizons: [1, 2], p10: [d, d], p50: [d, d], p90: [d, d] } });
      m.tick({ step: s, demand: d, served: d, throttled: 0 });
    }
    return ready;
  };
  const seasonal = run(S);
  const none = run(0);
  // Day 2's ramp (steps S + 24 .. S + 48): with a season capacity covers the demand two steps
  // later all the way up; without, it trails demand by the lead and a step.
  const ramp = Array.from({ length: 22 }, (_, i) => S + 26 + i);
  const ahead = (ready: number[]) => ramp.filter((s) => ready[s]! * 10 >= day(S, s + 2)).length;
  t.is(ahead(seasonal), ramp.length);
  t.true(ahead(none) <= ramp.length / 2, `without a season ${ahead(none)} of ${ramp.length}`);
  // Day 1 is the same either way: no season known yet.
  t.deepEqual(seasonal.slice(0, S), none.slice(0, S));
});

test('seasonal profile - every season of 4 to 400 steps builds with its defaults', (t) => {
  // Seasons of 24 to 29 steps used to round S / 48 up to a smoothing of 1 step with a level window of 2,
  // and the pool's manager refused to start.
  for (let s = 4; s <= 400; s++) {
    const p = new SeasonalProfile(s);
    t.true(2 * p.smoothSteps < p.levelSteps, `season ${s}`);
  }
});
