// The collector on the collection worker thread, fed through a CollectorPort
// as a node feeds it: decisions cross in batches and are stored; what waits
// here or is on its way counts against the queue bound (drops are counted,
// never raised); closing writes the rest; a gone worker's decisions count as lost.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SystemClock, type RuleDecision, type TokenKey } from '../../lib/index.ts';
import type { CollectionWorkerData, CollectorConfig } from '../../services/collection/index.ts';
import { CollectorPort, openCollectionWorker } from '../../services/collection/index.ts';
import type { TakeItem } from '../../services/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

const decision: RuleDecision = {
  token: '',
  ruleId: 'per-user',
  mode: 'enforce',
  allow: true,
  limit: 10,
  remaining: 1,
  retryAfterMs: 0,
};
const item = (i: number): TakeItem => ({
  token: `per-user|user=u${i}@x.example` as TokenKey,
  rule: { id: 'per-user', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' },
  cost: 1,
  params: { user: `u${i}@x.example`, op: 'read', ip: '203.0.113.7' },
  atMs: T0 + i,
});

test('collector port - decisions reach the worker in batches; the queue bound counts what is on its way', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-port-'));
  const data: CollectionWorkerData = {
    spoolDir: join(dir, 'spool'),
    spoolMaxBytes: 1 << 20,
    initOnUse: false,
  };
  const store = openCollectionWorker({ adapter: 'duckdb', options: { path: ':memory:' } }, data);
  const warnings: string[] = [];
  try {
    await store.init();
    const config: CollectorConfig = {
      privacy: { keys: [{ id: 'k1', secret: 'collector-port-secret-0123' }], params: { op: 'keep' } },
      holidaysText: null,
      profiles: null,
      profileParam: 'user',
      eventHalfLifeMs: 60_000,
      source: 'port-test',
      graceMs: 0,
    };
    const port = await CollectorPort.open(
      {
        worker: store,
        id: 'n1',
        clock: new SystemClock(),
        logger: { warn: (m: unknown) => warnings.push(String(m)) },
      },
      config,
      { tickMs: 3_600_000, maxQueue: 10 }, // moved by hand below
    );
    for (let i = 0; i < 15; i++) port.decided(item(i), decision, T0 + i);
    port.flush(); // 10 on their way, 5 dropped
    for (let i = 15; i < 18; i++) port.decided(item(i), decision, T0 + i); // dropped: 10 still on their way
    const s = await port.stats(); // answered after the worker's `done` for the batch
    t.like(s.collector, { decided: 10, droppedQueueFull: 8, queued: 0, errors: 0 });
    t.is(warnings.length, 1, 'one warning, not one per drop');
    t.regex(warnings[0]!, /collection queue full \(10\)/);
    for (let i = 18; i < 20; i++) port.decided(item(i), decision, T0 + i);
    await port.close();
    await port.close(); // idempotent
    const records = await store.records(T0, T0 + 60_000);
    t.is(records.length, 12);
    t.deepEqual(
      records.map((r) => r.timeMs).sort((a, b) => a - b),
      [...[...Array(10).keys()], 18, 19].map((i) => T0 + i),
    );
    const raw = JSON.stringify(records);
    t.false(raw.includes('@x.example'), 'no raw user id crossed into the store');
    t.false(raw.includes('203.0.113.7'), 'no raw IP crossed into the store');

    // Decisions for a worker that is gone are counted as lost, not dropped silently.
    const lost: number[] = [];
    const orphan = await CollectorPort.open(
      {
        worker: store,
        id: 'n2',
        clock: new SystemClock(),
        logger: { warn: (m: unknown) => warnings.push(String(m)) },
        onLoss: (_kind, rows) => lost.push(rows),
      },
      config,
      { tickMs: 3_600_000 },
    );
    await store.close();
    for (let i = 0; i < 3; i++) orphan.decided(item(i), decision, T0 + i);
    orphan.flush();
    t.deepEqual(lost, [3]);
    t.regex(warnings.at(-1)!, /the collection worker is gone: decisions dropped \(3 so far\)/);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('collector port - stats answer within statsWaitMs from the counters the worker last sent while it is busy', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-port-'));
  const data: CollectionWorkerData = {
    spoolDir: join(dir, 'spool'),
    spoolMaxBytes: 1 << 26,
    initOnUse: false,
  };
  const store = openCollectionWorker({ adapter: 'duckdb', options: { path: ':memory:' } }, data);
  try {
    await store.init();
    const port = await CollectorPort.open(
      { worker: store, id: 'n1', clock: new SystemClock(), logger: { warn: () => undefined } },
      {
        privacy: { keys: [{ id: 'k1', secret: 'collector-port-secret-0123' }], params: { op: 'keep' } },
        holidaysText: null,
        profiles: null,
        profileParam: 'user',
        eventHalfLifeMs: 60_000,
        source: 'port-test',
        graceMs: 0,
      },
      { tickMs: 3_600_000, statsWaitMs: 30 },
    );
    port.decided(item(0), decision, T0);
    // Answered by the worker (nothing sent yet to fall back on); its `done` notice came first, with counters.
    t.like((await port.stats()).collector, { decided: 1 });
    const n = 40_000; // distinct users: an HMAC and a record each, far more than 30 ms of work
    for (let i = 1; i <= n; i++) port.decided(item(i), decision, T0 + i);
    port.flush();
    const started = performance.now();
    const busy = await port.stats();
    const tookMs = performance.now() - started;
    t.true(tookMs < 500, `answered in ${tookMs.toFixed(0)} ms`);
    t.like(busy.collector, { decided: 1 }, 'the counters the worker last sent');
    t.is(busy.collector.queued, n, 'what is on its way to the worker counts as queued');
    const fresh = await store.call<{ collector: { decided: number } }>('collectorStats', 'n1');
    t.is(fresh.collector.decided, n + 1, 'the worker itself answers once it is free');
    await port.close();
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
