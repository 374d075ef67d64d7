// The live zoo's seasonal-naive member from a day of history (issue 12 item 1): the forecast round
// sends 300 s of each token's 1 s history, never a season, so it also sends, per horizon, the mean per
// second of the one-minute bucket of the token's window one day before the target.
import test from 'ava';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import {
  DAY_MS,
  ErrorCode,
  InputError,
  SimulatedClock,
  compileRule,
  parseRule,
  tokenKeyOf,
} from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { LiveZoo } from '../../models/index.ts';
import { ForecastCadence, checkPredictParams } from '../../services/index.ts';
import type { KeptForecast } from '../../services/forecasting/index.ts';
import type { PredictParams, PredictReply } from '../../services/index.ts';

const T0 = 1_764_000_000_000; // a whole minute
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));
const key = (user: string): TokenKey => tokenKeyOf(rule, { user });
const HORIZONS_MS = [5000, 30_000];
/** Half of every 10 minutes at 1 request a second, then a step up to 6: the same minutes every day. */
const PERIOD_MS = 600_000;
const level = (ms: number): number =>
  (((ms - T0) % PERIOD_MS) + PERIOD_MS) % PERIOD_MS < PERIOD_MS / 2 ? 1 : 6;

function setup() {
  const clock = new SimulatedClock(T0);
  // Not passivated while its day of history is written straight into its window.
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), {
    clock,
    idleMs: 2 * DAY_MS,
  });
  const zoo = new LiveZoo({ horizons: HORIZONS_MS.map((h) => h / 1000), stepMs: 1000 });
  const calls: PredictParams[] = [];
  // What a node's forecast.predict does: the params checked as ForecastHub checks them, the live zoo.
  const predict = (p: PredictParams): Promise<PredictReply> => {
    calls.push(p);
    return Promise.resolve({
      version: null,
      madeMs: clock.now(),
      horizonsMs: HORIZONS_MS,
      forecasts: zoo.predict(checkPredictParams(p, 1000, HORIZONS_MS.length), undefined),
    });
  };
  const cadence = new ForecastCadence({ host, clock, everyMs: 5000, predict });
  return { clock, host, zoo, calls, cadence };
}

/** Requests of the second starting at `ms`, through the actor (as checks). */
async function second(host: ActorHost<TokenKey, TokenActor>, user: string, ms: number): Promise<void> {
  await host.ask(key(user), (a) => {
    for (let i = 0; i < level(ms); i++) a.check(1);
  });
}

test('live seasonal - a token with a day of history gets the seasonal member, which leads before the step; a younger one gets none', async (t) => {
  const { clock, host, calls, cadence } = setup();
  await host.ask(key('old'), () => undefined); // created at T0
  // 24 h of the daily pattern, straight into the old token's window (a day of checks, faster).
  const w = host.peek(key('old'))!.window;
  for (let ms = T0; ms < T0 + DAY_MS; ms += 1000) for (let i = level(ms); i > 0; i--) w.record(ms, true, 1);
  clock.advance(DAY_MS);
  // The 25th hour through the actors, a round every 5 s; `young` is created now, with the same pattern.
  // The last round's origin is 20 s before a step up (T0 + 24 h + 64 min 40 s + 1 s).
  const start = clock.now();
  const seconds = 3600 + 281;
  for (let s = 0; s < seconds; s++) {
    await second(host, 'old', clock.now());
    await second(host, 'young', clock.now());
    clock.advance(1000);
    if ((s + 1) % 5 === 0 || s === seconds - 1) await cadence.tick();
  }
  const end = clock.now() - 1000;
  t.is((end + 20_000 - T0) % PERIOD_MS, PERIOD_MS / 2, 'the origin is 20 s before a step up');
  const last = calls.at(-1)!.items;
  const old = last.find((i) => i.token === key('old'))!;
  const young = last.find((i) => i.token === key('young'))!;
  // Per horizon, the minute a day before the target: 30 s on is after the step, 5 s on before it.
  // 5 s on is in the minute of the origin, whose bucket a day back the window still holds (it keeps
  // a day and the minute in progress: with 1,440 minutes it had none, issue 12).
  t.deepEqual(old.season, [1, 6]);
  t.false('season' in young, 'a token younger than a day gets no season values');
  t.true(
    calls.every((c) => c.items.every((i) => i.token !== key('young') || i.season === undefined)),
    'in no round',
  );
  // The first round knew no horizons yet (they come with the replies).
  t.is(calls[0]!.items.find((i) => i.token === key('old'))!.season, undefined);
  // After the first round every round sent, at every horizon, the level a day before the target.
  let sent = 0;
  for (const c of calls.slice(1)) {
    const item = c.items.find((i) => i.token === key('old'))!;
    const origin = item.startMs + (item.values.length - 1) * 1000;
    t.deepEqual(
      item.season,
      HORIZONS_MS.map((h) => level(origin + h - DAY_MS)),
    );
    sent += item.season?.filter((v) => v !== null).length ?? 0;
  }
  t.is(sent, (calls.length - 1) * HORIZONS_MS.length);
  t.log(`${calls.length} rounds, ${sent} season values sent for the old token`);
  t.is(start, T0 + DAY_MS);

  const fo = host.peek(key('old'))!.forecast as KeptForecast;
  const fy = host.peek(key('young'))!.forecast as KeptForecast;
  t.log(`old: p50 ${fo.p50.map((v) => v.toFixed(2)).join(', ')} leaders ${fo.leaders!.join(', ')}`);
  t.log(`old weights ${JSON.stringify(fo.weights)}`);
  t.log(`young: p50 ${fy.p50.map((v) => v.toFixed(2)).join(', ')} leaders ${fy.leaders!.join(', ')}`);
  // The old token's combination leans to the seasonal member at both horizons (at 5 s it had no
  // season value before issue 12's fix): 30 s on it expects the step up.
  t.deepEqual(fo.leaders, ['seasonal', 'seasonal']);
  t.true(fo.weights!['seasonal']![0]! > 0.5 && fo.weights!['seasonal']![1]! > 0.5);
  t.true(fo.p50[1]! > 4, `old p50 at 30 s ${fo.p50[1]}`);
  t.true(Math.abs(fo.p50[0]! - 1) < 0.5, `old p50 at 5 s ${fo.p50[0]}`);
  // The young token has no seasonal member: it expects the level it is at.
  t.false('seasonal' in fy.weights!);
  t.true(fy.p50[1]! < 2, `young p50 at 30 s ${fy.p50[1]}`);
});

test('live seasonal - the zoo uses the season values only where the history holds no season', (t) => {
  const zoo = new LiveZoo({ horizons: [1, 5], stepMs: 1000, seasonSteps: 10 });
  const H = 2;
  const at = 5 * H; // the seasonal member's forecasts
  const input = { token: 't', values: [1, 2, 3], startMs: T0, stepMs: 1000 };
  const [none] = zoo.memberForecasts([input], undefined);
  t.true(Number.isNaN(none![at]) && Number.isNaN(none![at + 1]));
  const [some] = zoo.memberForecasts([{ ...input, season: [7, null] }], undefined);
  t.is(some![at], 7);
  t.true(Number.isNaN(some![at + 1]));
  const [nan] = zoo.memberForecasts([{ ...input, season: [Number.NaN, 2] }], undefined);
  t.true(Number.isNaN(nan![at]));
  t.is(nan![at + 1], 2);
  // A history of a season or more: its own value a season back wins.
  const long = { ...input, values: Array.from({ length: 20 }, (_, i) => i), season: [100, 100] };
  const [own] = zoo.memberForecasts([long], undefined);
  t.is(own![at], 19 + 1 - 10);
  t.is(own![at + 1], 19 + 5 - 10);
});

test('live seasonal - bad season params are InputErrors naming the field and the value', (t) => {
  const item = { token: 't', values: [1], startMs: T0 };
  const ok = checkPredictParams({ items: [{ ...item, season: [0.5, null] }] }, 1000, 2);
  t.deepEqual(ok[0]!.season, [0.5, null]);
  t.is(checkPredictParams({ items: [item] }, 1000, 2)[0]!.season, undefined);
  t.deepEqual(checkPredictParams({ items: [{ ...item, season: [1, 2, 3] }] }, 1000)[0]!.season, [1, 2, 3]);
  for (const [season, shown] of [
    [[1], '[1]'],
    [[1, 2, 3], '[1,2,3]'],
    [[-1, 2], '[-1,2]'],
    [[1, '2'], '[1,"2"]'],
    [[1, Number.NaN], '[1,null]'],
    [[1, Number.POSITIVE_INFINITY], '[1,null]'],
    ['1,2', '"1,2"'],
    [null, 'null'],
    [{ 0: 1, 1: 2 }, '{'],
  ] as const) {
    const err = t.throws(() => checkPredictParams({ items: [item, { ...item, season }] }, 1000, 2), {
      instanceOf: InputError,
    });
    t.is(err.code, ErrorCode.InvalidField);
    t.regex(err.message, /^items\[1\]\.season must be a list of 2 numbers >= 0 or null, got /);
    t.true(err.message.includes(shown), err.message);
  }
});
