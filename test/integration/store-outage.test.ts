// ClickHouse outage: records stream through the Batcher into a real
// ClickHouse; the server is stopped for at least 10 s mid-stream and started
// again; every record arrives exactly once.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Batcher,
  createClickHouseStore,
  type RequestRecord,
  type TimeSeriesStore,
} from '../../store/index.ts';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const OUTAGE_MS = 10_500;
const PER_PHASE = 400;

let server: ClickHouseServer | undefined;
let store: TimeSeriesStore | undefined;
const spoolDir = mkdtempSync(join(tmpdir(), 'headroom-outage-'));

test.after.always(async () => {
  await store?.close();
  await server?.dispose();
  rmSync(spoolDir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rec(i: number): RequestRecord {
  return {
    id: `o${i}`,
    timeMs: T0 + i * 10,
    token: `tok${i % 13}`,
    params: { op: i % 2 === 0 ? 'read' : 'write' },
    allow: i % 5 !== 0,
    ruleId: 'rule-1',
    cost: 1,
    secondOfMinute: 0,
    minuteOfHour: 0,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: { tier: 'gold' },
    events: {},
  };
}

test('store outage - every record arrives exactly once across a 10 s ClickHouse outage', async (t) => {
  server = await startClickHouseServer();
  store = createClickHouseStore({ url: server.url, database: 'outage', requestTimeoutMs: 2000 });
  await store.init();
  const batcher = new Batcher(store, {
    maxRows: 50,
    maxDelayMs: 100,
    spoolDir,
    retryBaseMs: 200,
    retryMaxMs: 1000,
  });
  let next = 0;
  // Streams `n` records over about `ms`, in small bursts.
  const stream = async (n: number, ms: number): Promise<void> => {
    const bursts = 20;
    for (let b = 0; b < bursts; b++) {
      for (let i = 0; i < n / bursts; i++) batcher.add('records', rec(next++));
      await sleep(ms / bursts);
    }
  };

  await stream(PER_PHASE, 1000);
  const stoppedAt = Date.now();
  await server.stop('SIGKILL'); // a crash, not a clean shutdown
  await stream(PER_PHASE, OUTAGE_MS - 500);
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
  const during = batcher.stats();
  t.true(during.failures > 0, 'inserts failed while the server was down');
  t.true(during.spooled > 0, 'batches went to the spool');
  t.log(`outage ${Date.now() - stoppedAt} ms; during it: ${JSON.stringify(during)}`);
  await server.restart();
  await stream(PER_PHASE, 1000);
  await batcher.drain();
  await batcher.close();

  const total = 3 * PER_PHASE;
  const ids = (await store.records(0, T0 * 2)).map((r) => r.id);
  t.is(ids.length, total);
  t.deepEqual(new Set(ids), new Set(Array.from({ length: total }, (_, i) => `o${i}`)));
  // The physical rows, before any merge: a batch may land twice only if the
  // server took it but the answer was lost; reads deduplicate either way.
  const res = await fetch(
    `${server.url}/?query=${encodeURIComponent('SELECT count(), uniqExact(id) FROM outage.records FORMAT TSV')}`,
  );
  const [rows, unique] = (await res.text()).trim().split('\t').map(Number);
  t.is(unique, total);
  t.log(`physical rows ${rows}, unique ids ${unique}; stats ${JSON.stringify(batcher.stats())}`);
  const s = batcher.stats();
  t.is(s.accepted, total);
  t.is(s.inserted + s.replayed, total);
  t.true(s.replayed > 0);
  t.is(s.spoolBytes, 0);
});
