// Behavioural data collection end to end: a real node process (NATS API,
// DuckDB store in its data folder) gets checks with known user ids, e-mail
// addresses and IPs; after its graceful stop, the store holds one record per
// token per request and 1 s / 1 min buckets equal to what was sent, and no
// table and no log line holds a raw value. Events arrive over NATS, HTTP
// and a followed file; bad ones get structured errors.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { ErrorCode, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { CollectionStats } from '../../services/index.ts';
import { createDuckDbStore, type BucketRow, type TimeSeriesStore } from '../../store/index.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.ts';
import { client, request, startNodeProcess, waitUntil, type NodeProcess } from '../helpers/node-process.ts';

interface Ctx {
  nats: NatsServer;
  dir: string;
  node: NodeProcess;
  nc: NatsConnection;
}
const test = anyTest as TestFn<Ctx>;

const USERS = ['alice-7731', 'bob-1184', 'carol-5520'];
const emailOf = (u: string): string => `${u}@mail.example.org`;
const IPS = ['198.51.100.23', '198.51.100.201', '2001:db8:42::17'];
const PER_USER = { id: 'per-user', key: ['user'], rate: 3, period: '1m' };
const PER_OP = { id: 'per-op', key: ['op'], rate: 1000, period: '1m' };
const SENT_PER_USER = 5;
const DAY = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString();

test.before(async (t) => {
  t.context.nats = await startNatsServer();
  const dir = (t.context.dir = await mkdtemp(join(tmpdir(), 'headroom-collect-')));
  const today = Date.now();
  await writeFile(
    join(dir, 'holidays.txt'),
    [today - DAY, today, today + DAY].map((d) => iso(d).slice(0, 10)).join('\n'),
  );
  await writeFile(join(dir, 'profiles.csv'), `user,tier\n${USERS.map((u) => `${u},gold`).join('\n')}\n`);
  await writeFile(
    join(dir, 'regions.csv'),
    'prefix,region\n198.51.100.0/24,us-east\n2001:db8::/32,eu-west\n',
  );
  await writeFile(join(dir, 'events.jsonl'), '');
  t.context.node = await startNodeProcess({
    nodeId: 'collect-1',
    args: [
      ...['--nats', t.context.nats.url, '--data-dir', join(dir, 'data'), '--http-port', '0'],
      ...['--log-level', 'info', '--collect-grace', '300ms'],
      ...['--holidays-file', join(dir, 'holidays.txt'), '--profile-file', join(dir, 'profiles.csv')],
      ...['--ip-regions-file', join(dir, 'regions.csv'), '--events-file', join(dir, 'events.jsonl')],
    ],
  });
  t.context.nc = await client(t.context.nats.url);
  for (const rule of [PER_USER, PER_OP]) {
    const put = await request(t.context.nc, 'headroom.v1.rules.put', rule);
    if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
  }
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.node?.stop();
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

const http = async (
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> => {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
};

test.serial(
  'collection - events over NATS, HTTP and the file feed; bad ones get structured errors',
  async (t) => {
    const { nc, node, dir } = t.context;
    const base = node.httpUrl!;
    const now = Date.now();
    const good = { source: 'news', topic: 'launch', time: iso(now - 1000), value: 40 };
    const pub = await request(nc, 'headroom.v1.events.publish', good);
    t.regex(pub.id, /^[0-9a-f]{32}$/);
    // An event about one user's token: the token key is hashed before storage.
    const aliceKey = tokenKeyOf(compileRule(parseRule(PER_USER)), { user: USERS[0]! });
    t.truthy(
      (await request(nc, 'headroom.v1.events.publish', { ...good, topic: 'promo', tokens: [aliceKey] })).id,
    );
    const viaHttp = await http(base, 'POST', '/v1/events', {
      ...good,
      source: 'trends',
      topic: 'social',
      value: 7,
    });
    t.is(viaHttp.status, 200);

    const bad: Array<[unknown, string, string]> = [
      [{ ...good, extra: 1 }, ErrorCode.UnknownField, 'extra'],
      [{ ...good, time: 'soon' }, ErrorCode.InvalidField, 'time'],
      [{ ...good, value: 'high' }, ErrorCode.InvalidField, 'value'],
      [{ ...good, source: undefined }, ErrorCode.MissingField, 'source'],
      [{ ...good, tokens: [1] }, ErrorCode.InvalidField, 'tokens[0]'],
      ['{"source": ', ErrorCode.InvalidJson, 'payload'],
    ];
    for (const [body, code, field] of bad) {
      const n = await request(nc, 'headroom.v1.events.publish', body);
      t.like(n.error, { code, field, retryable: false }, `NATS ${field}`);
      const h = await http(base, 'POST', '/v1/events', body);
      t.is(h.status, 400);
      t.like(h.json.error, { code, field }, `HTTP ${field}`);
    }
    const badList = await request(nc, 'headroom.v1.events.list', { from: iso(now), to: iso(now - 1) });
    t.like(badList.error, { code: ErrorCode.InvalidField, field: 'to' });
    t.like((await http(base, 'GET', `/v1/events?from=x&to=${iso(now)}`)).json.error, { field: 'from' });
    t.like((await http(base, 'GET', `/v1/events?from=${iso(now)}&to=${iso(now + 1)}&nope=1`)).json.error, {
      code: ErrorCode.UnknownField,
      field: 'nope',
    });

    // The file feed: a JSON line and a bad line appended while the node runs.
    await appendFile(
      join(dir, 'events.jsonl'),
      `${JSON.stringify({ source: 'feed', topic: 'from-file', time: iso(now), value: 3 })}\nnot,an,event\n`,
    );
    const range = { from: iso(now - 60_000), to: iso(now + 60_000) };
    await waitUntil(
      async () => {
        const r = await request(nc, 'headroom.v1.events.list', range);
        return r.events?.some((e: { topic: string }) => e.topic === 'from-file') === true;
      },
      10_000,
      'the file feed event',
    );
    const listed = await request(nc, 'headroom.v1.events.list', range);
    t.deepEqual(listed.events.map((e: { topic: string }) => e.topic).sort(), [
      'from-file',
      'launch',
      'promo',
      'social',
    ]);
    const promo = listed.events.find((e: { topic: string }) => e.topic === 'promo');
    t.is(promo.tokens.length, 1);
    t.not(promo.tokens[0], aliceKey);
    const launchOnly = await http(base, 'GET', `/v1/events?from=${range.from}&to=${range.to}&topic=launch`);
    t.deepEqual(
      launchOnly.json.events.map((e: { value: number; time: string }) => [e.value, e.time]),
      [[40, good.time]],
    );
    // Aligned to steps: per topic and step, empty steps filled, over NATS and HTTP.
    const minute = await request(nc, 'headroom.v1.events.list', { ...range, topic: 'launch', step: '1m' });
    const launchAt = new Date(Math.floor((now - 1000) / 60_000) * 60_000).toISOString();
    t.true(minute.events.length >= 2);
    t.true(minute.events.every((l: { start: string }) => Date.parse(l.start) % 60_000 === 0));
    t.deepEqual(
      minute.events.filter((l: { count: number }) => l.count > 0),
      [{ topic: 'launch', start: launchAt, count: 1, sum: 40, max: 40, last: 40 }],
    );
    t.like(
      minute.events.find((l: { count: number }) => l.count === 0),
      { topic: 'launch', sum: 0, max: null, last: null },
    );
    const aligned = await http(base, 'GET', `/v1/events?from=${range.from}&to=${range.to}&step=30s`);
    t.deepEqual(
      [...new Set(aligned.json.events.map((l: { topic: string }) => l.topic))],
      ['from-file', 'launch', 'promo', 'social'],
    );
    t.is(
      aligned.json.events.reduce((n: number, l: { count: number }) => n + l.count, 0),
      4,
    );
    for (const step of ['1500ms', '0s', 'soon', '1s']) {
      const body = { ...range, step, ...(step === '1s' ? { to: iso(now + 86_400_000) } : {}) };
      const r = await request(nc, 'headroom.v1.events.list', body);
      t.like(r.error, { code: ErrorCode.InvalidField, field: 'step', retryable: false }, `step ${step}`);
    }
    await waitUntil(() => t.context.node.output().includes('line 2 refused'), 5000, 'the bad line logged');
  },
);

test.serial(
  'collection - records and buckets equal what was sent, and no raw value is stored or logged',
  async (t) => {
    const { nc, node, dir } = t.context;
    const start = Date.now();
    for (let i = 0; i < SENT_PER_USER; i++) {
      await Promise.all(
        USERS.map((user, u) =>
          request(nc, 'headroom.v1.check', {
            params: { user, email: emailOf(user), ip: IPS[u]!, op: 'read' },
          }),
        ),
      );
    }
    const end = Date.now();

    // The status API shows the node's collection counters: every decision
    // collected, every row it handed over written, nothing spooled or lost.
    const sent = USERS.length * SENT_PER_USER * 2;
    type Status = { nodes: { id: string; collection: CollectionStats | null }[] };
    let status: Status | undefined;
    await waitUntil(
      async () => {
        status = (await request(nc, 'headroom.v1.status', {})) as Status;
        const c = status.nodes[0]?.collection;
        return (
          c?.collector.records === sent &&
          c.batcher.pendingRows === 0 &&
          c.batcher.inserted === c.batcher.accepted
        );
      },
      10_000,
      `the status to show ${sent} records written: ${JSON.stringify(status)}`,
    );
    const c = status!.nodes[0]!.collection!;
    t.is(status!.nodes[0]!.id, 'collect-1');
    t.is(c.store, 'duckdb');
    t.like(c.collector, { decided: sent, droppedQueueFull: 0, refused: 0, errors: 0, queued: 0 });
    t.true(c.collector.buckets > 0);
    t.true(c.batcher.batches >= 1);
    t.like(c.batcher, {
      spooled: 0,
      spoolBatches: 0,
      spoolBytes: 0,
      failures: 0,
      spoolFull: 0,
      lastError: null,
    });
    // Records, buckets and the events stored before: all went through the batcher.
    t.true(c.batcher.inserted >= sent + c.collector.buckets);
    const viaHttp = await http(node.httpUrl!, 'GET', '/v1/status');
    t.like(viaHttp.json.nodes[0].collection, { store: 'duckdb', collector: { decided: sent } });
    t.is(await node.stop('SIGTERM'), 0);

    const keys = JSON.parse(await readFile(join(dir, 'data', 'privacy-key.json'), 'utf8')) as { keys: [] };
    const pipeline = new PrivacyPipeline({ keys: keys.keys });
    const hash = (rule: object, params: Record<string, string>): string =>
      pipeline.hash(tokenKeyOf(compileRule(parseRule(rule)), params), start);
    const store: TimeSeriesStore = createDuckDbStore({ path: join(dir, 'data', 'store.duckdb') });
    await store.init();
    t.teardown(() => store.close());

    const records = await store.records(start - 1000, end + 1000);
    t.is(records.length, USERS.length * SENT_PER_USER * 2);
    const alice = hash(PER_USER, { user: USERS[0]! });
    const aliceRecords = records.filter((r) => r.token === alice);
    t.deepEqual(
      aliceRecords.map((r) => r.allow),
      [true, true, true, false, false],
    );
    t.like(aliceRecords[0], {
      ruleId: 'per-user',
      op: 'read',
      params: { op: 'read' },
      region: 'us-east',
      holiday: true,
    });
    t.true(aliceRecords[0]!.events['launch']! > 0 && aliceRecords[0]!.events['launch']! <= 40);
    t.true(aliceRecords[0]!.events['promo']! > 0, 'the event naming alice reaches her token');
    t.true('tier' in aliceRecords[0]!.profile);
    t.is(records.find((r) => r.token === hash(PER_USER, { user: USERS[2]! }))!.region, 'eu-west');

    // The per-op token allowed every request, but denied requests were refunded: they count as denied.
    const sum = (rows: BucketRow[]): number[] =>
      rows.reduce(
        (a, b) => [a[0]! + b.requests, a[1]! + b.allowed, a[2]! + b.denied, a[3]! + b.cost],
        [0, 0, 0, 0],
      );
    const op = hash(PER_OP, { op: 'read' });
    for (const step of [1000, 60_000]) {
      const from = Math.floor(start / step) * step;
      t.deepEqual(sum(await store.tokenBuckets(alice, from, end + 1, step)), [5, 3, 2, 5], `alice ${step}`);
      t.deepEqual(sum(await store.tokenBuckets(op, from, end + 1, step)), [15, 9, 6, 15], `op ${step}`);
    }
    t.deepEqual(records.filter((r) => r.token === op).filter((r) => !r.allow).length, 6);
    t.deepEqual((await store.activeTokens(start - 1000, end + 1000)).length, USERS.length + 1);

    // The privacy scan: every table and everything the node logged.
    const dump = await store.dumpAll();
    const log = node.output();
    t.true(dump.length > 1000);
    t.true(log.length > 0);
    const raws = [...USERS, ...USERS.map(emailOf), ...IPS, 'mail.example.org', '198.51.100.'];
    for (const raw of raws) {
      t.false(dump.includes(raw), `store holds ${raw}`);
      t.false(log.includes(raw), `log holds ${raw}`);
    }
  },
);
