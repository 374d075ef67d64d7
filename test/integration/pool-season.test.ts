// A pool's seasonal memory survives its manager moving, across real
// `headroom start` processes and a real nats-server with JetStream: the
// manager checkpoints its season to the KV bucket `<ns>_pools`
// (services/pools/season-keeper.ts); when the owner leaves gracefully its
// last checkpoint goes to the next owner whole, and when the owner is
// SIGKILLed the next owner starts from a checkpoint at most
// `seasonCheckpointMs` old.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { ServiceBroker } from 'moleculer';
import type { NatsConnection } from 'nats';
import { decodeSeasonCheckpoint, ownerOf } from '../../lib/index.ts';
import { poolKey, seasonBucket, seasonKey } from '../../services/pools/index.ts';
import type { PoolStatus } from '../../services/pools/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { observerBroker } from '../helpers/observer-broker.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

interface Ctx {
  nats: NatsServer;
  dir: string;
  poolsFile: string;
  namespace: string;
  nodes: Map<string, NodeProcess>;
  nc: NatsConnection;
  observer: ServiceBroker;
  load: { last: () => any; stop: () => Promise<void> };
}
const test = anyTest as TestFn<Ctx>;

const POOL = 'api';
const RULE = { id: 'seasoned', key: ['user'], rate: 5, period: '1s' };
const STEP_MS = 500;
/** A season of 60 steps (and a level window of 5): full within the test. */
const SEASON_MS = 30_000;
/** Checkpoints every 4 steps. */
const CHECKPOINT_STEPS = 4;

test.before(async (t) => {
  const nats = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-pool-season-'));
  const poolsFile = join(dir, 'pools.json');
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [
        {
          name: POOL,
          rules: [RULE.id],
          kind: 'simulated',
          unitCapacity: 50,
          minUnits: 1,
          maxUnits: 4,
          stepMs: STEP_MS,
          leadMs: 1000,
          seasonMs: SEASON_MS,
          seasonCheckpointMs: CHECKPOINT_STEPS * STEP_MS,
        },
      ],
    }),
  );
  const namespace = `pool-season-${process.pid}`;
  const observer = observerBroker(nats.url, namespace);
  t.context = { nats, dir, poolsFile, namespace, nodes: new Map(), observer } as Ctx;
  await observer.start();
  await Promise.all(['n1', 'n2'].map((id) => startNode(t, id)));
  t.context.nc = await client(nats.url);
  await settle(t.context.nc, ['n1', 'n2']);
  const put = await request(t.context.nc, 'headroom.v1.rules.put', RULE);
  if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
  t.context.load = drive(t.context.nc, 'season-user');
});

test.after.always(async (t) => {
  await t.context.load?.stop();
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

/** Checks for one user every 50 ms through the NATS API until stopped: the pool's demand. */
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

async function poolStatus(t: { context: Ctx }): Promise<PoolStatus | undefined> {
  const all = await t.context.observer
    .call<PoolStatus[], Record<string, never>>('pools.status', {}, { timeout: 2000 })
    .catch(() => []);
  return all.find((p) => p.pool === POOL);
}

/** Polls `pools.status` until `ok` holds of the pool's entry; returns that entry. */
async function statusWhen(
  t: { context: Ctx },
  ok: (s: PoolStatus) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<PoolStatus> {
  let s: PoolStatus | undefined;
  await waitUntil(
    async () => {
      s = await poolStatus(t);
      return s !== undefined && ok(s);
    },
    timeoutMs,
    `${what} (last status ${JSON.stringify(s?.seasonal ?? s)}, owner ${s?.owner})`,
  );
  return s!;
}

/** The pool's checkpoint as the KV bucket holds it now, decoded as a manager would. */
async function checkpoint(t: { context: Ctx }) {
  const js = t.context.nc.jetstream();
  const kv = await js.views.kv(seasonBucket(t.context.namespace));
  const e = await kv.get(seasonKey(POOL));
  if (e === null) throw new Error('no checkpoint');
  const steps = Math.round(SEASON_MS / STEP_MS);
  const size = steps + Math.round(steps / 12);
  const cp = decodeSeasonCheckpoint(
    e.string(),
    { pool: POOL, stepMs: STEP_MS, seasonSteps: steps, size },
    1e15,
  );
  let sum = 0;
  let known = 0;
  for (const v of cp.values)
    if (!Number.isNaN(v)) {
      sum += v;
      known++;
    }
  return { cp, sum, known };
}

const live = (t: { context: Ctx }): string[] => [...t.context.nodes.keys()].sort();

test.serial('pool season - a graceful leave hands the season to the next owner whole', async (t) => {
  const { nodes } = t.context;
  const owner = ownerOf(poolKey(POOL), live(t))!;
  // Enough of a season to be worth keeping: a dozen steps of demand.
  const before = await statusWhen(
    t,
    (s) => s.owner === owner && (s.seasonal?.knownSteps ?? 0) >= 12,
    `${owner} keeps a season`,
  );
  const code = await nodes.get(owner)!.stop('SIGTERM');
  nodes.delete(owner);
  t.is(code, 0, 'graceful stop exits 0');
  // The checkpoint the old owner wrote on its way out: at least as new as what it last reported.
  const last = await checkpoint(t);
  t.is(last.cp.node, owner);
  t.true(
    last.cp.lastStep >= before.seasonal!.lastStep!,
    `${last.cp.lastStep} >= ${before.seasonal!.lastStep}`,
  );
  t.true(last.known >= before.seasonal!.knownSteps);

  const heir = live(t)[0]!;
  const s = await statusWhen(
    t,
    (x) => x.owner === heir && x.seasonal?.recoveredFrom !== null && x.seasonal?.recoveredFrom !== undefined,
    `${heir} recovers the season`,
  );
  const got = s.seasonal!;
  t.log(`${owner} left at step ${before.seasonal!.lastStep}; ${heir} recovered ${JSON.stringify(got)}`);
  // The heir took the old owner's last checkpoint, all of it (a step it observed itself first excepted).
  t.deepEqual(got.recoveredFrom, {
    node: owner,
    lastStep: last.cp.lastStep,
    ageSteps: got.recoveredFrom!.ageSteps,
    final: true,
    sum: last.sum,
  });
  t.true(
    got.recoveredSteps >= last.known - 1 && got.recoveredSteps <= last.known,
    `${got.recoveredSteps} of ${last.known}`,
  );
  t.true(got.knownSteps >= got.recoveredSteps);
  // headroom.v1.status says so too.
  const api = await request<{ pools: Array<{ name: string; seasonal: unknown }> }>(
    t.context.nc,
    'headroom.v1.status',
    {},
  );
  const entry = api.pools.find((p) => p.name === POOL);
  t.like(entry?.seasonal, { recoveredSteps: got.recoveredSteps });
});

test.serial(
  'pool season - after a SIGKILL the next owner starts from a checkpoint at most one interval old',
  async (t) => {
    const { nodes } = t.context;
    await startNode(t, 'n3');
    await settle(t.context.nc, live(t));
    const owner = ownerOf(poolKey(POOL), live(t))!;
    // The owner (the pool may have moved to the joiner) has ticked and checkpointed a while.
    await statusWhen(
      t,
      (s) => s.owner === owner && s.seasonal?.checkpointStep !== null && (s.seasonal?.knownSteps ?? 0) >= 12,
      `${owner} checkpoints its season`,
    );
    const before = (await statusWhen(t, (s) => s.owner === owner, `${owner} answers`)).seasonal!;
    await nodes.get(owner)!.stop('SIGKILL');
    nodes.delete(owner);
    // Read before the heir (a heartbeat timeout away) can write its own.
    const cp = await checkpoint(t);
    t.is(cp.cp.node, owner);

    const heir = ownerOf(poolKey(POOL), live(t))!;
    const s = await statusWhen(
      t,
      (x) => x.owner === heir && x.seasonal?.recoveredFrom?.node === owner,
      `${heir} recovers ${owner}'s season`,
    );
    const got = s.seasonal!;
    t.log(`${owner} killed at step >= ${before.lastStep}; ${heir} recovered ${JSON.stringify(got)}`);
    // What it took is the killed owner's last checkpoint...
    t.like(got.recoveredFrom, { node: owner, lastStep: cp.cp.lastStep, final: false, sum: cp.sum });
    // ...at most one checkpoint interval behind the last step it reported (and a step for the status call).
    const behind = before.lastStep! - got.recoveredFrom!.lastStep;
    t.true(behind <= CHECKPOINT_STEPS + 1, `${behind} steps behind`);
    t.true(
      got.recoveredSteps >= before.knownSteps - CHECKPOINT_STEPS - 1,
      `${got.recoveredSteps} of ${before.knownSteps}`,
    );
  },
);
