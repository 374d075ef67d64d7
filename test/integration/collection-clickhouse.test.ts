// A node with a ClickHouse store: it starts while ClickHouse is down (the
// check path does not notice; batches spool), and once the server is up the
// records and buckets arrive, equal to what was sent and free of raw values.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import { createClickHouseStore } from '../../store/index.ts';
import { startClickHouseServer } from '../helpers/clickhouse-server.ts';
import { startNodeProcess, waitUntil } from '../helpers/node-process.ts';

const RULE = { id: 'per-user', key: ['user'], rate: 4, period: '1m' };

test('collection - a node writes to ClickHouse, spooling while it is down', async (t) => {
  const server = await startClickHouseServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-collect-ch-'));
  t.teardown(async () => {
    await server.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  await server.stop();
  const node = await startNodeProcess({
    nodeId: 'collect-ch',
    args: [
      ...['--data-dir', join(dir, 'data'), '--http-port', '0', '--log-level', 'info'],
      ...['--store', 'clickhouse', '--clickhouse-url', server.url, '--clickhouse-database', 'collect'],
      ...['--collect-grace', '200ms'],
    ],
  });
  t.teardown(() => node.stop());
  const post = async (path: string, body: unknown): Promise<any> =>
    (await fetch(`${node.httpUrl!}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
  t.like(await post('/v1/rules', RULE), { rule: { id: 'per-user' } });
  const start = Date.now();
  const allows: boolean[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await post('/v1/check', { params: { user: 'dave-9021', email: 'dave@corp.example.net' } });
    allows.push(r.allow);
  }
  t.deepEqual(allows, [true, true, true, true, false, false]);
  const end = Date.now();

  // The status API shows the spool filling while ClickHouse is down...
  type Batcher = {
    spooled: number;
    spoolBatches: number;
    replayed: number;
    failures: number;
    lastError: string | null;
  };
  const batcher = async (): Promise<Batcher> =>
    (
      (await (await fetch(`${node.httpUrl!}/v1/status`)).json()) as {
        nodes: { collection: { batcher: Batcher } }[];
      }
    ).nodes[0]!.collection.batcher;
  let down: Batcher | undefined;
  await waitUntil(
    async () => (down = await batcher()).spooled >= 6,
    15_000,
    `the status to show the records spooled: ${JSON.stringify(down)}`,
  );
  t.true(down!.spoolBatches >= 1);
  t.true(down!.failures >= 1);
  t.regex(down!.lastError ?? '', /clickhouse/);
  t.false(JSON.stringify(down).includes('dave'));

  await server.restart();
  const store = createClickHouseStore({ url: server.url, database: 'collect' });
  t.teardown(() => store.close());
  const keys = JSON.parse(await readFile(join(dir, 'data', 'privacy-key.json'), 'utf8')) as { keys: [] };
  const token = new PrivacyPipeline({ keys: keys.keys }).hash(
    tokenKeyOf(compileRule(parseRule(RULE)), { user: 'dave-9021' }),
    start,
  );
  await waitUntil(
    async () => {
      try {
        return (await store.records(start - 1000, end + 1000)).length === 6;
      } catch {
        return false; // tables not created yet
      }
    },
    60_000,
    'the records in ClickHouse',
  );
  // ...and empty once it is back.
  await waitUntil(
    async () => (await batcher()).spoolBatches === 0,
    15_000,
    'the status to show the spool replayed',
  );
  t.true((await batcher()).replayed >= 6);
  const records = await store.records(start - 1000, end + 1000);
  t.deepEqual(
    records.map((r) => [r.token, r.allow]),
    allows.map((a) => [token, a]),
  );
  // The 1-second buckets arrive with the records; the minute one when it closes or at stop.
  t.is(await node.stop(), 0);
  const from = Math.floor(start / 60_000) * 60_000;
  const minute = await store.tokenBuckets(token, from, end + 1, 60_000);
  t.deepEqual(
    minute.reduce((a, b) => [a[0]! + b.requests, a[1]! + b.allowed, a[2]! + b.denied], [0, 0, 0]),
    [6, 4, 2],
  );
  const dump = await store.dumpAll();
  for (const raw of ['dave', 'corp.example.net']) {
    t.false(dump.includes(raw), `store holds ${raw}`);
    t.false(node.output().includes(raw), `log holds ${raw}`);
  }
});

test('collection - a node stopped with records in its spool replays them when it starts again, once each', async (t) => {
  const server = await startClickHouseServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-collect-restart-'));
  t.teardown(async () => {
    await server.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  await server.stop();
  const args = [
    ...['--data-dir', join(dir, 'data'), '--http-port', '0', '--log-level', 'info'],
    ...['--store', 'clickhouse', '--clickhouse-url', server.url, '--clickhouse-database', 'restart'],
    ...['--collect-grace', '200ms'],
  ];
  const first = await startNodeProcess({ nodeId: 'collect-restart', args });
  t.teardown(() => first.stop());
  const post = async (url: string, path: string, body: unknown): Promise<any> =>
    (await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) })).json();
  t.like(await post(first.httpUrl!, '/v1/rules', RULE), { rule: { id: 'per-user' } });
  const start = Date.now();
  for (let i = 0; i < 5; i++) await post(first.httpUrl!, '/v1/check', { params: { user: `erin-${i}` } });
  const end = Date.now();
  // Stopped while ClickHouse is down: what it holds goes to the spool on disk.
  t.is(await first.stop(), 0);

  await server.restart();
  const second = await startNodeProcess({ nodeId: 'collect-restart', args });
  t.teardown(() => second.stop());
  const store = createClickHouseStore({ url: server.url, database: 'restart' });
  t.teardown(() => store.close());
  await waitUntil(
    async () => {
      try {
        return (await store.records(start - 1000, end + 1000)).length >= 5;
      } catch {
        return false; // tables not created yet
      }
    },
    60_000,
    'the spooled records in ClickHouse',
  );
  t.is(await second.stop(), 0); // writes anything still held, and replays nothing twice
  const records = await store.records(start - 1000, end + 1000);
  t.is(records.length, 5);
  t.is(new Set(records.map((r) => r.id)).size, 5);
});
