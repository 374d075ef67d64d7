// A node forecasts its live tokens on a cadence: the forecast lands on the
// token actor (and so in `describe`, which the REPL's hr-token prints) and in
// the store's forecasts table under the token's keyed hash. Forecasts come
// from the live zoo's combination from the first round, never a plain mean;
// with the default horizons the pretrained LSTM serves before any training,
// and `headroom.v1.forecast.get` reads a token's forecast over NATS.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import { compileNodeOptions, defaultNodePrivacy, loadKeyFile, startNode } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';

test('forecast node - token actors get forecasts on a cadence and the store keeps them', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-forecast-'));
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      {
        dataDir,
        httpPort: null,
        logLevel: 'error',
        nodeId: 'f1',
        forecastEveryMs: '300ms',
        forecastHorizonsMs: '1s,3s',
        trainer: 'false',
      },
    ),
  );
  try {
    t.truthy(node.forecasting);
    await node.api.handle(
      'rules.put',
      JSON.stringify({ id: 'per-user', key: ['user'], rate: 1000, period: '1s' }),
      ROOT_CONTEXT,
    );
    for (let i = 0; i < 5; i++)
      await node.api.handle('check', JSON.stringify({ params: { user: 'u1' } }), ROOT_CONTEXT);
    const token = node.throttle.host.keys()[0]!;
    await waitUntil(
      () => node.throttle.host.peek(token)?.forecast !== undefined,
      10_000,
      'a forecast on the actor',
    );
    const d = node.throttle.describe(token) as {
      forecast: {
        horizonsMs: number[];
        p50: number[];
        model: string;
        version: string | null;
        weights: Record<string, number[]>;
        leaders: string[];
      };
    };
    t.deepEqual(d.forecast.horizonsMs, [1000, 3000]);
    t.is(d.forecast.p50.length, 2);
    // No model was trained, and the pretrained LSTM is for other horizons: the
    // statistical members of the live zoo, combined, serve from the first round.
    t.is(d.forecast.model, 'combined');
    t.is(d.forecast.version, null);
    t.true(d.forecast.p50[0]! > 0, `p50 ${d.forecast.p50}`);
    t.true(Object.keys(d.forecast.weights).includes('holt'), JSON.stringify(d.forecast.weights));
    t.is(d.forecast.leaders.length, 2);
    t.false('lstm' in d.forecast.weights);

    const keys = await loadKeyFile(null, dataDir);
    const pipeline = new PrivacyPipeline({
      ...defaultNodePrivacy(),
      keys: keys.file.keys,
      overlapMs: keys.file.overlapMs,
      ipRegions: [],
    });
    const hashed = pipeline.hash(token, Date.now());
    const { batcher, store } = node.collection;
    let rows: unknown[] = [];
    await waitUntil(
      async () => {
        await batcher!.flush();
        rows = await store!.forecasts(hashed, 0, Date.now() + 60_000);
        return rows.length > 0;
      },
      10_000,
      'forecast rows in the store',
    );
    t.like(rows[0], { token: hashed, model: 'combined' });
    t.false(JSON.stringify(rows).includes('u1'), 'no raw user id in the store');
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

interface ForecastGetReply {
  forecasts?: Array<{
    token: string;
    rule: string;
    node: string;
    madeMs: number;
    horizonsMs: number[];
    p10: number[];
    p50: number[];
    p90: number[];
    model: string;
    version: string | null;
    weights: Record<string, number[]>;
    leaders: string[];
  }>;
  error?: { code: string; field?: string; message: string };
}

test('forecast node - a fresh node serves the pretrained LSTM in its combination, read with forecast.get over NATS', async (t) => {
  t.timeout(90_000);
  const nats = await startNatsServer();
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-forecast-get-'));
  const node = await startNodeProcess({
    nodeId: 'fg-1',
    args: [
      '--nats',
      nats.url,
      '--store',
      'none',
      '--forecast-every',
      '1s',
      '--trainer',
      'false',
      '--data-dir',
      dataDir,
    ],
  });
  const nc = await client(nats.url);
  try {
    await settle(nc, ['fg-1']);
    t.falsy(
      (
        await request(nc, 'headroom.v1.rules.put', {
          id: 'per-user',
          key: ['user'],
          rate: 1000,
          period: '1s',
        })
      ).error,
    );
    const get = (params: unknown): Promise<ForecastGetReply> =>
      request<ForecastGetReply>(nc, 'headroom.v1.forecast.get', { params });
    const none = await get({ user: 'u1' });
    t.is(none.error?.code, 'HEADROOM_ERR_NOT_FOUND', 'no forecast before any request');
    // 4 requests a second; the first forecast comes within a round or two.
    const started = Date.now();
    let first: ForecastGetReply | undefined;
    let last: ForecastGetReply | undefined;
    while (Date.now() - started < 30_000) {
      for (let i = 0; i < 4; i++) await request(nc, 'headroom.v1.check', { params: { user: 'u1' } });
      const r = await get({ user: 'u1' });
      if (r.forecasts !== undefined) {
        first ??= r;
        last = r;
        if ('lstm' in r.forecasts[0]!.weights) break;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    t.truthy(first, node.output().slice(-2000));
    const f0 = first!.forecasts![0]!;
    t.like(f0, { rule: 'per-user', node: 'fg-1', model: 'combined', version: 'pretrained' });
    t.deepEqual(f0.horizonsMs, [5000, 30_000, 300_000]);
    t.true(
      f0.p50.every((x) => x > 0),
      `first p50 ${f0.p50}`,
    );
    t.true(f0.p10.every((x, i) => x <= f0.p50[i]! && f0.p50[i]! <= f0.p90[i]!));
    t.is(f0.leaders.length, 3);
    // Once the token has the LSTM's 16 s of history, the pretrained LSTM is a member.
    const fl = last!.forecasts![0]!;
    t.true('lstm' in fl.weights, JSON.stringify(fl.weights));
    t.true(Math.abs(Object.values(fl.weights).reduce((a, w) => a + w[0]!, 0) - 1) < 0.05);

    const bad = await get(5);
    t.like(bad.error, { code: 'HEADROOM_ERR_INVALID_FIELD', field: 'params' });
    const unknown = await request<ForecastGetReply>(nc, 'headroom.v1.forecast.get', {
      params: { user: 'u1' },
      x: 1,
    });
    t.is(unknown.error?.code, 'HEADROOM_ERR_UNKNOWN_FIELD');
    t.is((await get({ op: 'no-rule-has-this' })).error?.code, 'HEADROOM_ERR_NOT_FOUND');
    t.is((await get({ user: 'never-seen' })).error?.code, 'HEADROOM_ERR_NOT_FOUND');
  } finally {
    await nc.close();
    await node.stop();
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('forecast node - with ops/nats/secure.conf the client role may ask forecast.get', async (t) => {
  t.timeout(60_000);
  const pass = (): string => `hr${randomBytes(24).toString('hex')}`;
  const passwords = { node: pass(), admin: pass(), client: pass() };
  const nats = await startNatsServer({
    config: fileURLToPath(new URL('../../ops/nats/secure.conf', import.meta.url)),
    env: {
      HEADROOM_NODE_PASSWORD: passwords.node,
      HEADROOM_ADMIN_PASSWORD: passwords.admin,
      HEADROOM_CLIENT_PASSWORD: passwords.client,
    },
  });
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-forecast-secure-'));
  const node = await startNodeProcess({
    nodeId: 'fs-1',
    args: [
      ...['--nats', nats.url, '--nats-user', 'node', '--nats-password', passwords.node],
      ...['--store', 'none', '--data-dir', dataDir],
    ],
  });
  const as = (user: 'admin' | 'client'): Promise<NatsConnection> =>
    connect({ servers: nats.url, user, pass: passwords[user], name: `headroom-test-${user}` });
  const admin = await as('admin');
  const clientNc = await as('client');
  try {
    await settle(admin, ['fs-1']);
    t.falsy(
      (
        await request(admin, 'headroom.v1.rules.put', {
          id: 'per-user',
          key: ['user'],
          rate: 100,
          period: '1s',
        })
      ).error,
    );
    await request(clientNc, 'headroom.v1.check', { params: { user: 'c1' } });
    // Answered by the node (not refused by the server): NotFound until the first round, then the forecast.
    let reply: ForecastGetReply = {};
    await waitUntil(
      async () => {
        reply = await request<ForecastGetReply>(clientNc, 'headroom.v1.forecast.get', {
          params: { user: 'c1' },
        });
        if (reply.error !== undefined) t.is(reply.error.code, 'HEADROOM_ERR_NOT_FOUND');
        return reply.forecasts !== undefined;
      },
      20_000,
      'the client reads the forecast',
    );
    t.is(reply.forecasts![0]!.model, 'combined');
  } finally {
    await clientNc.close();
    await admin.close();
    await node.stop();
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
