// The wire form and the merge of the cluster's training series
// (services/forecasting/cluster-training.ts): Float32 base64 both ways,
// replies capped by the budget, malformed replies refused naming the field,
// parts placed on one grid, a peer that fails left out of the run, and
// fuzzed replies and `training.series` requests get coded errors.
import test from 'ava';
import fc from 'fast-check';
import { ServiceBroker } from 'moleculer';
import { ActorHost, TokenActor } from '../../actors/index.ts';
import {
  ErrorCode,
  InputError,
  SimulatedClock,
  compileRule,
  parseRule,
  tokenKeyOf,
} from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import {
  REPLY_BUDGET_BYTES,
  clusterTrainingSource,
  decodeSeriesReply,
  encodeTrainingData,
  mergeTrainingData,
  trainingSeriesService,
} from '../../services/forecasting/cluster-training.ts';
import type { SeriesReply } from '../../services/forecasting/cluster-training.ts';
import { liveTrainingSource } from '../../services/index.ts';
import type { TrainingData } from '../../services/index.ts';

const data = (startMs: number, rows: number[][]): TrainingData => ({
  series: rows.map((r) => Float64Array.from(r)),
  timestamps: Float64Array.from(rows[0]!, (_v, i) => startMs + i * 1000),
  stepMs: 1000,
});

test('cluster training - series survive the wire form', (t) => {
  const d = data(5000, [
    [0, 1, 2.5, 1e6],
    [3, 0, 0, 7],
  ]);
  const wire = encodeTrainingData(d, 10)!;
  t.is(wire.n, 4);
  t.is(wire.series.length, 2);
  const back = decodeSeriesReply(JSON.parse(JSON.stringify(wire)))!;
  t.deepEqual([...back.timestamps], [5000, 6000, 7000, 8000]);
  t.deepEqual(
    back.series.map((v) => [...v]),
    [
      [0, 1, 2.5, 1e6],
      [3, 0, 0, 7],
    ],
  );
  t.is(encodeTrainingData(undefined, 10), null);
  t.is(decodeSeriesReply(null), undefined);
});

test('cluster training - a reply holds no more tokens than asked or than fit the budget', (t) => {
  const n = 3600;
  const rows = Array.from({ length: 200 }, () => Array.from({ length: n }, (_v, i) => i % 7));
  t.is(encodeTrainingData(data(0, rows), 5)!.series.length, 5);
  const full = encodeTrainingData(data(0, rows), 200)!;
  const bytes = JSON.stringify(full).length;
  t.true(full.series.length < 200 && full.series.length > 10, `${full.series.length} tokens`);
  t.true(bytes <= REPLY_BUDGET_BYTES + 1000, `${bytes} bytes`);
});

test('cluster training - malformed replies are refused naming the field', (t) => {
  const ok = encodeTrainingData(data(0, [[1, 2, 3]]), 1)!;
  const cases: [unknown, RegExp][] = [
    ['x', /reply must be/],
    [{ ...ok, startMs: 'now' }, /reply\.startMs/],
    [{ ...ok, stepMs: 0 }, /reply\.stepMs/],
    [{ ...ok, n: -1 }, /reply\.n/],
    [{ ...ok, series: 'AAAA' }, /reply\.series must/],
    [{ ...ok, series: [7] }, /reply\.series\[0\]/],
    [{ ...ok, n: 4 }, /reply\.series\[0\] must be 4 Float32 values/],
    [
      { ...ok, series: [Buffer.from(new Float32Array([1, -2, 3]).buffer).toString('base64')] },
      /none negative/,
    ],
    [{ ...ok, series: [Buffer.from(new Float32Array([1, NaN, 3]).buffer).toString('base64')] }, /finite/],
  ];
  for (const [raw, msg] of cases) {
    const err = t.throws(() => decodeSeriesReply(raw));
    t.regex(err!.message, msg);
    t.is((err as { code?: string }).code, 'HEADROOM_ERR_INVALID_FIELD');
  }
});

test('cluster training - parts land on one grid by their start times', (t) => {
  const a = data(10_000, [[1, 1, 1]]); // 10..12 s
  const b = data(11_999, [[2, 2, 2, 2]]); // rounds to 12..15 s
  const m = mergeTrainingData([a, b], 10)!;
  t.deepEqual([...m.timestamps], [10_000, 11_000, 12_000, 13_000, 14_000, 15_000]);
  t.deepEqual(
    m.series.map((v) => [...v]),
    [
      [1, 1, 1, 0, 0, 0],
      [0, 0, 2, 2, 2, 2],
    ],
  );
  t.is(mergeTrainingData([a, b], 1)!.series.length, 1);
  t.is(mergeTrainingData([], 10), undefined);
  // A part on another step is dropped.
  t.is(mergeTrainingData([a, { ...b, stepMs: 5000 }], 10)!.series.length, 1);
});

test('cluster training - each peer gets a share, this node fills the rest, a failing peer is left out', async (t) => {
  const asked: [string, number][] = [];
  const warnings: string[] = [];
  const source = clusterTrainingSource({
    local: () =>
      Promise.resolve(
        data(
          0,
          Array.from({ length: 10 }, () => [5, 5]),
        ),
      ),
    peers: () => ['p1', 'p2', 'bad'],
    fetch: (id, maxTokens) => {
      asked.push([id, maxTokens]);
      if (id === 'bad') return Promise.reject(new Error('request timed out'));
      return Promise.resolve(
        JSON.parse(
          JSON.stringify(
            encodeTrainingData(
              data(0, [
                [1, 1],
                [2, 2],
              ]),
              maxTokens,
            ),
          ),
        ),
      );
    },
    maxTokens: 8,
    log: { warn: (m) => warnings.push(m) },
  });
  const merged = (await source())!;
  t.deepEqual(asked, [
    ['p1', 2],
    ['p2', 2],
    ['bad', 2],
  ]);
  t.is(merged.series.length, 8, 'two from each answering peer, four of this node');
  t.deepEqual(
    merged.series.map((v) => v[0]),
    [1, 2, 1, 2, 5, 5, 5, 5],
  );
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /node bad left out of this run: request timed out/);
});

test('cluster training - any reply decodes or gets a coded error, any maxTokens is checked (fuzz)', async (t) => {
  const broker = new ServiceBroker({ logger: false, transporter: null });
  broker.createService(trainingSeriesService(() => Promise.resolve(data(0, [[1, 2]]))));
  await broker.start();
  try {
    const base = encodeTrainingData(data(0, [[1, 2, 3]]), 1)!;
    const reply = fc.oneof(
      fc.jsonValue(),
      fc.record({
        startMs: fc.oneof(fc.double(), fc.string()),
        stepMs: fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.double()),
        n: fc.oneof(fc.integer({ min: -5, max: 10 }), fc.constant(3)),
        series: fc.oneof(fc.array(fc.oneof(fc.base64String(), fc.integer())), fc.constant(base.series)),
      }),
    );
    fc.assert(
      fc.property(reply, (raw) => {
        try {
          decodeSeriesReply(raw);
          return true;
        } catch (err) {
          return err instanceof InputError && err.code === ErrorCode.InvalidField;
        }
      }),
      { seed: 20261206, numRuns: 2000 },
    );
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (maxTokens) => {
        if (Number.isInteger(maxTokens) && (maxTokens as number) >= 1 && (maxTokens as number) <= 1000)
          return;
        const err = await t.throwsAsync(() => broker.call('training.series', { maxTokens }));
        t.regex(err!.message, /maxTokens must be a whole number from 1 to 1000/);
      }),
      { seed: 20261206, numRuns: 300 },
    );
    t.is(((await broker.call('training.series', { maxTokens: 1 })) as SeriesReply).series.length, 1);
  } finally {
    await broker.stop();
  }
});

test('cluster training - a node reads its live windows for training.series in slices, yielding to checks', async (t) => {
  const rule = compileRule(
    parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }),
  );
  const clock = new SimulatedClock(Date.UTC(2026, 0, 5));
  const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), { clock });
  const users = Array.from({ length: 60 }, (_v, i) => tokenKeyOf(rule, { user: `u${i}` }));
  for (let s = 0; s < 30; s++) {
    clock.advance(1000);
    for (const [i, u] of users.entries()) if ((s + i) % 3 === 0) await host.ask(u, (a) => a.check(1));
  }
  clock.advance(1000);
  const whole = await liveTrainingSource(host, clock, 900, 200, 1e9)();
  let turns = 0;
  let on = true;
  const spin = (): void => {
    turns++;
    if (on) setImmediate(spin);
  };
  setImmediate(spin);
  const sliced = await liveTrainingSource(host, clock, 900, 200, 0.001)();
  on = false;
  // One slice per 8 windows at most: the loop turned between them.
  t.true(turns >= 60 / 8 - 1, `${turns} turns`);
  t.is(sliced!.series.length, 60);
  t.deepEqual(sliced, whole);
});
