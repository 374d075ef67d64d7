import test from 'ava';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import { InputError, SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { LiveZoo } from '../../models/index.ts';
import { ForecastCadence, compileNodeOptions } from '../../services/index.ts';
import type { PredictParams, PredictReply } from '../../services/index.ts';
import type { ForecastRow } from '../../store/index.ts';

const T0 = 1_764_000_000_000;
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));

function setup() {
  const clock = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((key) => new TokenActor(key, rule, clock), { clock });
  const calls: PredictParams[] = [];
  const rows: ForecastRow[] = [];
  const errors: [number, number][] = [];
  // Forecasts p50 = the last value + 1 at every horizon.
  const predict = (p: PredictParams): Promise<PredictReply> => {
    calls.push(p);
    return Promise.resolve({
      version: 'v000007',
      madeMs: clock.now(),
      horizonsMs: [1000, 5000],
      forecasts: p.items.map((it) => {
        const last = it.values[it.values.length - 1]!;
        return {
          token: it.token,
          source: 'lstm',
          p10: [last, last],
          p50: [last + 1, last + 1],
          p90: [last + 2, last + 2],
        };
      }),
    });
  };
  const cadence = new ForecastCadence({
    host,
    clock,
    everyMs: 5000,
    predict,
    write: (r) => rows.push(r),
    storeToken: (t) => `hash(${t})`,
    onError: (wape, n) => errors.push([wape, n]),
  });
  return { clock, host, cadence, calls, rows, errors };
}

const key = (user: string): TokenKey => tokenKeyOf(rule, { user });

test('forecast cadence - every period one batched predict covers every live token and lands on each actor', async (t) => {
  const { clock, host, cadence, calls, rows } = setup();
  // u1 sends 3 requests a second for 10 s, u2 one request once.
  for (let s = 0; s < 10; s++) {
    for (let i = 0; i < 3; i++) await host.ask(key('u1'), (a) => a.check(1));
    if (s === 0) await host.ask(key('u2'), (a) => a.check(1));
    clock.advance(1000);
  }
  cadence.start();
  clock.advance(4999);
  t.is(calls.length, 0);
  clock.advance(1);
  await cadence.stop(); // waits for the tick the timer started
  t.is(calls.length, 1);
  t.deepEqual(calls[0]!.items.map((i) => i.token).sort(), [key('u1'), key('u2')].sort());
  const u1 = calls[0]!.items.find((i) => i.token === key('u1'))!;
  // History since the token was created, ending with the last complete second.
  t.is(u1.values.length, 15);
  t.deepEqual(u1.values.slice(0, 10), Array(10).fill(3));
  t.is(u1.startMs, T0);

  const a = host.peek(key('u1'))!;
  t.deepEqual(a.forecast, {
    madeMs: T0 + 15_000,
    horizonsMs: [1000, 5000],
    p10: [0, 0],
    p50: [1, 1],
    p90: [2, 2],
    model: 'v000007',
    version: 'v000007',
  });
  t.deepEqual(a.describe().forecast, a.forecast);
  // Store rows: one per token and horizon, the token by its hash, targets after the origin.
  t.is(rows.length, 4);
  const r = rows.find((x) => x.token === `hash(${key('u1')})` && x.horizonMs === 5000)!;
  t.like(r, { madeMs: T0 + 15_000, targetMs: T0 + 14_000 + 5000, p50: 1, model: 'v000007' });
});

test('forecast cadence - tokens with equal forecasts share one kept forecast, others get their own', async (t) => {
  const { clock, host, cadence, rows } = setup();
  // One request each at T0 + 1 s (equal histories, equal forecasts); u3 has two.
  clock.advance(1000);
  for (const u of ['u1', 'u2', 'u3']) await host.ask(key(u), (a) => a.check(1));
  await host.ask(key('u3'), (a) => a.check(1));
  clock.advance(1000);
  await cadence.tick();
  const f = (u: string) => host.peek(key(u))!.forecast!;
  t.is(f('u1'), f('u2'), 'one object for equal forecasts');
  t.deepEqual(f('u1').p50, [2, 2]);
  t.not(f('u3'), f('u1'));
  t.deepEqual(f('u3').p50, [3, 3]);
  // Each token still has its own rows.
  t.deepEqual(
    rows.map((r) => r.token),
    ['u1', 'u1', 'u2', 'u2', 'u3', 'u3'].map((u) => `hash(${key(u)})`),
  );
});

test('forecast cadence - the previous forecast is scored against what happened and reported', async (t) => {
  const { clock, host, cadence, errors } = setup();
  await host.ask(key('u1'), (a) => a.check(1));
  clock.advance(3000);
  await cadence.tick(); // origin T0+2s (0 requests): p50 = 1 for T0+3s
  t.deepEqual(errors, []);
  for (let i = 0; i < 4; i++) await host.ask(key('u1'), (a) => a.check(1)); // 4 requests at T0+3s
  clock.advance(2000);
  await cadence.tick();
  t.deepEqual(errors, [[3 / 4, 1]]);
});

test('forecast cadence - every retainEveryRounds rounds the sweep drops state that release missed', async (t) => {
  const clock = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), { clock });
  const zoo = new LiveZoo({ horizons: [1, 5], stepMs: 1000 });
  let sweeps = 0;
  const cadence = new ForecastCadence({
    host,
    clock,
    everyMs: 5000,
    predict: (p) =>
      Promise.resolve({
        version: null,
        madeMs: clock.now(),
        horizonsMs: [1000, 5000],
        forecasts: zoo.predict(
          p.items.map((it) => ({ ...it, stepMs: 1000 })),
          undefined,
        ),
      }),
    retain: (live) => {
      sweeps++;
      zoo.retain(live);
    },
    retainEveryRounds: 3,
  });
  await host.ask(key('u1'), (a) => a.check(1));
  await host.ask(key('u2'), (a) => a.check(1));
  clock.advance(2000);
  await cadence.tick();
  t.is(zoo.size, 2);
  t.is(host.peek(key('u1'))?.forecast?.model, 'combined');
  // No release wired here: as if u2's forecast had landed after its actor left.
  await host.passivate(key('u2'));
  clock.advance(1000);
  await cadence.tick();
  t.is(zoo.size, 2, 'no sweep before the third round');
  clock.advance(1000);
  await cadence.tick();
  t.is(sweeps, 1);
  t.is(zoo.size, 1, 'u2 is not resident: the sweep dropped its combiner state');
  t.throws(
    () =>
      new ForecastCadence({
        host,
        clock,
        everyMs: 5000,
        predict: () => Promise.reject(new Error('unused')),
        retainEveryRounds: 0,
      }),
    {
      instanceOf: InputError,
      message: /retainEveryRounds must be a positive integer, got 0/,
    },
  );
});

test('token actor - setForecast keeps the latest and rejects a malformed one', (t) => {
  const clock = new SimulatedClock(T0);
  const a = new TokenActor(key('u1'), rule, clock);
  t.is(a.describe().forecast, undefined);
  t.false('forecast' in a.describe());
  const f = { madeMs: T0, horizonsMs: [5000], p10: [1], p50: [2], p90: [3] };
  a.setForecast(f);
  a.setForecast({ ...f, madeMs: T0 - 1, p50: [9] });
  t.is(a.forecast?.p50[0], 2);
  t.throws(() => a.setForecast({ ...f, p90: [] }), {
    instanceOf: InputError,
    message: /forecast\.p90 must be a list of 1 numbers/,
  });
});

test('forecast options - horizons are whole-second durations from any source, and bad ones are named', (t) => {
  const d = compileNodeOptions(undefined, {}, undefined);
  t.deepEqual(d.forecastHorizonsMs, [5000, 30_000, 300_000]);
  t.is(d.forecastEveryMs, 5000);
  t.is(d.trainEveryMs, 600_000);
  t.is(d.forecastBackend, 'wasm');
  t.deepEqual(
    compileNodeOptions(undefined, { HEADROOM_FORECAST_HORIZONS_MS: '1s, 30s,2m' }, undefined)
      .forecastHorizonsMs,
    [1000, 30_000, 120_000],
  );
  t.false(compileNodeOptions(undefined, {}, { forecast: 'false' }).forecast);
  t.throws(() => compileNodeOptions(undefined, {}, { forecastHorizonsMs: '1.5s' }), {
    instanceOf: InputError,
    message: /forecastHorizonsMs must be whole seconds like "5s,30s,5m", got "1\.5s"/,
  });
  t.throws(() => compileNodeOptions(undefined, {}, { forecastBackend: 'gpu' }), {
    instanceOf: InputError,
    message: /forecastBackend/,
  });
});

test('forecast cadence - a token older than the season gets, per horizon, the mean per second of its minute a season back', async (t) => {
  const clock = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), { clock });
  const calls: PredictParams[] = [];
  const predict = (p: PredictParams): Promise<PredictReply> => {
    calls.push(p);
    return Promise.resolve({ version: null, madeMs: clock.now(), horizonsMs: [1000, 90_000], forecasts: [] });
  };
  // A season of 2 minutes, so that a few minutes of history reach back one.
  const make = (seasonMs?: number) =>
    new ForecastCadence({
      host,
      clock,
      everyMs: 5000,
      predict,
      horizonsMs: [1000, 90_000, 150_000],
      ...(seasonMs === undefined ? {} : { seasonMs }),
    });
  const cadence = make(120_000);
  // u1 from T0 on: minute k holds k + 1 requests a second; u2 from T0 + 90 s.
  for (let s = 0; s < 200; s++) {
    const k = Math.floor(s / 60);
    for (let i = 0; i <= k; i++) await host.ask(key('u1'), (a) => a.check(1));
    if (s >= 90) await host.ask(key('u2'), (a) => a.check(1));
    clock.advance(1000);
  }
  // Origin T0 + 199 s (minute 3): 1 s on is minute 3, a season back minute 1 (2 a second); 90 s on
  // (T0 + 289 s) a season back is T0 + 169 s, minute 2 (3 a second); 150 s on, over a season, is
  // read two seasons back (as the seasonal-naive member's lag): T0 + 109 s, minute 1.
  await cadence.tick();
  const item = (u: string) => calls.at(-1)!.items.find((i) => i.token === key(u))!;
  t.deepEqual(item('u1').season, [2, 3, 2]);
  // u2 was created at T0 + 90 s: its minutes 1 began before that (none), minute 2 is all its own.
  t.deepEqual(item('u2').season, [null, 1, null]);
  // Season 0: none sent. The default season (a day) reaches back before either token.
  await make(0).tick();
  t.false('season' in item('u1'));
  await make().tick();
  t.false('season' in item('u1'));
  t.false('season' in item('u2'));
  for (const [deps, message] of [
    [{ seasonMs: -1 }, /seasonMs must be a duration >= 0, got -1/],
    [{ seasonMs: Number.NaN }, /seasonMs must be a duration >= 0, got NaN/],
    [{ horizonsMs: [1000, 0] }, /horizonsMs must be a list of positive durations, got \[1000,0\]/],
  ] as const) {
    t.throws(() => new ForecastCadence({ host, clock, everyMs: 5000, predict, ...deps }), {
      instanceOf: InputError,
      message,
    });
  }
});
