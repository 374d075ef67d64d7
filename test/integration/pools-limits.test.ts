// Pools never make things worse by surprise, and are visible (issue 12): on a
// real `headroom start` process over a real nats-server, a token on a
// `raise-only` pool (the default) is never limited below its rule while the
// pool is below maxUnits, even while its units are still starting; a token
// on a `protect` pool is (the contrast that shows the measurement can fail);
// `headroom.v1.status` and `GET /v1/status` list both pools with their
// figures; and every scale-up is an info line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { PoolOverview } from '../../services/pools/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';

// 20 per second each; one unit serves 10 per second and takes 3 s to start.
const RAISE = { id: 'raised', key: ['user'], rate: 20, period: '1s' };
const PROTECT = { id: 'guarded', key: ['tenant'], rate: 20, period: '1s' };
const pool = (name: string, rule: string, extra: Record<string, unknown> = {}) => ({
  name,
  rules: [rule],
  kind: 'simulated',
  unitCapacity: 10,
  minUnits: 1,
  maxUnits: 10,
  stepMs: 250,
  leadMs: 3000,
  ...extra,
});

interface CheckReply {
  allow: boolean;
  rule: string | null;
  limit: number | null;
}

test('pools-limits - raise-only never lowers a token below its rule below maxUnits; status lists the pools', async (t) => {
  const nats = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-pools-limits-'));
  t.teardown(async () => {
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const poolsFile = join(dir, 'pools.json');
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [pool('api', RAISE.id), pool('backend', PROTECT.id, { limits: 'protect' })],
    }),
  );
  const node = await startNodeProcess({
    nodeId: 'pl1',
    args: [
      ...['--nats', nats.url, '--namespace', `pools-limits-${process.pid}`, '--data-dir', join(dir, 'pl1')],
      ...['--pools-file', poolsFile, '--store', 'none', '--forecast', 'false', '--http-port', '0'],
      ...['--log-level', 'info'],
    ],
  });
  t.teardown(() => node.stop('SIGKILL'));
  const nc = await client(nats.url);
  t.teardown(() => nc.close());
  await settle(nc, ['pl1']);
  for (const rule of [RAISE, PROTECT]) {
    const put = await request(nc, 'headroom.v1.rules.put', rule);
    t.falsy(put.error, JSON.stringify(put.error));
  }

  // 40 checks per second on each token, twice its rule, for 6 s: the pools start short
  // (one unit, 10 per second) and grow a 3 s start-up later.
  const limits: Record<string, number[]> = { [RAISE.id]: [], [PROTECT.id]: [] };
  const overviews: PoolOverview[][] = [];
  const until = Date.now() + 6000;
  while (Date.now() < until) {
    const replies = await Promise.all([
      request<CheckReply>(nc, 'headroom.v1.check', { params: { user: 'u1' } }),
      request<CheckReply>(nc, 'headroom.v1.check', { params: { tenant: 't1' } }),
    ]);
    for (const r of replies) if (r.rule !== null && r.limit !== null) limits[r.rule]!.push(r.limit);
    if (limits[RAISE.id]!.length % 20 === 0) {
      const s = await request<{ pools: PoolOverview[] }>(nc, 'headroom.v1.status', {});
      overviews.push(s.pools);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const raised = limits[RAISE.id]!;
  const guarded = limits[PROTECT.id]!;
  t.log(
    `raise-only limits: min ${Math.min(...raised)}, max ${Math.max(...raised)} over ${raised.length} checks;` +
      ` protect: min ${Math.min(...guarded)}, max ${Math.max(...guarded)}`,
  );
  t.true(raised.length > 100, `${raised.length} checks`);
  // Under raise-only the rule's 20 per second is a floor while the pool is below maxUnits...
  t.true(
    raised.every((l) => l >= RAISE.rate - 1e-9),
    `lowest ${Math.min(...raised)}`,
  );
  // ...and the pool's spare capacity does raise it once its units are ready.
  t.true(Math.max(...raised) > RAISE.rate, `highest ${Math.max(...raised)}`);
  // Under protect the same shortage does lower the token (what issue 12 saw by default).
  t.true(Math.min(...guarded) < PROTECT.rate, `protect lowest ${Math.min(...guarded)}`);
  // The api pool never reached maxUnits while we checked.
  const apiSeen = overviews.flat().filter((p) => p.name === 'api');
  t.true(apiSeen.length > 0);
  t.true(
    apiSeen.every((p) => (p.readyUnits ?? 0) < p.maxUnits),
    JSON.stringify(apiSeen.map((p) => p.readyUnits)),
  );

  // Status on NATS and over HTTP lists both pools with their figures.
  const viaNats = (await request<{ pools: PoolOverview[] }>(nc, 'headroom.v1.status', {})).pools;
  const viaHttp = ((await (await fetch(`${node.httpUrl!}/v1/status`)).json()) as { pools: PoolOverview[] })
    .pools;
  for (const pools of [viaNats, viaHttp]) {
    t.deepEqual(
      pools.map((p) => p.name),
      ['api', 'backend'],
    );
    const [api, backend] = pools as [PoolOverview, PoolOverview];
    t.like(api, {
      owner: 'pl1',
      kind: 'simulated',
      policy: 'quantile',
      limits: 'raise-only',
      unitCapacity: 10,
      minUnits: 1,
      maxUnits: 10,
    });
    t.like(backend, { owner: 'pl1', policy: 'quantile', limits: 'protect' });
    for (const p of pools) {
      for (const k of ['units', 'readyUnits', 'demand'] as const)
        t.is(typeof p[k], 'number', `${p.name}.${k}`);
      t.true(p.units! >= 1 && p.readyUnits! <= p.units!, JSON.stringify(p));
      t.not(p.forecast, null, `${p.name}.forecast`);
      for (const k of ['p10', 'p50', 'p90', 'horizonMs'] as const)
        t.is(typeof p.forecast![k], 'number', `${p.name}.forecast.${k}`);
    }
    // 40 checks per second on the token (some steps see fewer while we poll status).
    t.true(api.demand! > 10, `demand ${api.demand}`);
    // The decision looks one 250 ms step past the 3 s lead (read between the node's 5 s horizon and now).
    t.is(api.forecast!.horizonMs, 3250);
  }

  // Every scale-up is one info line naming the pool, the units and why.
  await waitUntil(
    () => /pool api: scale-up from 1 to \d+ units \(policy quantile/.test(node.output()),
    5000,
    'a scale-up line',
  );
  t.regex(node.output(), /pool backend: scale-up from 1 to \d+ units \(policy quantile/);
});
