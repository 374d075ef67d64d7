// The forecast round's season values at every horizon (issue 12): with a day of history a token gets,
// per horizon, the mean per second of its window's minute a day before the target, whatever second
// of the minute the round falls on. With a window of 1,440 one-minute buckets the minute a day
// before a target 5 s ahead (in the minute in progress) had just been dropped, and the one before a
// target 30 s ahead whenever the round fell in the first half of a minute.
import test from 'ava';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import { DAY_MS, SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { ForecastCadence } from '../../services/index.ts';
import type { PredictParams, PredictReply } from '../../services/index.ts';

const T0 = 1_764_000_000_000; // a whole minute
const MINUTE_MS = 60_000;
const HORIZONS_MS = [5000, 30_000, 300_000];
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));
const key = tokenKeyOf(rule, { user: 'u1' });
/** Requests in the k-th minute of the first day: a different count in neighbouring minutes. */
const perMinute = (k: number): number => 1 + ((k * 7) % 13);

test('forecast cadence - with a day of history every horizon gets its minute a day before the target, at every second of the minute', async (t) => {
  const clock = new SimulatedClock(T0);
  // Not passivated while its day of history is written straight into its window.
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), {
    clock,
    idleMs: 2 * DAY_MS,
  });
  const calls: PredictParams[] = [];
  const predict = (p: PredictParams): Promise<PredictReply> => {
    calls.push(p);
    return Promise.resolve({ version: null, madeMs: clock.now(), horizonsMs: HORIZONS_MS, forecasts: [] });
  };
  // The node's defaults: a season of a day, the default window.
  const cadence = new ForecastCadence({ host, clock, everyMs: 1000, predict, horizonsMs: HORIZONS_MS });
  await host.ask(key, () => undefined); // created at T0
  const w = host.peek(key)!.window;
  for (let k = 0; k < 1440; k++) {
    for (let i = perMinute(k); i > 0; i--) w.record(T0 + k * MINUTE_MS + 1000 * (i % 60), true, 1);
  }
  clock.advance(DAY_MS);
  // Two minutes of rounds, one a second, each after a check in the second before it (so that the
  // window's latest minute is the round's own).
  let checked = 0;
  for (let s = 0; s < 120; s++) {
    await host.ask(key, (a) => a.check(1));
    clock.advance(1000);
    await cadence.tick();
    const item = calls.at(-1)!.items.find((i) => i.token === key)!;
    const origin = item.startMs + (item.values.length - 1) * 1000;
    const want = HORIZONS_MS.map((h) => {
      const k = Math.floor((origin + h - DAY_MS - T0) / MINUTE_MS);
      return (perMinute(k) * 1000) / MINUTE_MS;
    });
    t.deepEqual(item.season, want, `origin at second ${(origin % MINUTE_MS) / 1000} of its minute`);
    checked++;
  }
  t.is(checked, 120);
});
