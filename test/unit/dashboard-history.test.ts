// The dashboard's bounded history (services/api/dashboard/history.ts) on a
// simulated clock, and its query checks: the ring keeps the last N samples
// oldest first, samples come every step, series line up with the time axis,
// a failed sample is reported and sampling goes on; bad queries are coded.
import test from 'ava';
import { ErrorCode, InputError, SimulatedClock } from '../../lib/index.ts';
import { History, Ring, parseNoQuery, parseTokenQuery } from '../../services/api/dashboard/index.ts';
import type { PoolOverview } from '../../services/pools/index.ts';

test('dashboard history - the ring keeps the last N items, oldest first', (t) => {
  const ring = new Ring<number>(3);
  t.deepEqual(ring.toArray(), []);
  for (const i of [1, 2]) ring.push(i);
  t.deepEqual(ring.toArray(), [1, 2]);
  for (const i of [3, 4, 5, 6, 7]) ring.push(i);
  t.deepEqual(ring.toArray(), [5, 6, 7]);
  t.is(ring.size, 3);
  t.throws(() => new Ring(0), { instanceOf: RangeError, message: /capacity .* got 0/ });
});

const pool = (units: number, demand: number | null): PoolOverview =>
  ({
    name: 'api',
    units,
    readyUnits: units - 1,
    demand,
    forecast: demand === null ? null : { p10: demand / 2, p50: demand, p90: demand * 2, horizonMs: 1000 },
  }) as PoolOverview;

test('dashboard history - one sample per step on the clock, bounded, series aligned', async (t) => {
  const clock = new SimulatedClock(1_000_000);
  let n = 0;
  const errors: unknown[] = [];
  const h = new History(
    clock,
    {
      actors: async (): Promise<Record<string, number | null>> => {
        n++;
        if (n === 3) throw new Error('node gone');
        return n < 4 ? { a: n } : { a: n, b: 1 };
      },
      pools: async () => [pool(n, n === 2 ? null : 10 * n)],
    },
    (err) => errors.push(err),
    { stepMs: 1000, capacity: 4 },
  );
  h.start();
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  h.stop();
  clock.advance(5000);
  await new Promise((r) => setImmediate(r));
  // Six ticks, the third failed (reported, not kept): five samples, the ring keeps four.
  t.is(n, 6);
  t.is(errors.length, 1);
  const actors = h.actorsSeries();
  t.deepEqual(actors.t, [1_001_000, 1_003_000, 1_004_000, 1_005_000]);
  t.deepEqual(actors.lines, { a: [2, 4, 5, 6], b: [null, 1, 1, 1] });
  t.deepEqual(h.poolNames(), ['api']);
  const p = h.poolSeries('api');
  t.deepEqual(p.lines['units'], [2, 4, 5, 6]);
  t.deepEqual(p.lines['readyUnits'], [1, 3, 4, 5]);
  t.deepEqual(p.lines['demand'], [null, 40, 50, 60]);
  t.deepEqual(p.lines['p90'], [null, 80, 100, 120]);
  t.deepEqual(h.poolSeries('gone').lines['units'], [null, null, null, null]);
});

test('dashboard queries - token or params, exactly one; unknown and repeated parameters refused', (t) => {
  t.deepEqual(parseTokenQuery(new URLSearchParams('token=per-user|user=u1')), { token: 'per-user|user=u1' });
  t.deepEqual(parseTokenQuery(new URLSearchParams('params={"user":"u1","n":2}')), {
    params: { user: 'u1', n: 2 },
  });
  t.notThrows(() => parseNoQuery(new URLSearchParams('')));
  for (const [q, code, field] of [
    ['', ErrorCode.MissingField, 'token'],
    ['token=a&params={}', ErrorCode.InvalidField, 'token'],
    ['params={', ErrorCode.InvalidJson, 'params'],
    ['params=[]', ErrorCode.InvalidField, 'params'],
    ['params={"a":{"b":1}}', ErrorCode.InvalidField, 'params.a'],
    ['token=a&x=1', ErrorCode.UnknownField, 'x'],
    ['token=a&token=b', ErrorCode.InvalidField, 'token'],
  ] as const) {
    const err = t.throws(() => parseTokenQuery(new URLSearchParams(q)), { instanceOf: InputError }, q);
    t.is(err.code, code, q);
    t.is(err.field, field, q);
  }
  t.throws(() => parseNoQuery(new URLSearchParams('since=1')), {
    instanceOf: InputError,
    message: /since is not a known field/,
  });
});
