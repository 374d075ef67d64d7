// The forecast cadence forecasts only active tokens: a token gets a forecast
// (and stored rows) in the round that first sees its requests, and none
// while it is idle; an idle token keeps its last forecast, which is scored
// once against what happened.
import test from 'ava';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import { InputError, SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { ForecastCadence } from '../../services/index.ts';
import type { PredictParams, PredictReply } from '../../services/index.ts';
import type { ForecastRow } from '../../store/index.ts';
import { meanReply } from '../helpers/forecast-data.ts';

const T0 = 1_764_000_000_000;
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));
const key = (user: string): TokenKey => tokenKeyOf(rule, { user });

function setup(extra: { activeMs?: number; batchTokens?: number } = { activeMs: 5000 }) {
  const clock = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), { clock });
  const calls: PredictParams[] = [];
  const rows: ForecastRow[] = [];
  const errors: [number, number][] = [];
  // p50 = 2 requests a second at both horizons, whatever the history.
  const predict = (p: PredictParams): Promise<PredictReply> => {
    calls.push(p);
    return Promise.resolve(meanReply(p, clock.now()));
  };
  const cadence = new ForecastCadence({
    host,
    clock,
    everyMs: 5000,
    ...extra,
    predict,
    write: (r) => rows.push(r),
    storeToken: (t) => `hash(${t})`,
    onError: (wape, n) => errors.push([wape, n]),
  });
  const check = (user: string, n = 1): Promise<unknown> =>
    Promise.all(Array.from({ length: n }, () => host.ask(key(user), (a) => a.check(1))));
  const rowsOf = (user: string): ForecastRow[] => rows.filter((r) => r.token === `hash(${key(user)})`);
  return { clock, host, cadence, calls, rows, errors, check, rowsOf };
}

test('forecast activity - idle tokens get no forecast and no rows, active ones get one every round', async (t) => {
  const { clock, host, cadence, calls, check, rowsOf } = setup();
  await check('once'); // one request at T0, never again
  for (let round = 1; round <= 6; round++) {
    for (let s = 0; s < 5; s++) {
      await check('busy', 2);
      clock.advance(1000);
    }
    await cadence.tick();
  }
  t.is(calls.length, 6);
  t.deepEqual(
    calls.map((c) => c.items.map((i) => i.token).sort()),
    [[key('busy'), key('once')].sort(), ...Array(5).fill([key('busy')])],
  );
  // Rows: one per horizon of each forecast made; the one-off token's only in the first round.
  t.is(rowsOf('busy').length, 6 * 2);
  t.deepEqual(
    rowsOf('once').map((r) => [r.madeMs, r.horizonMs]),
    [
      [T0 + 5000, 1000],
      [T0 + 5000, 5000],
    ],
  );
  // The idle token keeps the forecast it got while active; the busy one's is fresh.
  t.is(host.peek(key('once'))!.forecast?.madeMs, T0 + 5000);
  t.is(host.peek(key('busy'))!.forecast?.madeMs, T0 + 30_000);

  // A token that wakes up gets a forecast again in the next round, and only then.
  await check('once');
  clock.advance(5000);
  await cadence.tick();
  t.deepEqual(
    calls.at(-1)!.items.map((i) => i.token),
    [key('once')],
  );
  t.is(calls.length, 7);
  t.is(rowsOf('once').length, 4);
});

test('forecast activity - a request in the second still open is forecast by the round that sees it complete', async (t) => {
  const { clock, cadence, calls, check, rowsOf } = setup();
  clock.advance(10_200);
  await check('late'); // at T0 + 10.2 s
  clock.advance(300);
  t.is(await cadence.tick(), 0); // T0 + 10.5 s: the last complete second ends at T0 + 10 s
  clock.advance(5000);
  t.is(await cadence.tick(), 1);
  const item = calls.at(-1)!.items[0]!;
  t.is(item.token, key('late'));
  t.is(item.values.at(-1), 0); // the history ends with the last complete second (T0 + 14 s)
  t.true(item.values.includes(1));
  clock.advance(5000);
  t.is(await cadence.tick(), 0);
  t.is(rowsOf('late').length, 2);
});

test('forecast activity - a longer active window keeps forecasting a token that went quiet, until it ends', async (t) => {
  const { clock, cadence, calls, check } = setup({ activeMs: 12_000 });
  await check('quiet');
  const forecasts: number[] = [];
  for (let round = 0; round < 4; round++) {
    clock.advance(5000);
    forecasts.push(await cadence.tick());
  }
  // Rounds at 5, 10, 15, 20 s see up to 4, 9, 14, 19 s; the request at 0 s is within 12 s of the first two.
  t.deepEqual(forecasts, [1, 1, 0, 0]);
  t.is(calls.length, 2);
});

test('forecast activity - an idle token’s held forecast is scored once, when its first target has passed', async (t) => {
  const { clock, cadence, calls, errors, check } = setup();
  await check('once');
  await check('busy');
  clock.advance(5000);
  await cadence.tick(); // both forecast at origin T0+4 s: p50 = 2 at T0+5 s
  await check('busy', 4); // at T0+5 s; `once` sends nothing more
  clock.advance(5000);
  await cadence.tick(); // scores both: |4 - 2| + |0 - 2| over 4
  t.deepEqual(errors, [[1, 2]]);
  t.deepEqual(
    calls.at(-1)!.items.map((i) => i.token),
    [key('busy')],
  );
  await check('busy', 3); // at T0+10 s, the target of busy's second forecast
  clock.advance(5000);
  await cadence.tick(); // scores busy's second forecast only: `once`'s was scored already
  t.deepEqual(errors, [
    [1, 2],
    [1 / 3, 1],
  ]);
});

test('forecast activity - tokens are predicted in batches of batchTokens, and bad settings are named', async (t) => {
  const { clock, cadence, calls, check } = setup({ activeMs: 5000, batchTokens: 2 });
  for (const u of ['a', 'b', 'c', 'd', 'e']) await check(u);
  clock.advance(5000);
  t.is(await cadence.tick(), 5);
  t.deepEqual(
    calls.map((c) => c.items.length),
    [2, 2, 1],
  );
  const clock2 = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock2), { clock: clock2 });
  const predict = (): Promise<PredictReply> => Promise.reject(new Error('unused'));
  t.throws(() => new ForecastCadence({ host, clock: clock2, everyMs: 1000, predict, activeMs: -1 }), {
    instanceOf: InputError,
    message: /activeMs/,
  });
  t.throws(() => new ForecastCadence({ host, clock: clock2, everyMs: 1000, predict, batchTokens: 0 }), {
    instanceOf: InputError,
    message: /batchTokens/,
  });
});
