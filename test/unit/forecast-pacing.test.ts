// A forecast round is paced, not a burst (issue 15): rounds start on a grid
// of the period shifted by the node's phase, so nodes started together do
// not forecast in the same moment, and a round rests between its slices of
// work, so it takes a bounded share of the main thread.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import { InputError, SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { ForecastCadence, ForecastHub } from '../../services/index.ts';
import type { ForecastCadenceDeps, PredictParams, PredictReply } from '../../services/index.ts';
import { meanReply } from '../helpers/forecast-data.ts';

/** A multiple of 5 s: the grid of a 5 s period with phase 0 runs through it. */
const T0 = 1_764_000_000_000;
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));
const key = (user: string): TokenKey => tokenKeyOf(rule, { user });

function setup(extra: Partial<ForecastCadenceDeps> = {}) {
  const clock = new SimulatedClock(T0);
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), { clock });
  const calls: { atMs: number; params: PredictParams }[] = [];
  const predict = (p: PredictParams): Promise<PredictReply> => {
    calls.push({ atMs: clock.now(), params: p });
    return Promise.resolve(meanReply(p, clock.now()));
  };
  const deps: ForecastCadenceDeps = { host, clock, everyMs: 5000, predict, ...extra };
  const cadence = new ForecastCadence(deps);
  const check = (user: string): Promise<unknown> => host.ask(key(user), (a) => a.check(1));
  return { clock, host, cadence, calls, check };
}

/** Lets a round the timer started run to its predict call (it yields between slices). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

test('forecast pacing - rounds start on the grid of the period shifted by phaseMs, not a period after start', async (t) => {
  const { clock, cadence, calls, check } = setup({ phaseMs: 1200 });
  await check('u1');
  clock.advance(700); // started off the grid: the first round still comes at T0 + 1200
  cadence.start();
  clock.advance(499);
  await settle();
  t.is(calls.length, 0);
  clock.advance(1);
  await settle();
  t.is(calls.length, 1);
  t.is(calls[0]!.atMs, T0 + 1200);
  // The next at the next grid point, T0 + 6200, and so on.
  await check('u1');
  clock.advance(4999);
  await settle();
  t.is(calls.length, 1);
  clock.advance(1);
  await settle();
  t.is(calls.length, 2);
  t.is(calls[1]!.atMs, T0 + 6200);
  await cadence.stop();
});

test('forecast pacing - two nodes with different phases never start a round together', async (t) => {
  const a = setup({ phaseMs: 1000 });
  const b = setup({ phaseMs: 3500 });
  for (const n of [a, b]) {
    await n.check('u1');
    n.cadence.start();
  }
  for (let s = 0; s < 20; s++) {
    for (const n of [a, b]) {
      await n.check('u1');
      n.clock.advance(500);
    }
    await settle();
  }
  await a.cadence.stop();
  await b.cadence.stop();
  t.true(a.calls.length >= 1 && b.calls.length >= 1);
  t.deepEqual(
    a.calls.map((c) => (c.atMs - T0) % 5000),
    a.calls.map(() => 1000),
  );
  t.deepEqual(
    b.calls.map((c) => (c.atMs - T0) % 5000),
    b.calls.map(() => 3500),
  );
});

/**
 * Runs `fn`, counting the real-time timers of `ms` it sets: the rests of a round (a count, not a
 * time: wall times on this shared machine are noise). It patches the global setTimeout, so the tests
 * that use it run serially: in a concurrent test the rests of another test counted too (CI: 10 of 9).
 */
async function countingRests<T>(ms: number, fn: () => Promise<T>): Promise<{ value: T; rests: number }> {
  const real = globalThis.setTimeout;
  let rests = 0;
  globalThis.setTimeout = ((cb: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
    if (delay === ms) rests++;
    return real(cb, delay, ...args);
  }) as typeof setTimeout;
  try {
    return { value: await fn(), rests };
  } finally {
    globalThis.setTimeout = real;
  }
}

test.serial(
  'forecast pacing - a round rests restMs after each slice of work, and only yields without it',
  async (t) => {
    const users = Array.from({ length: 160 }, (_v, i) => `u${i}`);
    const paced = setup({ restMs: 5, sliceMs: 0.001, batchTokens: 16 });
    const plain = setup({ sliceMs: 0.001, batchTokens: 16 });
    for (const n of [paced, plain]) {
      for (const u of users) await n.check(u);
      n.clock.advance(2000);
    }
    const p = await countingRests(5, () => paced.cadence.tick());
    t.is(p.value, users.length);
    const q = await countingRests(5, () => plain.cadence.tick());
    t.is(q.value, users.length);
    // 160 tokens gathered in slices of 16 (9 rests) and predicted in batches of 16 (9 rests), each
    // batch kept in one slice: at least 18 rests of 5 ms.
    t.true(p.rests >= 18, `${p.rests} rests`);
    t.is(q.rests, 0);
    t.is(paced.calls.length, 10);
  },
);

test.serial(
  'forecast pacing - past restWithinMs of real time a round stops resting and only yields',
  async (t) => {
    const users = Array.from({ length: 160 }, (_v, i) => `u${i}`);
    // Rests of 50 ms, but only within the round's first 0 ms: none.
    const n = setup({ restMs: 50, restWithinMs: 0, sliceMs: 0.001, batchTokens: 16 });
    const m = setup({ restMs: 50, sliceMs: 0.001, batchTokens: 16 });
    for (const x of [n, m]) {
      for (const u of users) await x.check(u);
      x.clock.advance(2000);
    }
    const none = await countingRests(50, () => n.cadence.tick());
    t.is(none.value, users.length);
    t.is(none.rests, 0);
    // The same round without the bound rests.
    const some = await countingRests(50, () => m.cadence.tick());
    t.true(some.rests > 0, `${some.rests} rests`);
  },
);

test('forecast pacing - a bad everyMs, restMs or phaseMs is refused, naming the field', (t) => {
  for (const [field, value] of [
    ['everyMs', 0],
    ['restMs', -1],
    ['restMs', Number.POSITIVE_INFINITY],
    ['phaseMs', -5],
    ['phaseMs', Number.NaN],
    ['restWithinMs', -1],
  ] as const) {
    const err = t.throws(() => setup({ [field]: value }), { instanceOf: InputError });
    t.regex(err.message, new RegExp(field));
  }
  const config = { horizonsMs: [5000], stepMs: 1000, backend: 'wasm' as const, registryDir: tmpdir() };
  const err = t.throws(() => new ForecastHub({ ...config, restMs: -1 }, new SimulatedClock(T0)), {
    instanceOf: InputError,
  });
  t.regex(err.message, /restMs/);
  const err2 = t.throws(
    () => new ForecastHub({ ...config, restWithinMs: Number.NaN }, new SimulatedClock(T0)),
    {
      instanceOf: InputError,
    },
  );
  t.regex(err2.message, /restWithinMs/);
});

test.serial('forecast pacing - a hub with restMs rests between the slices of a predict call', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-pacing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = { horizonsMs: [5000], stepMs: 1000, backend: 'wasm' as const, registryDir: dir };
  const hub = new ForecastHub(
    { ...config, sliceMs: 0.001, restMs: 5, pretrained: false },
    new SimulatedClock(T0),
  );
  t.teardown(() => hub.close());
  // 40 tokens in slices of at least 4.
  const items = Array.from({ length: 40 }, (_v, k) => ({
    token: `u${k}`,
    values: [1, 2, 3, k],
    startMs: T0,
  }));
  const { value: r, rests } = await countingRests(5, () => hub.predict({ items }));
  t.is(r.forecasts.length, 40);
  // Between slices of a few tokens each (at most 9 boundaries for 40 tokens), never after the last.
  t.true(rests >= 1 && rests <= 9, `${rests} rests`);
});
