// A pool's ownership moving across real `headroom start` processes: the
// owner (placement key `pool:<name>`) runs the pool's manager and its
// `process` provider's worker processes; a graceful leave hands the pool to
// another node, and a join moves it to the joiner when the placement says
// so, the old owner's workers gone before the new owner's start.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { ServiceBroker } from 'moleculer';
import type { NatsConnection } from 'nats';
import { ownerOf } from '../../lib/index.ts';
import { poolKey } from '../../services/index.ts';
import type { PoolStatus } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { observerBroker } from '../helpers/observer-broker.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import {
  alive,
  childProcesses,
  client,
  request,
  settle,
  startNodeProcess,
  waitUntil,
} from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

interface Ctx {
  nats: NatsServer;
  dir: string;
  poolsFile: string;
  namespace: string;
  nodes: Map<string, NodeProcess>;
  nc: NatsConnection;
  /** A plain Moleculer node in the cluster's namespace: reads `pools.status`. */
  observer: ServiceBroker;
}
const test = anyTest as TestFn<Ctx>;

const POOL = 'api';
const RULE = { id: 'pooled', key: ['user'], rate: 5, period: '1s' };
const WORKER = 'worker-main.ts';

test.before(async (t) => {
  const nats = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-pools-cluster-'));
  const poolsFile = join(dir, 'pools.json');
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [
        {
          name: POOL,
          rules: [RULE.id],
          kind: 'process',
          unitCapacity: 50,
          minUnits: 1,
          maxUnits: 2,
          stepMs: 500,
          leadMs: 1000,
          process: { workRounds: 200, stopTimeoutMs: 3000 },
        },
      ],
    }),
  );
  const namespace = `pools-cluster-${process.pid}`;
  const observer = observerBroker(nats.url, namespace);
  t.context = { nats, dir, poolsFile, namespace, nodes: new Map(), observer } as Ctx;
  await observer.start();
  await Promise.all(['n1', 'n2'].map((id) => startNode(t, id)));
  t.context.nc = await client(nats.url);
  await settle(t.context.nc, ['n1', 'n2']);
  const put = await request(t.context.nc, 'headroom.v1.rules.put', RULE);
  if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await Promise.all([...(t.context.nodes?.values() ?? [])].map((n) => n.stop('SIGKILL')));
  await t.context.observer?.stop();
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

async function startNode(t: { context: Ctx }, id: string): Promise<NodeProcess> {
  const { nats, dir, poolsFile, namespace } = t.context;
  const node = await startNodeProcess({
    nodeId: id,
    args: [
      ...['--nats', nats.url, '--namespace', namespace, '--data-dir', join(dir, id)],
      ...['--pools-file', poolsFile, '--store', 'none', '--forecast', 'false', '--heartbeat', '1s'],
    ],
  });
  t.context.nodes.set(id, node);
  return node;
}

async function poolStatus(t: { context: Ctx }): Promise<PoolStatus> {
  const all = await t.context.observer.call<PoolStatus[], Record<string, never>>(
    'pools.status',
    {},
    { timeout: 2000 },
  );
  const s = all.find((p) => p.pool === POOL);
  if (s === undefined) throw new Error(`pools.status lists no pool ${POOL}: ${JSON.stringify(all)}`);
  return s;
}

/** Checks for one user every 50 ms through the NATS API until stopped; keeps the last reply. */
function drive(nc: NatsConnection, user: string): { last: () => any; stop: () => Promise<void> } {
  let on = true;
  let last: any;
  const loop = (async () => {
    while (on) {
      last = await request(nc, 'headroom.v1.check', { params: { user } }, 3000).catch((e: Error) => ({
        error: e.message,
      }));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    last: () => last,
    stop: async () => {
      on = false;
      await loop;
    },
  };
}

/**
 * Waits until `owner` runs the pool with a ready worker and a lease granted
 * since `sinceMs`, and a check of the driven token answers a limit above
 * the rule's own (the lease raised it).
 */
async function servedBy(
  t: { context: Ctx },
  owner: string,
  sinceMs: number,
  load: { last: () => any },
): Promise<PoolStatus> {
  let s: PoolStatus | undefined;
  await waitUntil(
    async () => {
      s = await poolStatus(t).catch(() => undefined);
      return (
        s?.owner === owner &&
        (s.ready ?? 0) >= 1 &&
        (s.leases ?? 0) >= 1 &&
        (s.lastDecision?.atMs ?? 0) > sinceMs &&
        load.last()?.limit > RULE.rate
      );
    },
    20_000,
    `pool ${POOL} served by ${owner} (last status ${JSON.stringify(s)}, last check ${JSON.stringify(load.last())})`,
  );
  return s!;
}

/** The worker processes a node's pool runner spawned. */
async function workersOf(node: NodeProcess): Promise<number[]> {
  return (await childProcesses(node.child.pid!, WORKER)).map((p) => p.pid);
}

test.serial('pools cluster - a graceful leave of the owner hands the pool to another node', async (t) => {
  const { nodes, nc } = t.context;
  const load = drive(nc, 'leave-user');
  try {
    const owner = ownerOf(poolKey(POOL), [...nodes.keys()].sort())!;
    await servedBy(t, owner, 0, load);
    const before = await workersOf(nodes.get(owner)!);
    t.true(before.length >= 1, `the owner ${owner} runs worker processes`);
    for (const [id, n] of nodes) if (id !== owner) t.deepEqual(await workersOf(n), [], `${id} runs none`);

    const leftAt = Date.now();
    const code = await nodes.get(owner)!.stop('SIGTERM');
    nodes.delete(owner);
    t.is(code, 0, 'graceful stop exits 0');
    t.deepEqual(
      before.filter((pid) => alive(pid)),
      [],
      'the old owner stopped its workers',
    );

    const heir = [...nodes.keys()][0]!;
    const s = await servedBy(t, heir, leftAt, load);
    t.log(
      `pool ${POOL}: ${owner} left; ${heir} took it over: ${JSON.stringify({ ...s, lastDecision: s.lastDecision?.kind })}`,
    );
    t.true((await workersOf(nodes.get(heir)!)).length >= 1, `${heir} runs worker processes`);
  } finally {
    await load.stop();
  }
});

test.serial(
  'pools cluster - a join moves the pool to the joiner, the old runner stopped first',
  async (t) => {
    const { nodes, nc } = t.context;
    const live = [...nodes.keys()].sort();
    const previous = ownerOf(poolKey(POOL), live)!;
    // A joiner the placement hands the pool to (rendezvous hashing: deterministic).
    const joiner = ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7', 'j8'].find(
      (id) => ownerOf(poolKey(POOL), [...live, id].sort()) === id,
    )!;
    t.truthy(joiner);
    const load = drive(nc, 'join-user');
    // Samples this cluster's pool workers (their config names this test's NATS
    // URL) until the hand-over is over: no sample may show workers under two
    // parents (two runners) at once. Any parent counts, so the joiner's workers
    // count from its first spawn, before it reports ready.
    const seen: Array<{ atMs: number; parents: number[] }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const workers = (await childProcesses(null, WORKER)).filter((w) =>
          w.cmdline.includes(t.context.nats.url),
        );
        seen.push({ atMs: Date.now(), parents: [...new Set(workers.map((w) => w.ppid))] });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await servedBy(t, previous, 0, load);
      const oldWorkers = await workersOf(nodes.get(previous)!);
      t.true(oldWorkers.length >= 1);
      const joinedAt = Date.now();
      await startNode(t, joiner);
      const s = await servedBy(t, joiner, joinedAt, load);
      t.log(
        `pool ${POOL}: ${joiner} joined and took it from ${previous}: ready ${s.ready}, leases ${s.leases}`,
      );
      t.deepEqual(
        oldWorkers.filter((pid) => alive(pid)),
        [],
        `${previous} stopped its workers`,
      );
      t.deepEqual(await workersOf(nodes.get(previous)!), []);
      t.true((await workersOf(nodes.get(joiner)!)).length >= 1);
    } finally {
      sampling = false;
      await sampler;
      await load.stop();
    }
    const both = seen.filter((x) => x.parents.length > 1);
    t.log(`${seen.length} samples of the workers during the join`);
    t.deepEqual(both, [], 'never two runners at once');
  },
);
