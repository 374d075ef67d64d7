import test from 'ava';
import {
  EventSignals,
  HolidayCalendar,
  SimulatedClock,
  type RuleDecision,
  type TokenKey,
} from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { Batcher } from '../../store/index.ts';
import {
  DecisionBatchBuilder,
  forEachDecision,
  transferOf,
  Queued,
  type ObservedItem,
  Collector,
  MapProfileProvider,
  parseProfiles,
} from '../../collection/index.ts';
import type { TakeItem } from '../../services/index.ts';

const T0 = Date.UTC(2026, 11, 25, 12, 0, 0);

const item = (i: number, params: Record<string, string> | undefined, atMs?: number): TakeItem => ({
  token: `per-user|user=u${i % 7}` as TokenKey,
  rule: { id: 'per-user', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' },
  cost: 1 + (i % 3),
  ...(params === undefined ? {} : { params }),
  ...(atMs === undefined ? {} : { atMs }),
});

test('decision batch - what crosses is the token, numbers and only the parameters anonymisation reads', (t) => {
  const names = ['op', 'user', 'ip'];
  const b = new DecisionBatchBuilder(names, 2); // grows past its first capacity
  b.add(
    item(0, { user: 'a@x.example', op: 'read', secret: 'not-read' }, T0 + 5),
    Queued.Allowed,
    'r1',
    T0 + 9,
  );
  b.add(item(1, undefined), Queued.Denied, 'r2', T0 + 10);
  b.add(item(2, { ip: '203.0.113.9' }, T0 + 11), Queued.Refund, '', T0 + 12);
  b.add(item(3, { user: 'b', op: 'write' }, T0 + 13), Queued.Allowed, 'r1', T0 + 13);
  b.add(item(4, { op: 'read' }), Queued.Allowed, 'r1', T0 + 20);
  t.is(b.length, 5);
  const batch = structuredClone(b.take(), { transfer: [] });
  t.is(b.length, 0, 'a fresh batch begins');
  t.is(transferOf(batch).length, 4);
  const seen: Array<[ObservedItem, number, string, number]> = [];
  forEachDecision(batch, names, (it, what, rule, at) => seen.push([it, what, rule, at]));
  t.deepEqual(seen, [
    [
      { token: 'per-user|user=u0', cost: 1, params: { op: 'read', user: 'a@x.example' }, atMs: T0 + 5 },
      1,
      'r1',
      T0 + 5,
    ],
    [{ token: 'per-user|user=u1', cost: 2, params: {}, atMs: T0 + 10 }, 2, 'r2', T0 + 10],
    [{ token: 'per-user|user=u2', cost: 3, params: { ip: '203.0.113.9' }, atMs: T0 + 11 }, 0, '', T0 + 11],
    [
      { token: 'per-user|user=u3', cost: 1, params: { op: 'write', user: 'b' }, atMs: T0 + 13 },
      1,
      'r1',
      T0 + 13,
    ],
    [{ token: 'per-user|user=u4', cost: 2, params: { op: 'read' }, atMs: T0 + 20 }, 1, 'r1', T0 + 20],
  ] as unknown as typeof seen);
});

test('decision batch - a batch taken keeps its entries while the builder writes the next ones', (t) => {
  const names = ['user'];
  const b = new DecisionBatchBuilder(names, 2);
  for (let i = 0; i < 5; i++) b.add(item(i, { user: `u${i}` }, T0 + i), Queued.Allowed, 'r1', T0 + i);
  const first = b.take();
  // The builder writes over its own arrays from here on; what it handed out is cut copies.
  b.add(item(9, { user: 'u9' }, T0 + 99), Queued.Denied, 'r2', T0 + 99);
  const second = b.take();
  t.deepEqual(
    [...first.atMs],
    [0, 1, 2, 3, 4].map((i) => T0 + i),
  );
  t.deepEqual([...first.what], [1, 1, 1, 1, 1]);
  t.deepEqual([...first.cost], [1, 2, 3, 1, 2]);
  t.deepEqual([...second.atMs], [T0 + 99]);
  t.deepEqual([...second.what], [2]);
  t.deepEqual(second.token, ['per-user|user=u2']);
  t.false(new Set(transferOf(first)).has(transferOf(second)[0]!), 'each batch moves buffers of its own');
});

/** A collector that keeps the rows it writes, without the per-start parts (record ids, bucket source). */
function collector(): { c: Collector; rows: () => unknown[] } {
  const rows: Array<[string, Record<string, unknown>]> = [];
  const batcher = {
    tryAdd: (kind: string, row: Record<string, unknown>) => rows.push([kind, structuredClone(row)]) > 0,
  };
  const c = new Collector(
    {
      pipeline: new PrivacyPipeline({
        keys: [{ id: 'k1', secret: 'collector-batch-secret-0123' }],
        params: { op: 'keep' },
        profile: { tier: 'keep' },
        quasiIdentifiers: ['tier'],
        k: 1,
        ipRegions: [{ prefix: '203.0.113.0/24', region: 'ap-south' }],
      }),
      batcher: batcher as unknown as Batcher,
      clock: new SimulatedClock(T0),
      logger: { warn: () => undefined },
      holidays: new HolidayCalendar(['2026-12-25']),
      profiles: new MapProfileProvider(parseProfiles('user,tier\nu1@x.example,gold\n')),
      signals: new EventSignals(60_000),
    },
    { graceMs: 1000, recordsPerTokenSecond: 0 }, // every record: ~48 decisions per token and second here
  );
  return {
    c,
    rows: () =>
      rows.map(([kind, r]) => {
        const { id: _id, source: _source, ...rest } = r;
        return [kind, rest];
      }),
  };
}

test('decision batch - a collector fed through batches writes what it writes when it observes the decisions itself', (t) => {
  const direct = collector();
  const viaBatch = collector();
  const builder = new DecisionBatchBuilder(viaBatch.c.reads);
  const decision = (allow: boolean): RuleDecision => ({
    token: '',
    ruleId: 'per-user',
    mode: 'enforce',
    allow,
    limit: 10,
    remaining: 0,
    retryAfterMs: 0,
  });
  const send = (): void => {
    const batch = structuredClone(builder.take());
    forEachDecision(batch, viaBatch.c.reads, (it, what, rule, at) => viaBatch.c.enqueue(it, what, rule, at));
  };
  for (let i = 0; i < 3000; i++) {
    const user = `u${i % 13}@x.example`;
    const it = item(
      i,
      { user, op: i % 2 === 0 ? 'read' : 'write', ip: `203.0.113.${i % 5}`, other: 'x' },
      T0 + i * 3,
    );
    const now = T0 + i * 3 + 1;
    if (i % 17 === 5) {
      direct.c.refunded(it, now);
      builder.add(it, Queued.Refund, '', now);
    } else {
      direct.c.decided(it, decision(i % 11 !== 0), now);
      builder.add(it, i % 11 !== 0 ? Queued.Allowed : Queued.Denied, 'per-user', now);
    }
    if (i % 250 === 249) {
      send();
      direct.c.process(now);
      viaBatch.c.process(now);
    }
  }
  send();
  direct.c.close();
  viaBatch.c.close();
  const a = direct.rows();
  const kinds = (rows: unknown[]): Record<string, number> => {
    const n: Record<string, number> = {};
    for (const [kind] of rows as [string][]) n[kind] = (n[kind] ?? 0) + 1;
    return n;
  };
  // 3000 decisions less 177 refunds; 7 tokens over 9 seconds; a link per token is written only on a key rotation.
  t.like(kinds(a), { records: 2823 });
  t.true(kinds(a)['buckets']! >= 7 * 9, 'a bucket per token and second');
  t.deepEqual(viaBatch.rows(), a);
});
