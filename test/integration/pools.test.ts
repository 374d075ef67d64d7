// Live allocation in a node: a token drawing on a simulated pool sends its
// wants to the pool's owner, gets a lease that raises its limit, and the
// manager's decisions reach the store.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { compileNodeOptions, startNode } from '../../services/index.ts';
import type { PoolStatus } from '../../services/index.ts';
import { waitUntil } from '../helpers/node-process.ts';

test('pools - a token on a simulated pool gets a lease, status reports the pool, decisions are stored', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-pools-'));
  const poolsFile = join(dataDir, 'pools.json');
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [
        {
          name: 'api',
          rules: ['per-user'],
          kind: 'simulated',
          unitCapacity: 100,
          minUnits: 1,
          maxUnits: 10,
          stepMs: 200,
          leadMs: 0,
        },
      ],
    }),
  );
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      {
        dataDir,
        httpPort: null,
        logLevel: 'error',
        nodeId: 'p1',
        forecastEveryMs: '200ms',
        forecastHorizonsMs: '1s,3s',
        trainer: 'false',
        poolsFile,
      },
    ),
  );
  // Demand: a few checks every 50 ms until the test is done.
  let driving = true;
  const drive = (async () => {
    while (driving) {
      for (let i = 0; i < 3; i++)
        await node.api.handle('check', JSON.stringify({ params: { user: 'u1' } }), ROOT_CONTEXT);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    t.truthy(node.pools);
    // Rule limit 5 per second: the pool's capacity (100 per second) is more.
    await node.api.handle(
      'rules.put',
      JSON.stringify({ id: 'per-user', key: ['user'], rate: 5, period: '1s' }),
      ROOT_CONTEXT,
    );
    await waitUntil(() => node.throttle.host.keys().length > 0, 5000, 'a token actor');
    const token = node.throttle.host.keys()[0]!;
    type Described = { lease?: { rate: number; stepMs: number }; effectiveLimit: { rate: number } };
    await waitUntil(
      () => (node.throttle.describe(token) as Described).lease !== undefined,
      10_000,
      'a lease on the token actor',
    );
    const d = node.throttle.describe(token) as Described;
    t.is(d.lease!.stepMs, 200);
    t.true(d.lease!.rate > 0);
    t.true(d.effectiveLimit.rate > 5, `effective limit ${d.effectiveLimit.rate}`);

    const status = await node.broker.call<PoolStatus[]>('pools.status');
    t.is(status.length, 1);
    t.like(status[0], { pool: 'api', owner: 'p1' });
    t.true(status[0]!.leases! >= 1);
    t.true(status[0]!.ready! >= 1);
    t.like(status[0]!.lastDecision, { pool: 'api' });

    const { batcher, store } = node.collection;
    let rows: { pool: string; kind: string; token?: string; detail: string }[] = [];
    await waitUntil(
      async () => {
        await batcher!.flush();
        rows = await store!.decisions(0, Date.now() + 60_000);
        return rows.some((r) => r.kind === 'lease');
      },
      10_000,
      'a lease decision in the store',
    );
    const lease = rows.find((r) => r.kind === 'lease')!;
    t.is(lease.pool, 'api');
    t.truthy(lease.token);
    t.not(lease.token, token, 'the stored token is the keyed hash');
    const detail = JSON.parse(lease.detail) as { forecast: { horizons: number[]; p90: number[] } };
    // Forecasts at 1 s and 3 s, read at the pool's planning horizon: no lead, one 200 ms step ahead.
    t.deepEqual(detail.forecast.horizons, [1]);
    t.is(detail.forecast.p90.length, 1);
  } finally {
    driving = false;
    await drive.catch(() => undefined);
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('pools - a bad pools file stops the node from starting, naming the field', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-pools-'));
  const poolsFile = join(dataDir, 'pools.json');
  await writeFile(poolsFile, JSON.stringify({ pools: [{ name: 'api', rules: ['r'], kind: 'cloud' }] }));
  try {
    await t.throwsAsync(
      startNode(
        compileNodeOptions(
          undefined,
          {},
          { dataDir, httpPort: null, logLevel: 'error', nodeId: 'p2', poolsFile },
        ),
      ),
      { message: /pools\.pools\[0\]\.kind/ },
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
