import test from 'ava';
import fc from 'fast-check';
import {
  CollectionWindow,
  ErrorCode,
  InputError,
  RefundOutcome,
  SimulatedClock,
  calendarFeatures,
  mulberry32,
  type RuleDecision,
  type TokenKey,
} from '../../lib/index.ts';
import type { CollectedBucket, CollectedRecord } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { Batcher } from '../../store/index.ts';
import { Collector, compileCollectorOptions, defaultCollectorOptions } from '../../collection/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

/** Holds one decision of `token` (anonymised as `h(token)`). */
function add(w: CollectionWindow, token: string, atMs: number, allow = true, cost = 1): void {
  w.add(
    token,
    { atMs, allow, ruleId: 'per-user', cost },
    {
      parts: { token: `h(${token})`, params: {}, profile: {} },
      calendar: calendarFeatures(atMs),
      events: {},
    },
  );
}

const perToken = (records: CollectedRecord[]): Record<string, number> => {
  const n: Record<string, number> = {};
  for (const r of records) n[r.token] = (n[r.token] ?? 0) + 1;
  return n;
};

test('collect sample - a busy token keeps exactly the cap, a quiet one every record, and buckets count all', (t) => {
  const w = new CollectionWindow(1000, '', { recordsPerTokenSecond: 5, random: mulberry32(7) });
  for (let i = 0; i < 12; i++) add(w, 'a', T0 + i * 10, i % 4 !== 0);
  for (let i = 0; i < 3; i++) add(w, 'b', T0 + i * 10);
  // The next second starts a fresh sample for a.
  for (let i = 0; i < 7; i++) add(w, 'a', T0 + 1000 + i);
  t.is(w.heldRecords, 22, 'every decision is held, for refunds');
  const first = w.due(T0 + 2000);
  t.deepEqual(perToken(first.records), { 'h(a)': 5, 'h(b)': 3 });
  t.deepEqual(
    first.buckets.map((b) => [b.token, b.requests, b.allowed, b.denied]),
    [
      ['h(a)', 12, 9, 3],
      ['h(b)', 3, 3, 0],
    ],
  );
  t.is(w.sampledOut, 7);
  // Kept records come in the order they were added.
  const times = first.records.filter((r) => r.token === 'h(a)').map((r) => r.timeMs);
  t.deepEqual(
    times,
    [...times].sort((x, y) => x - y),
  );
  const rest = w.all();
  t.deepEqual(perToken(rest.records), { 'h(a)': 5 });
  t.is(w.sampledOut, 9);
  t.is(w.heldRecords, 0);
});

test('collect sample - without a cap (0, the default) every decision is a record', (t) => {
  for (const w of [
    new CollectionWindow(1000),
    new CollectionWindow(1000, '', { recordsPerTokenSecond: 0 }),
  ]) {
    for (let i = 0; i < 300; i++) add(w, 'a', T0 + i);
    t.is(w.all().records.length, 300);
    t.is(w.sampledOut, 0);
  }
});

test('collect sample - every place in the second is kept equally often (chi-square)', (t) => {
  // 4000 seconds of one token with 40 decisions each, 8 kept: each place is
  // expected 800 times. The counts are less spread than a multinomial's (the
  // draws are without replacement), so the chi-square with 39 degrees of
  // freedom at p = 0.001 (72.05) is a conservative bound. Seeded: the same
  // figure every run.
  const [seconds, n, cap] = [4000, 40, 8];
  const w = new CollectionWindow(0, '', { recordsPerTokenSecond: cap, random: mulberry32(20261206) });
  const counts = new Array<number>(n).fill(0);
  for (let s = 0; s < seconds; s++) {
    for (let p = 0; p < n; p++) add(w, 'a', T0 + s * 1000 + p * 20);
    const { records } = w.due(T0 + (s + 1) * 1000);
    t.is(records.length, cap);
    for (const r of records) counts[((r.timeMs - T0) % 1000) / 20]!++;
  }
  const expected = (seconds * cap) / n;
  const chi2 = counts.reduce((sum, o) => sum + (o - expected) ** 2 / expected, 0);
  t.true(chi2 < 72.05, `chi-square ${chi2.toFixed(1)} over the places ${counts.join(' ')}`);
  // A sample biased to the start of the second (the first 8) scores 128,000 here.
  t.true(chi2 > 5, `a chi-square of ${chi2.toFixed(1)} is too good for random draws`);
});

test('collect sample - refunds of kept and left-out decisions move the counts as without a cap', (t) => {
  // random() = 0.99 never replaces: decisions 1 and 2 (of 5) are kept.
  const w = new CollectionWindow(1000, '', { recordsPerTokenSecond: 2, random: () => 0.99 });
  for (let i = 1; i <= 5; i++) add(w, 'a', T0 + i * 10);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Applied, 'a kept decision');
  t.is(w.refund('a', T0 + 40, 1), RefundOutcome.Applied, 'a decision left out');
  t.is(w.refund('a', T0 + 40, 1), RefundOutcome.Unmatched, 'each once');
  const out = w.due(T0 + 2000);
  t.deepEqual(
    out.records.map((r) => [r.timeMs - T0, r.allow]),
    [
      [10, false],
      [20, true],
    ],
  );
  t.deepEqual(
    out.buckets.map((b) => [b.resolution, b.requests, b.allowed, b.denied]),
    [['1s', 5, 3, 2]],
  );
  // Late, for a decision left out: the open minute is still corrected.
  t.is(w.refund('a', T0 + 50, 1), RefundOutcome.Late);
  t.deepEqual(
    w.all().buckets.map((b) => [b.resolution, b.requests, b.allowed, b.denied]),
    [['1m', 5, 2, 3]],
  );
});

test('collect sample - random() = 0 replaces the first kept slot each time', (t) => {
  const w = new CollectionWindow(1000, 'x', { recordsPerTokenSecond: 2, random: () => 0 });
  for (let i = 1; i <= 5; i++) add(w, 'a', T0 + i * 10);
  // Slot 0 held decisions 1, 3, 4, then 5; slot 1 kept 2. Ids keep each decision's number.
  t.deepEqual(
    w.all().records.map((r) => [r.id, r.timeMs - T0]),
    [
      ['x1', 20],
      ['x4', 50],
    ],
  );
});

type Op =
  | { op: 'add'; token: string; dt: number; allow: boolean; cost: number }
  | { op: 'refund'; token: string; dt: number; cost: number }
  | { op: 'due'; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      token: fc.constantFrom('a', 'b', 'c'),
      dt: fc.integer({ min: 0, max: 3999 }),
      allow: fc.boolean(),
      cost: fc.integer({ min: 1, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('refund' as const),
      token: fc.constantFrom('a', 'b', 'c'),
      dt: fc.integer({ min: 0, max: 3999 }),
      cost: fc.integer({ min: 1, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('due' as const), dt: fc.integer({ min: 0, max: 8000 }) }),
  },
);

/** Runs `ops` on `w`: every record and bucket it wrote (with all() last) and each refund's outcome. */
function run(
  w: CollectionWindow,
  ops: Op[],
): { records: CollectedRecord[]; buckets: CollectedBucket[]; outcomes: RefundOutcome[] } {
  const out = {
    records: [] as CollectedRecord[],
    buckets: [] as CollectedBucket[],
    outcomes: [] as RefundOutcome[],
  };
  const take = (b: { records: CollectedRecord[]; buckets: CollectedBucket[] }): void => {
    out.records.push(...b.records);
    out.buckets.push(...b.buckets);
  };
  for (const o of ops) {
    // Times ordered by op only loosely, as gateways' clocks are: some decisions land in written seconds.
    if (o.op === 'add') add(w, o.token, T0 + o.dt, o.allow, o.cost);
    else if (o.op === 'refund') out.outcomes.push(w.refund(o.token, T0 + o.dt, o.cost));
    else take(w.due(T0 + o.dt));
  }
  take(w.all());
  return out;
}

test('collect sample - property: a cap changes only which records are written, never the counts or refunds', (t) => {
  fc.assert(
    fc.property(
      fc.array(opArb, { minLength: 1, maxLength: 300, size: 'max' }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer(),
      (ops, cap, seed) => {
        const all = run(new CollectionWindow(1000, 'p'), ops);
        const capped = new CollectionWindow(1000, 'p', {
          recordsPerTokenSecond: cap,
          random: mulberry32(seed),
        });
        const some = run(capped, ops);
        t.deepEqual(some.outcomes, all.outcomes);
        t.deepEqual(some.buckets, all.buckets);
        // Each token's second: min(requests, cap) records, each as written without a cap (refunds included).
        const expected = some.buckets
          .filter((b) => b.resolution === '1s')
          .reduce((n, b) => n + Math.min(b.requests, cap), 0);
        t.is(some.records.length, expected);
        const byId = new Map(all.records.map((r) => [r.id, r]));
        for (const r of some.records) t.deepEqual(r, byId.get(r.id));
        t.is(capped.sampledOut, all.records.length - some.records.length);
        t.is(capped.heldRecords, 0);
      },
    ),
    { numRuns: 200, seed: 20261206 },
  );
});

// -- the collector's option and stat ------------------------------------------

test('collect sample - the collector option: default 20, 0 allowed, a bad value is an error naming it', (t) => {
  t.is(defaultCollectorOptions().recordsPerTokenSecond, 20);
  t.is(compileCollectorOptions({ recordsPerTokenSecond: 0 }).recordsPerTokenSecond, 0);
  for (const bad of [-1, 2.5, '20', Number.NaN]) {
    const err = t.throws(() => compileCollectorOptions({ recordsPerTokenSecond: bad as number }), {
      instanceOf: InputError,
      message: /recordsPerTokenSecond must be an integer from 0 to 1000000, got/,
    });
    t.is(err?.code, ErrorCode.InvalidOptions);
    t.is(err?.field, 'collector.recordsPerTokenSecond');
  }
});

test('collect sample - the collector writes the sample, counts every decision and the records left out', (t) => {
  const rows: Array<[string, Record<string, unknown>]> = [];
  const batcher = { tryAdd: (kind: string, row: Record<string, unknown>) => rows.push([kind, row]) > 0 };
  const clock = new SimulatedClock(T0);
  const collector = new Collector(
    {
      pipeline: new PrivacyPipeline({ keys: [{ id: 'k1', secret: 'collect-sample-secret-0123' }], k: 1 }),
      batcher: batcher as unknown as Batcher,
      clock,
      logger: { warn: () => undefined },
      random: mulberry32(1),
    },
    { graceMs: 1000, tickMs: 100, recordsPerTokenSecond: 3 },
  );
  const decision = (allow: boolean): RuleDecision => ({
    token: '',
    ruleId: 'per-user',
    mode: 'enforce',
    allow,
    limit: 10,
    remaining: 0,
    retryAfterMs: 0,
  });
  const take = (user: string, atMs: number, allow = true): void =>
    collector.decided(
      {
        token: `per-user|user=${user}` as TokenKey,
        cost: 1,
        params: { user },
        atMs,
      },
      decision(allow),
      atMs,
    );
  for (let i = 0; i < 10; i++) take('alice', T0 + i * 50, i < 8);
  take('bob', T0 + 5);
  take('bob', T0 + 6);
  clock.advance(2500);
  collector.close();
  const records = rows.filter(([k]) => k === 'records');
  const buckets = rows.filter(([k, b]) => k === 'buckets' && b['resolution'] === '1s').map(([, b]) => b);
  t.is(records.length, 5);
  t.deepEqual(
    buckets.map((b) => [b['requests'], b['allowed'], b['denied']]),
    [
      [10, 8, 2],
      [2, 2, 0],
    ],
  );
  t.like(collector.stats(), { decided: 12, records: 5, recordsSampledOut: 7, held: 0 });
});
