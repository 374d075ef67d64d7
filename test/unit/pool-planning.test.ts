import test from 'ava';
import type { ServiceBroker } from 'moleculer';
import { InputError, SimulatedClock } from '../../lib/index.ts';
import {
  liftByTrend,
  planHorizons,
  planWants,
  tickAtMs,
  trendOf,
  untilStepPhase,
  wantsAt,
} from '../../lib/index.ts';
import { PoolRunner, compilePools } from '../../services/index.ts';
import type { WireWant } from '../../services/index.ts';

const T0 = 1_764_000_000_000;
const STEP = 5000;

test('pool planning - a pool plans up to its start-up lead plus one step', (t) => {
  t.deepEqual(planHorizons(0), [1]);
  t.deepEqual(planHorizons(2), [1, 2, 3]);
  t.deepEqual(planHorizons(5), [1, 3, 6]);
  t.throws(() => planHorizons(-1), {
    instanceOf: InputError,
    message: /leadSteps must be an integer >= 0, got -1/,
  });
});

test('pool planning - forecasts are interpolated between the forecasters horizons, flat beyond them', (t) => {
  // The node's default horizons 5 s, 30 s, 5 min in 5 s steps: 1, 6, 60.
  const w = { horizons: [1, 6, 60], p10: [5, 30, 80], p50: [10, 35, 100], p90: [20, 60, 150] };
  const at = wantsAt(w, [1, 2, 3]);
  t.deepEqual(at.horizons, [1, 2, 3]);
  t.deepEqual(at.p50, [10, 15, 20], 'the median rises with the forecast, one fifth of the way per step');
  t.deepEqual(at.p10, [5, 10, 15]);
  t.deepEqual(at.p90, [20, 28, 36]);
  t.deepEqual(wantsAt(w, [0.5, 100]).p50, [10, 100], 'held flat before the first and after the last');
  // Horizons rounded to whole steps can repeat (1 s and 3 s in 5 s steps): the later forecast.
  t.deepEqual(wantsAt({ horizons: [1, 1], p10: [1, 2], p50: [3, 4], p90: [5, 6] }, [1]).p50, [3]);
  t.deepEqual(wantsAt({ horizons: [1, 1, 3], p10: [1, 2, 4], p50: [3, 4, 8], p90: [5, 6, 9] }, [2]).p50, [6]);
  t.throws(() => wantsAt({ horizons: [6, 1], p10: [0, 0], p50: [0, 0], p90: [0, 0] }, [1]), {
    instanceOf: InputError,
    message: /wants.horizons must be increasing horizons, got \[6,1\]/,
  });
});

test('pool planning - a trend is a least-squares line with its significance', (t) => {
  t.is(trendOf([1, 2]), null, 'two points have no error to test a slope against');
  const ramp = trendOf([25, 50, 75, 100])!;
  t.is(ramp.slope, 25);
  t.is(ramp.level, 100);
  t.is(ramp.t, Infinity);
  t.is(trendOf([25, 25, 25])!.t, 0);
  const noisy = trendOf([25, 31, 22, 28])!;
  t.true(Math.abs(noisy.t) < 2, `noise is no trend (t ${noisy.t})`);
});

test('pool planning - a rising trend of the last seconds lifts the plan, keeping the spread; flat, noisy, falling or short series do not', (t) => {
  // One-second steps: horizon h ends h + 0.5 s past the middle of the last sample.
  const mean = { horizons: [1, 2, 3], p10: [20, 20, 20], p50: [25, 25, 25], p90: [30, 30, 30] };
  const up = liftByTrend(mean, [10, 20, 30, 40, 50], 1000);
  // The line reaches 65, 75, 85 at the ends of the next three steps.
  t.deepEqual(up.wants.p50, [65, 75, 85]);
  t.deepEqual(up.wants.p10, [60, 70, 80]);
  t.deepEqual(up.wants.p90, [70, 80, 90]);
  t.is(up.lift, 60);
  t.like(up.trend, { slope: 10, level: 50, samples: 5 });
  for (const recent of [
    [25, 25, 25, 25, 25],
    [25, 31, 22, 28, 26],
    [125, 100, 75, 50, 25],
    [25, 50, 75, 100],
  ]) {
    const same = liftByTrend(mean, recent, 1000);
    t.is(same.wants, mean, `not lifted by ${recent.join(',')}`);
    t.is(same.lift, 0);
    t.is(same.trend, null);
  }
  // A forecast already above the trend stays as it is.
  const ahead = { horizons: [1, 2, 3], p10: [200, 200, 200], p50: [250, 250, 250], p90: [300, 300, 300] };
  t.is(liftByTrend(ahead, [10, 20, 30, 40, 50], 1000).lift, 0);
  // Point forecasts (NaN spreads) keep their NaN sides.
  const point = liftByTrend(
    { horizons: [1], p10: [Number.NaN], p50: [10], p90: [Number.NaN] },
    [10, 20, 30, 40, 50],
    1000,
  );
  t.deepEqual(point.wants.p50, [65]);
  t.true(Number.isNaN(point.wants.p90[0]!));
  // Interpolation and lift together.
  const plan = planWants(
    { horizons: [1, 6], p10: [0, 0], p50: [10, 35], p90: [10, 35] },
    2,
    [10, 10, 10, 10, 10],
    1000,
  );
  t.deepEqual(plan.wants.p50, [10, 15, 20]);
  t.is(plan.lift, 0);
});

test('pool planning - a ramp a few seconds old lifts the plan through the short window, to the end of each step', (t) => {
  // 15 flat seconds at 5/s, then 5 s of a ramp of +5/s a second: the 5 s window sees the ramp whole.
  const flat = { horizons: [1], p10: [5], p50: [5], p90: [5] };
  const kink = liftByTrend(flat, [...new Array<number>(15).fill(5), 10, 15, 20, 25, 30], 1000);
  t.like(kink.trend, { slope: 5, level: 30, samples: 5 });
  t.deepEqual(kink.wants.p50, [37.5]);
  // Five-second steps: horizons 1, 2, 3 end 5.5, 10.5 and 15.5 s past the middle of the last second.
  const perStep = { horizons: [1, 2, 3], p10: [25, 25, 25], p50: [25, 25, 25], p90: [25, 25, 25] };
  const lifted = liftByTrend(perStep, [5, 10, 15, 20, 25], 5000);
  t.deepEqual(lifted.wants.p50, [262.5, 387.5, 512.5], '52.5/s, 77.5/s and 102.5/s for five seconds each');
  t.throws(() => liftByTrend(perStep, [], 0), {
    instanceOf: InputError,
    message: /stepMs must be a positive number, got 0/,
  });
});

test('pool planning - ticks and rounds meet on one step grid whenever they start', (t) => {
  t.is(untilStepPhase(T0, STEP, 10), 10);
  t.is(untilStepPhase(T0 + 10, STEP, 10), STEP, 'never 0: the next one');
  t.is(untilStepPhase(T0 + 4000, STEP, 1010), 2010);
  t.is(tickAtMs(5000), 1010);
  t.is(tickAtMs(1000), 260);
});

/** A runner on a simulated clock for a pool of 10/s units (50 per 5 s step), lead 10 s. */
function runner() {
  const clock = new SimulatedClock(T0);
  const lines: Array<[Record<string, unknown>, string]> = [];
  const log = { info: (f: Record<string, unknown>, m: string) => lines.push([f, m]), warn() {} };
  const [spec] = compilePools(
    {
      pools: [
        {
          name: 'db',
          rules: ['per-user'],
          kind: 'simulated',
          unitCapacity: 10,
          minUnits: 1,
          maxUnits: 20,
          stepMs: STEP,
          leadMs: 10_000,
          policy: 'quantile',
        },
      ],
    },
    null,
  );
  const broker = { nodeID: 'n1' } as unknown as ServiceBroker;
  const r = new PoolRunner(spec!, { broker, clock, sink: () => {}, log: log as never });
  return { clock, lines, r };
}

/** A want whose forecast is flat at `perStep` (a lagging mean) at the node's horizons 5 s, 30 s, 5 min. */
const lagging = (perStep: number, actual: number): WireWant => ({
  token: 'u1',
  priority: 1,
  wants: {
    horizons: [1, 6, 60],
    p10: [perStep, perStep, perStep],
    p50: [perStep, perStep, perStep],
    p90: [perStep, perStep, perStep],
  },
  actual,
});

test('pool planning - the runner decides on the forecast lead plus one step ahead, not its farthest horizon', (t) => {
  const { clock, lines, r } = runner();
  t.teardown(() => r.stop());
  // A forecast rising from 50 to 300 per step over 30 s and 1000 at 5 min.
  const rising: WireWant = {
    token: 'u1',
    priority: 1,
    wants: { horizons: [1, 6, 60], p10: [50, 300, 1000], p50: [50, 300, 1000], p90: [50, 300, 1000] },
    actual: 50,
  };
  r.want([rising]);
  clock.advance(STEP);
  // 15 s ahead: 50 + (300 - 50) * 2/5 = 150 per step, 3 units of 50 (not 20 for the 5 min horizon).
  t.is(r.status().target, 3);
  t.deepEqual(r.status().forecast, { p10: 30, p50: 30, p90: 30, horizonMs: 15_000 });
  const [fields, msg] = lines[0]!;
  t.like(fields, {
    event: 'scale-up',
    pool: 'db',
    fromUnits: 1,
    toUnits: 3,
    horizonMs: 15_000,
    forecast: { p50: 30, horizonMs: 15_000 },
    policy: 'quantile',
    trend: { tokens: 0, liftPerSecond: 0 },
  });
  t.regex(fields.reason as string, /forecast p50 150, p90 150 requests per step 3 step\(s\) ahead/);
  t.regex(msg, /^pool db: scale-up from 1 to 3 units \(policy quantile asked for 3 units/);
});

test('pool planning - a lagging forecast on a ramp: capacity follows the trend of the last seconds', (t) => {
  const { clock, lines, r } = runner();
  t.teardown(() => r.stop());
  // 5/s, then from second 22 a ramp of +1/s a second; the forecast stays the 5/s mean (25 per step).
  const rate = (s: number): number => 5 + Math.max(0, s - 22);
  const targets: Array<[number, number]> = [];
  for (let s = 5; s <= 60; s += 5) {
    // Sent as step s ends: the last 20 complete seconds.
    const perSecond = Array.from({ length: Math.min(20, s) }, (_, i) => rate(s - Math.min(20, s) + i));
    r.want([{ ...lagging(25, rate(s - 1) * 5), perSecond }]);
    clock.advance(STEP);
    targets.push([s, r.status().target]);
  }
  t.deepEqual(
    targets.filter(([s]) => s <= 20).map(([, n]) => n),
    [1, 1, 1, 1],
    'flat demand: the one unit',
  );
  const first = lines.find(([f]) => f.event === 'scale-up');
  t.truthy(first, 'a scale-up');
  t.like(first![0], { event: 'scale-up', horizonMs: 15_000, policy: 'quantile', trend: { tokens: 1 } });
  t.regex(
    first![0].reason as string,
    /the rising trend of 1 token\(s\) lifted the forecast by [\d.]+\/s at 15000 ms/,
  );
  // From the end of the ramp's first whole step on (two seconds of it are too few to fit it), units
  // cover the demand of 15 s later.
  for (const [s, units] of targets.filter(([s]) => s >= 30))
    t.true(units * 10 >= rate(s + 15), `at ${s} s: ${units} units for ${rate(s + 15)}/s 15 s on`);
});
