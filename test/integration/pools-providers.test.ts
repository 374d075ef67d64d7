// The `db` and `process` pool kinds inside a running `headroom start`
// process: demand through the check API makes the pools' managers open real
// PostgreSQL connections (counted on the server) and start real worker
// processes (which serve the backend action through a traffic router), and
// a graceful stop closes them all.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { ServiceBroker } from 'moleculer';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import { TrafficRouter } from '../../services/index.ts';
import type { PoolStatus } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { observerBroker } from '../helpers/observer-broker.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import {
  alive,
  childProcesses,
  client,
  request,
  startNodeProcess,
  waitUntil,
} from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

// CI starts PostgreSQL on 127.0.0.1:5432 (trust auth), as for providers-db.test.ts.
const PG = { host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres' };
const APP = `headroom-it-pools-${process.pid}`;
const DB_RULE = { id: 'orders', key: ['user'], match: { op: 'order' }, rate: 1000, period: '1s' };
const WORK_RULE = { id: 'reports', key: ['user'], match: { op: 'report' }, rate: 1000, period: '1s' };
const WORKER = 'worker-main.ts';

interface Ctx {
  nats: NatsServer;
  dir: string;
  admin: pg.Client;
  observer: ServiceBroker;
  nc: NatsConnection;
  node: NodeProcess;
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const admin = new pg.Client({ ...PG, application_name: `${APP}-admin`, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `pools-providers needs PostgreSQL on ${PG.host}:${PG.port} (user ${PG.user}, trust auth)`,
      {
        cause: err,
      },
    );
  }
  const nats = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-pools-providers-'));
  const namespace = `pools-providers-${process.pid}`;
  const observer = observerBroker(nats.url, namespace);
  t.context = { admin, nats, dir, observer } as Ctx;
  await observer.start();
  const poolsFile = join(dir, 'pools.json');
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [
        {
          name: 'pg',
          rules: [DB_RULE.id],
          kind: 'db',
          // One connection serves 5 requests per second.
          unitCapacity: 5,
          minUnits: 1,
          maxUnits: 6,
          stepMs: 500,
          leadMs: 0,
          db: { ...PG, applicationName: APP },
        },
        {
          name: 'work',
          rules: [WORK_RULE.id],
          kind: 'process',
          unitCapacity: 15,
          minUnits: 1,
          maxUnits: 3,
          stepMs: 500,
          leadMs: 1000,
          process: { workRounds: 200, stopTimeoutMs: 3000 },
        },
      ],
    }),
  );
  t.context.node = await startNodeProcess({
    nodeId: 'pp1',
    args: [
      ...['--nats', nats.url, '--namespace', namespace, '--data-dir', join(dir, 'pp1')],
      ...['--pools-file', poolsFile, '--store', 'none', '--forecast', 'false', '--heartbeat', '1s'],
    ],
  });
  await observer.waitForServices(['pools'], 10_000);
  t.context.nc = await client(nats.url);
  for (const rule of [DB_RULE, WORK_RULE]) {
    const put = await request(t.context.nc, 'headroom.v1.rules.put', rule);
    if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
  }
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.node?.stop('SIGKILL');
  await t.context.observer?.stop();
  await t.context.nats?.stop();
  await t.context.admin?.end();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

async function poolStatus(t: { context: Ctx }, pool: string): Promise<PoolStatus | undefined> {
  const all = await t.context.observer
    .call<PoolStatus[], Record<string, never>>('pools.status', {}, { timeout: 2000 })
    .catch(() => []);
  return all.find((p) => p.pool === pool);
}

/** Connections of the node's `db` pool open on the PostgreSQL server. */
async function onServer(t: { context: Ctx }): Promise<number> {
  const r = await t.context.admin.query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
    [APP],
  );
  return Number(r.rows[0]!.n);
}

/** `perSecond` checks a second for one token of `op`, through the NATS API, until stopped. */
function drive(nc: NatsConnection, op: string, perSecond: number): () => Promise<void> {
  let on = true;
  const loops = Array.from({ length: Math.ceil(perSecond / 10) }, async (_, i) => {
    while (on) {
      await request(nc, 'headroom.v1.check', { params: { user: 'u1', op } }, 3000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100 + i));
    }
  });
  return async () => {
    on = false;
    await Promise.all(loops);
  };
}

test.serial(
  'pools providers - the db pool opens connections on the server with demand, closes them after',
  async (t) => {
    await waitUntil(async () => (await onServer(t)) === 1, 10_000, 'the db pool minimum (1 connection) open');
    // About 50 requests per second on 5 per connection: the manager wants its maximum, 6 connections.
    const stop = drive(t.context.nc, 'order', 50);
    let peak = 0;
    let status: PoolStatus | undefined;
    try {
      await waitUntil(
        async () => {
          status = await poolStatus(t, 'pg');
          peak = Math.max(peak, await onServer(t));
          return peak >= 4 && status?.owner === 'pp1' && (status.ready ?? 0) >= 4;
        },
        15_000,
        `at least 4 connections (peak ${peak}, status ${JSON.stringify(status)})`,
      );
      // Open connections are the manager's ready units (one connection per unit), once it is not
      // scaling: read while it opens more, the server counts connections not yet ready (CI: 6 vs 4).
      let s: PoolStatus | undefined;
      let n = 0;
      await waitUntil(
        async () => {
          s = await poolStatus(t, 'pg');
          n = await onServer(t);
          const again = await poolStatus(t, 'pg');
          return s?.ready === s?.target && again?.ready === s?.ready && Math.abs(n - s!.ready!) <= 1;
        },
        10_000,
        "the server's connections to match the pool's ready units once it is steady",
      );
      s = s!;
      t.log(
        `under load: ${n} connections on the server; status ready ${s.ready}, target ${s.target}, leases ${s.leases}`,
      );
      t.true(Math.abs(n - s.ready!) <= 1, `server ${n} vs ready ${s.ready}`);
      t.true(s.leases! >= 1);
      t.true(s.target! >= 4 && s.target! <= 6, `target ${s.target} within 4..maxUnits`);
    } finally {
      await stop();
    }
    // No demand: the manager releases down to the minimum and the server sees them close.
    await waitUntil(
      async () => (await onServer(t)) === 1,
      15_000,
      'the connections closed down to the minimum',
    );
    const after = (await poolStatus(t, 'pg'))!;
    t.log(`after the load: ${await onServer(t)} connection(s); last decision ${after.lastDecision?.kind}`);
    t.is(after.ready, 1);
    t.is(after.target, 1);
  },
);

test.serial(
  'pools providers - the process pool starts workers that serve, and a node stop ends them',
  async (t) => {
    const { node, observer } = t.context;
    // About 50 per second on 15 per worker: the manager wants its maximum, three workers.
    const stop = drive(t.context.nc, 'report', 50);
    let status: PoolStatus | undefined;
    let children: Awaited<ReturnType<typeof childProcesses>> = [];
    let replies: Array<{
      nodeID: string;
      result: { nodeID: string; pid: number; rounds: number; digest: string };
    }>;
    const router = new TrafficRouter(
      { action: 'backend.work', unitConcurrency: 4 },
      { broker: observer, units: () => status?.units ?? [] },
    );
    try {
      await waitUntil(
        async () => {
          status = await poolStatus(t, 'work');
          return (status?.units?.length ?? 0) >= 3;
        },
        20_000,
        `three ready workers (status ${JSON.stringify(status)})`,
      );
      children = await childProcesses(node.child.pid!, WORKER);
      for (const unit of status!.units!)
        t.is(
          children.filter((c) => c.cmdline.includes(`"nodeID":"${unit}"`)).length,
          1,
          `ready unit ${unit} is a worker process of the node`,
        );
      // The backend action, routed to the pool's ready units by their spare capacity
      // (demand still on, so the manager holds them).
      replies = await Promise.all(
        Array.from({ length: 24 }, () =>
          router.call<{ nodeID: string; pid: number; rounds: number; digest: string }>({ rounds: 50 }),
        ),
      );
    } finally {
      await stop();
    }
    for (const { nodeID, result } of replies) {
      t.is(result.nodeID, nodeID);
      // The work was done: 50 chained SHA-256 rounds from the worker's id.
      let d = Buffer.from(nodeID);
      for (let i = 0; i < result.rounds; i++) d = createHash('sha256').update(d).digest();
      t.is(result.digest, d.toString('hex'));
    }
    const pids = [...new Set(replies.map((r) => r.result.pid))].sort();
    t.log(
      `24 routed calls served by ${JSON.stringify(Object.fromEntries(router.served()))}, pids ${pids.join(',')}`,
    );
    t.true(pids.length >= 2, 'the router spread the calls over several workers');
    t.deepEqual(
      pids.filter((pid) => !children.some((c) => c.pid === pid)),
      [],
      'every serving pid is a worker the node started',
    );

    const stoppedAt = Date.now();
    const code = await node.stop('SIGTERM');
    t.log(`node stopped in ${Date.now() - stoppedAt} ms`);
    t.is(code, 0, 'graceful stop exits 0');
    t.deepEqual(
      children.map((c) => c.pid).filter((pid) => alive(pid)),
      [],
      'no worker outlives the node',
    );
    t.deepEqual(
      (await childProcesses(null, WORKER)).filter((w) => w.cmdline.includes(t.context.nats.url)),
      [],
      'no worker of this cluster is left, whoever its parent',
    );
    t.is(await onServer(t), 0, 'the db pool closed its connections');
  },
);
