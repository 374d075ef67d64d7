// Every node's Prometheus endpoint: a node with a metrics port, some checks
// (allowed and denied), a rule put and a pool, then `GET /metrics` parsed by a
// strict text-format parser; two nodes on NATS count the owner-link messages
// each sends and the other receives; the endpoint's methods, paths and tokens.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { ErrorCode } from '../../lib/index.ts';
import {
  NodeMetrics,
  compileNodeOptions,
  startMetricsServer,
  startNode,
  startOtlpPush,
} from '../../services/index.ts';
import type { HeadroomNode } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { settle, client, waitUntil } from '../helpers/node-process.ts';
import { parsePromText, samplesOf } from '../helpers/prom-text.ts';
import type { PromFamily } from '../helpers/prom-text.ts';

const EXPECTED: Record<string, PromFamily['type']> = {
  headroom_checks_total: 'counter',
  headroom_check_duration_seconds: 'histogram',
  headroom_actors: 'gauge',
  headroom_link_messages_total: 'counter',
  headroom_collector_records_total: 'counter',
  headroom_collector_records_sampled_out_total: 'counter',
  headroom_collector_lost_total: 'counter',
  headroom_spool_bytes: 'gauge',
  headroom_pool_units: 'gauge',
  headroom_pool_demand: 'gauge',
  headroom_forecast_wape: 'gauge',
  headroom_trainer_promotions_total: 'counter',
  headroom_refused_total: 'counter',
  // prom-client's process metrics.
  process_cpu_user_seconds_total: 'counter',
  nodejs_eventloop_lag_seconds: 'gauge',
};

async function scrape(url: string, init?: RequestInit): Promise<Map<string, PromFamily>> {
  const res = await fetch(url, init);
  if (res.status !== 200) throw new Error(`scrape ${url}: ${res.status} ${await res.text()}`);
  if (!res.headers.get('content-type')!.startsWith('text/plain; version=0.0.4'))
    throw new Error('content type');
  return parsePromText(await res.text());
}

const value = (
  fams: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
  sample?: string,
) => samplesOf(fams, name, labels, sample).reduce((sum, s) => sum + s.value, 0);

test('metrics - a node serves every metric; checks_total counts the allowed and denied checks', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-metrics-'));
  const poolsFile = join(dataDir, 'pools.json');
  const pool = { name: 'api', rules: ['per-user'], kind: 'simulated', unitCapacity: 100 };
  await writeFile(poolsFile, JSON.stringify({ pools: [{ ...pool, minUnits: 1, maxUnits: 4, stepMs: 200 }] }));
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      { dataDir, httpPort: null, logLevel: 'error', nodeId: 'm1', metricsPort: 0, poolsFile },
    ),
  );
  try {
    t.regex(node.metricsUrl!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const call = async (op: string, body: unknown): Promise<any> =>
      await node.api.handle(op, JSON.stringify(body), ROOT_CONTEXT);
    t.like(await call('rules.put', { id: 'per-user', key: ['user'], rate: 3, period: '1m' }), {
      rule: { id: 'per-user' },
    });
    let allowed = 0;
    let denied = 0;
    for (let i = 0; i < 7; i++) {
      const r = await call('check', { params: { user: 'u1' } });
      if (r.allow === true) allowed++;
      else if (r.allow === false) denied++;
    }
    const batch = await call('check.batch', {
      requests: [{ params: { user: 'u2' } }, { params: { user: 'u2' }, cost: 5 }],
    });
    for (const r of batch.results) {
      if (r.allow === true) allowed++;
      else if (r.allow === false) denied++;
    }
    t.is(allowed, 4);
    t.is(denied, 5);
    // The pool's runner reports its units once it ticked.
    await waitUntil(() => node.pools!.pools.local('api') !== undefined, 5000, 'the pool runner');

    const fams = await scrape(node.metricsUrl!);
    for (const [name, type] of Object.entries(EXPECTED)) {
      t.is(fams.get(name)?.type, type, `${name} is a ${type}`);
      t.not(fams.get(name)!.help, '', `${name} has help`);
    }
    t.is(value(fams, 'headroom_checks_total', { decision: 'deny' }), denied);
    t.is(value(fams, 'headroom_checks_total', { decision: 'deny', rule: 'per-user' }), denied);
    t.is(value(fams, 'headroom_checks_total', { decision: 'allow', rule: 'per-user' }), allowed);
    t.is(value(fams, 'headroom_checks_total', { decision: 'error' }), 0);
    // One observation per call: seven checks and one batch.
    t.is(value(fams, 'headroom_check_duration_seconds', {}, 'headroom_check_duration_seconds_count'), 8);
    t.is(
      value(
        fams,
        'headroom_check_duration_seconds',
        { le: '+Inf' },
        'headroom_check_duration_seconds_bucket',
      ),
      8,
    );
    t.is(value(fams, 'headroom_actors'), 2);
    t.is(value(fams, 'headroom_link_messages_total'), 0, 'embedded: no link');
    t.deepEqual(
      samplesOf(fams, 'headroom_pool_units', { pool: 'api' })
        .map((s) => s.labels['state'])
        .sort(),
      ['ready', 'starting', 'target'],
    );
    t.is(samplesOf(fams, 'headroom_pool_demand', { pool: 'api' }).length, 1);
    t.deepEqual(
      samplesOf(fams, 'headroom_refused_total')
        .map((s) => s.labels['kind'])
        .sort(),
      [
        'badMessages',
        'badReplies',
        'callsRefused',
        'refundsRejected',
        'replySubjectsRefused',
        'subscriptionErrors',
      ],
    );
    t.is(value(fams, 'headroom_trainer_promotions_total'), 0);
    t.is(samplesOf(fams, 'headroom_collector_lost_total').length, 2);
    t.true(value(fams, 'headroom_spool_bytes') >= 0);
    // Every series names its node.
    t.true(samplesOf(fams, 'process_cpu_user_seconds_total').every((s) => s.labels['node'] === 'm1'));

    // Collection's records arrive after the refund grace (2 s): the counter follows its stats.
    await waitUntil(
      async () => value(await scrape(node.metricsUrl!), 'headroom_collector_records_total') > 0,
      10_000,
      'collector records',
    );
    const after = await scrape(node.metricsUrl!);
    const stats = (await node.collection.stats())!;
    t.true(value(after, 'headroom_collector_records_total') <= stats.collector.records);
    t.is(value(after, 'headroom_checks_total', { decision: 'deny' }), denied, 'a scrape changes no count');
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('metrics - two nodes on NATS: each take or forward one sends, the other receives', async (t) => {
  const nats = await startNatsServer();
  const dirs = await Promise.all(['a', 'b'].map((id) => mkdtemp(join(tmpdir(), `headroom-metrics-${id}-`))));
  const nodes: HeadroomNode[] = [];
  const nc = await client(nats.url);
  try {
    for (const [i, id] of ['ma', 'mb'].entries()) {
      const opts = { natsUrl: nats.url, dataDir: dirs[i]!, logLevel: 'error', nodeId: id, metricsPort: 0 };
      nodes.push(
        await startNode(compileNodeOptions(undefined, {}, { ...opts, store: 'none', forecast: 'false' })),
      );
    }
    await settle(nc, ['ma', 'mb']);
    const [a, b] = nodes as [HeadroomNode, HeadroomNode];
    await a.api.handle(
      'rules.put',
      JSON.stringify({ id: 'r', key: ['user'], rate: 1000, period: '1s' }),
      ROOT_CONTEXT,
    );
    await waitUntil(() => b.rules.list().length === 1, 5000, 'the rule on mb');
    // Through node a's API only: tokens owned by b cost a link message each way.
    for (let i = 0; i < 40; i++)
      await a.api.handle('check', JSON.stringify({ params: { user: `u${i}` } }), ROOT_CONTEXT);
    const [fa, fb] = await Promise.all([scrape(a.metricsUrl!), scrape(b.metricsUrl!)]);
    const sent = value(fa, 'headroom_link_messages_total', { direction: 'out' });
    t.true(sent > 0, 'some tokens live on mb');
    for (const op of ['take', 'refund', 'forward']) {
      t.is(
        value(fa, 'headroom_link_messages_total', { op, direction: 'out' }),
        value(fb, 'headroom_link_messages_total', { op, direction: 'in' }),
        `${op}: sent by ma, received by mb`,
      );
    }
    t.is(value(fa, 'headroom_checks_total', { decision: 'allow', rule: 'r' }), 40);
    t.is(value(fb, 'headroom_checks_total'), 0, 'mb decided nothing: takes are not checks');
  } finally {
    // One after the other: a leave hands its actors to a node still running.
    for (const n of nodes) await n.stop();
    await nc.close();
    await nats.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});

test('metrics - the endpoint: HEAD, 405 for other methods, 404 elsewhere, the read token off loopback', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-metrics-auth-'));
  const read = join(dir, 'read');
  const admin = join(dir, 'admin');
  await writeFile(read, 'read-secret\n');
  await writeFile(admin, 'admin-secret\n');
  const metrics = new NodeMetrics('x');
  const opts = { metricsHost: '127.0.0.1', metricsPort: 0, httpTokenFile: read, httpAdminTokenFile: admin };
  const server = await startMetricsServer(metrics, opts, { warn: () => {} });
  try {
    const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
    const none = await fetch(server.url);
    t.is(none.status, 401);
    t.like(await none.json(), { error: { code: ErrorCode.Unauthorized } });
    t.is((await fetch(server.url, bearer('wrong'))).status, 401);
    t.true((await scrape(server.url, bearer('read-secret'))).has('headroom_checks_total'));
    t.true((await scrape(server.url, bearer('admin-secret'))).has('headroom_check_duration_seconds'));
    const head = await fetch(server.url, { method: 'HEAD', ...bearer('read-secret') });
    t.is(head.status, 200);
    t.is(await head.text(), '');
    const post = await fetch(server.url, { method: 'POST', body: 'x', ...bearer('read-secret') });
    t.is(post.status, 405);
    t.is(post.headers.get('allow'), 'GET, HEAD');
    t.like(await post.json(), { error: { code: ErrorCode.InvalidField, field: 'method' } });
    const other = await fetch(server.url.replace('/metrics', '/metricsx'), bearer('read-secret'));
    t.is(other.status, 404);
    t.like(await other.json(), { error: { code: ErrorCode.NotFound } });
  } finally {
    await server.close();
  }
  const offLoopback = { ...opts, metricsHost: '0.0.0.0', httpTokenFile: null };
  await t.throwsAsync(startMetricsServer(metrics, offLoopback, { warn: () => {} }), {
    message:
      /options\.httpTokenFile \(--http-token-file\) is required when options\.metricsHost is not loopback/,
  });
  // A node refuses it before it starts anything.
  const nodeOpts = { dataDir: dir, httpPort: null, store: 'none', forecast: 'false', logLevel: 'error' };
  await t.throwsAsync(
    startNode(compileNodeOptions(undefined, {}, { ...nodeOpts, metricsPort: 0, metricsHost: '0.0.0.0' })),
    {
      message:
        /options\.httpTokenFile .* options\.metricsHost is not loopback .*, got metricsHost "0\.0\.0\.0"/,
    },
  );
  await rm(dir, { recursive: true, force: true });
});

test('metrics - OTLP push: the registry goes out over OTLP/HTTP JSON with its labels', async (t) => {
  const bodies: any[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/metrics') bodies.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const { port } = receiver.address() as AddressInfo;
  try {
    const metrics = new NodeMetrics('px');
    metrics.read({ actors: () => 3, collection: () => Promise.resolve(null), refused: () => ({}) as never });
    const reply = {
      allow: false,
      rule: 'r1',
      limit: 1,
      remaining: 0,
      retryAfterMs: 5,
      tokens: [],
      shadowDenied: [],
    };
    for (let i = 0; i < 4; i++) metrics.check.decidedOne(reply, metrics.check.start());
    const push = startOtlpPush(metrics, 'px', {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    });
    // The shutdown pushes what is there now.
    await push.shutdown();
    const points = new Map<string, any[]>();
    for (const b of bodies)
      for (const rm of b.resourceMetrics)
        for (const sm of rm.scopeMetrics)
          for (const m of sm.metrics)
            points.set(m.name, [...(points.get(m.name) ?? []), ...(m.sum ?? m.gauge).dataPoints]);
    const attrs = (p: any): Record<string, string> =>
      Object.fromEntries(p.attributes.map((a: any) => [a.key, a.value.stringValue]));
    const deny = points.get('headroom_checks_total')!.find((p) => attrs(p)['decision'] === 'deny');
    t.like(attrs(deny), { decision: 'deny', rule: 'r1' });
    t.is(Number(deny.asDouble ?? deny.asInt), 4);
    t.is(Number(points.get('headroom_actors')![0].asDouble ?? points.get('headroom_actors')![0].asInt), 3);
    t.is(Number(points.get('headroom_check_duration_seconds_count')![0].asDouble), 4);
    t.true(points.has('process_cpu_user_seconds_total'));
  } finally {
    receiver.close();
  }
});
