import test from 'ava';
import {
  ErrorCode,
  EventSignals,
  HolidayCalendar,
  SimulatedClock,
  type RuleDecision,
  type TokenKey,
} from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import { createDuckDbStore, type Batcher, type BucketRow } from '../../store/index.ts';
import { Collector, MapProfileProvider, parseProfiles } from '../../collection/index.ts';
import type { TakeItem } from '../../services/index.ts';

const T0 = Date.UTC(2026, 11, 25, 12, 0, 0);

class FakeBatcher {
  rows: Array<[string, Record<string, unknown>]> = [];
  refuse = false;
  get refusal(): ErrorCode | undefined {
    return this.refuse ? ErrorCode.SpoolFull : undefined;
  }
  tryAdd(kind: string, row: Record<string, unknown>): boolean {
    if (this.refuse) return false;
    this.rows.push([kind, structuredClone(row)]);
    return true;
  }
  of(kind: string): Array<Record<string, unknown>> {
    return this.rows.filter(([k]) => k === kind).map(([, r]) => r);
  }
}

function setup(opts: { maxQueue?: number; source?: string } = {}) {
  const clock = new SimulatedClock(T0);
  const batcher = new FakeBatcher();
  const warnings: string[] = [];
  const losses: [string, number][] = [];
  const pipeline = new PrivacyPipeline({
    keys: [{ id: 'k1', secret: 'collector-test-secret-0123' }],
    params: { op: 'keep' },
    profile: { tier: 'keep' },
    quasiIdentifiers: ['tier'],
    k: 1,
    ipRegions: [{ prefix: '203.0.113.0/24', region: 'ap-south' }],
  });
  const signals = new EventSignals(60_000);
  const collector = new Collector(
    {
      pipeline,
      batcher: batcher as unknown as Batcher,
      clock,
      logger: { warn: (m: unknown) => warnings.push(String(m)) },
      holidays: new HolidayCalendar(['2026-12-25']),
      profiles: new MapProfileProvider(parseProfiles('user,tier\nalice@example.com,gold\n')),
      signals,
      onLoss: (kind, rows) => losses.push([kind, rows]),
    },
    { graceMs: 1000, tickMs: 100, ...opts },
  );
  return { clock, batcher, warnings, losses, pipeline, signals, collector };
}

function item(user: string, atMs: number, extra: Record<string, string> = {}): TakeItem {
  return {
    token: `per-user|user=${user}` as TokenKey,
    rule: { id: 'per-user', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' },
    cost: 1,
    params: { user, op: 'read', ...extra },
    atMs,
  };
}

const decision = (allow: boolean): RuleDecision => ({
  token: 'ignored',
  ruleId: 'per-user',
  mode: 'enforce',
  allow,
  limit: 10,
  remaining: 0,
  retryAfterMs: 0,
});

test('collector - the check path only queues; the tick anonymises, adds features and writes when due', (t) => {
  const { clock, batcher, collector, pipeline, signals } = setup();
  signals.add({ topic: 'xmas', timeMs: T0 - 60_000, value: 10, tokens: [] });
  collector.decided(item('alice@example.com', T0 + 10, { ip: '203.0.113.9' }), decision(true), T0 + 10);
  collector.decided(item('alice@example.com', T0 + 20, { region: 'eu-west' }), decision(true), T0 + 20);
  collector.refunded(item('alice@example.com', T0 + 20), T0 + 21);
  t.is(collector.stats().queued, 3);
  t.deepEqual(batcher.rows, []);
  clock.advance(100); // one tick: processed, held until the second closes + grace
  t.is(collector.stats().queued, 0);
  t.is(collector.stats().held, 2);
  t.deepEqual(batcher.rows, []);
  clock.advance(2000);
  const records = batcher.of('records');
  const token = pipeline.hash('per-user|user=alice@example.com', T0);
  t.like(records[0], {
    token,
    op: 'read',
    params: { op: 'read' },
    allow: true,
    ruleId: 'per-user',
    holiday: true,
    dayOfYear: 359,
    profile: { tier: 'gold' },
    region: 'ap-south',
    events: { xmas: 5 },
  });
  t.like(records[1], { allow: false, region: 'eu-west' });
  const [second, ...more] = batcher.of('buckets');
  t.deepEqual(more, []);
  const { source, ...counts } = second!;
  t.regex(String(source), /^local\/[0-9a-f]{12}$/); // no node id given: "local", then the start's id
  t.deepEqual(counts, { token, resolution: '1s', startMs: T0, requests: 2, allowed: 1, denied: 1, cost: 2 });
  t.like(collector.stats(), { decided: 2, refunds: 1, records: 2, buckets: 1 });
  // No raw user id, e-mail or IP anywhere in what was written.
  const text = JSON.stringify(batcher.rows);
  for (const raw of ['alice', 'example.com', '203.0.113.9']) t.false(text.includes(raw), raw);
  collector.close();
  t.like(batcher.of('buckets')[1], { resolution: '1m', startMs: T0, requests: 2 });
});

test('collector - a full spool is counted and logged (once per 10 s), never thrown', (t) => {
  const { clock, batcher, collector, warnings, losses } = setup();
  batcher.refuse = true;
  for (let i = 0; i < 5; i++) collector.decided(item(`u${i}`, T0 + i), decision(true), T0 + i);
  t.notThrows(() => clock.advance(3000));
  t.is(collector.stats().refused, 10); // 5 records + 5 one-second buckets
  t.deepEqual(losses, [['spool', 10]], 'the rows refused in one batch are counted lost in one notice');
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /refused records rows: HEADROOM_ERR_SPOOL_FULL \(10 rows refused in this batch\)/);
  t.false(warnings[0]!.includes('u1'));
  clock.advance(11_000);
  collector.decided(item('u9', clock.now()), decision(true), clock.now());
  clock.advance(3000);
  t.is(warnings.length, 2);
});

test('collector - a full queue drops and counts, the check path goes on', (t) => {
  const { collector, warnings } = setup({ maxQueue: 2 });
  for (let i = 0; i < 5; i++) t.notThrows(() => collector.decided(item('u', T0), decision(true), T0));
  t.like(collector.stats(), { queued: 2, droppedQueueFull: 3 });
  t.regex(warnings[0]!, /queue full/);
  collector.close();
  t.notThrows(() => collector.decided(item('u', T0), decision(true), T0));
});

test('collector - a refund with no matching decision is counted as unmatched', (t) => {
  const { collector } = setup();
  collector.refunded(item('nobody', T0), T0);
  collector.process(T0);
  t.like(collector.stats(), { refunds: 1, unmatchedRefunds: 1 });
});

test('collector - an owner change mid-bucket: each owner writes its part under its source, the store sums them', async (t) => {
  // node-a owned the token, then left (close writes its open buckets); node-b took over in the same second.
  const a = setup({ source: 'node-a' });
  const b = setup({ source: 'node-b' });
  for (let i = 0; i < 3; i++) a.collector.decided(item('bob', T0 + 100 + i), decision(true), T0 + 100 + i);
  a.collector.close();
  for (let i = 0; i < 2; i++) b.collector.decided(item('bob', T0 + 500 + i), decision(i === 0), T0 + 500 + i);
  b.collector.close();
  const rowsA = a.batcher.of('buckets') as unknown as BucketRow[];
  const rowsB = b.batcher.of('buckets') as unknown as BucketRow[];
  t.true(rowsA.every((r) => r.source!.startsWith('node-a/')));
  t.true(rowsB.every((r) => r.source!.startsWith('node-b/')));
  // A restart of the same node is a source of its own: its part does not replace the earlier one.
  const again = setup({ source: 'node-a' });
  again.collector.decided(item('bob', T0 + 900), decision(true), T0 + 900);
  again.collector.close();
  const restarted = again.batcher.of('buckets')[0]!['source'] as string;
  t.true(restarted.startsWith('node-a/'));
  t.not(restarted, rowsA[0]!.source);
  const store = createDuckDbStore({ path: ':memory:' });
  await store.init();
  try {
    await store.insertBuckets(rowsA);
    await store.insertBuckets(rowsB);
    await store.insertBuckets(rowsA); // a replay from the spool
    const token = rowsA[0]!.token;
    for (const stepMs of [1000, 60_000]) {
      const [sum] = await store.tokenBuckets(token, T0, T0 + 1, stepMs);
      t.like(sum, { requests: 5, allowed: 4, denied: 1, cost: 5 }, `step ${stepMs}`);
    }
  } finally {
    await store.close();
  }
});

test('collector - anonymisation is memoised per second by token and the values it reads, types kept apart', (t) => {
  const { clock, batcher, collector, pipeline } = setup();
  const at = T0 + 100;
  const take = (extra: Record<string, string | number>, atMs = at): void =>
    collector.decided(
      { ...item('bob@example.com', atMs), params: { user: 'bob@example.com', op: 'read', ...extra } },
      decision(true),
      atMs,
    );
  take({});
  take({ page: 'a' }); // a parameter with no policy cannot change the result: a hit
  take({ page: 'b' });
  collector.process(at);
  t.is(pipeline.stats().observed, 1);
  take({ op: 'write' }); // a policy parameter: a miss
  take({ op: 7 }); // the same text as another value's would not matter: numbers and strings differ
  take({ op: '7' });
  take({ ip: '203.0.113.9' }); // the region comes from the ip: a miss
  collector.process(at);
  t.is(pipeline.stats().observed, 5);
  take({}, T0 + 1100); // a new second: anonymised again
  collector.process(T0 + 1100);
  t.is(pipeline.stats().observed, 6);
  clock.advance(5000);
  collector.close();
  const records = batcher.of('records');
  t.is(records.length, 8);
  t.deepEqual(
    records.map((r) => [(r['params'] as Record<string, string>)['op'], r['region'] ?? null]),
    [
      ['read', null],
      ['read', null],
      ['read', null],
      ['write', null],
      ['7', null],
      ['7', null],
      ['read', 'ap-south'],
      ['read', null],
    ],
  );
});
