// The client library (client/) against a real nats-server and three real
// `headroom start` processes: the topology the nodes publish, checks routed
// to their owners deciding exactly as `headroom.v1.check` does on a seeded
// sequence, batching, per-node subjects answering for tokens they do not own,
// and a client whose topology is stale (or names a node that is gone).
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { HeadroomClient } from '../../client/index.ts';
import {
  InputError,
  Placement,
  RuleSet,
  compileRule,
  mulberry32,
  parseRule,
  tokenKeyOf,
} from '../../lib/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { TopologyWatch } from '../helpers/topology-watch.ts';

interface Ctx {
  nats: NatsServer;
  nodes: NodeProcess[];
  nc: NatsConnection;
  watch: TopologyWatch;
  hr: HeadroomClient;
}
const test = anyTest as TestFn<Ctx>;

const IDS = ['c1', 'c2', 'c3'];
// Twin rules: the same limit, told apart by `lane`, so one sequence runs through the client
// (lane sdk) and through headroom.v1.check (lane plain) against separate tokens. A long period:
// no refill during the test, so both lanes must give exactly the same decisions.
const twin = (lane: string): Record<string, unknown> => ({
  id: `twin-${lane}`,
  match: { lane },
  key: ['user'],
  rate: 6,
  period: '1h',
  burst: 6,
});
const RULE_IDS = ['twin-sdk', 'twin-plain', 'twin-stale', 'twin-ghost'];

test.before(async (t) => {
  t.context.nats = await startNatsServer();
  t.context.nc = await client(t.context.nats.url);
  // Subscribed before the nodes start: it hears every notice they publish.
  t.context.watch = new TopologyWatch(t.context.nc);
  t.context.nodes = await Promise.all(
    IDS.map((id) =>
      startNodeProcess({
        nodeId: id,
        args: ['--nats', t.context.nats.url, '--store', 'none', '--forecast', 'false'],
      }),
    ),
  );
  await settle(t.context.nc, IDS);
  for (const lane of ['sdk', 'plain', 'stale', 'ghost']) {
    const put = await request(t.context.nc, 'headroom.v1.rules.put', twin(lane));
    if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
  }
  const version = await t.context.watch.agreed(IDS, RULE_IDS);
  // The owner timeout well above a loaded machine's delays: these tests are about routing and
  // decisions, and an owner slower than the default 500 ms (a CI run beside other load) made a
  // routed check fall back once (client-faults tests the timeout itself).
  t.context.hr = await HeadroomClient.connect({
    servers: t.context.nats.url,
    topologyRefreshMs: 60_000,
    ownerTimeoutMs: 4000,
  });
  if (t.context.hr.topologyVersion !== version)
    throw new Error(`client topology ${t.context.hr.topologyVersion}, nodes ${version}`);
});

test.after.always(async (t) => {
  await t.context.hr?.close();
  t.context.watch?.stop();
  await t.context.nc?.close();
  await Promise.all((t.context.nodes ?? []).map((n) => n.stop('SIGKILL')));
  await t.context.nats?.stop();
});

/** The seeded sequence: (user, cost) pairs over a few users, so most of them run out. */
function sequence(seed: number, n: number): Array<{ user: string; cost: number }> {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => ({
    user: `u${Math.floor(rnd() * 12)}`,
    cost: 1 + Math.floor(rnd() * 3),
  }));
}

/** Compares a reply through `lane` with the plain path's, rule ids and tokens aside. */
function same(a: any, b: any): boolean {
  return (
    a.allow === b.allow &&
    a.limit === b.limit &&
    a.remaining === b.remaining &&
    Math.abs(a.retryAfterMs - b.retryAfterMs) < 2000 &&
    a.shadowDenied.length === b.shadowDenied.length
  );
}

test.serial(
  'client - topology lists the live nodes and the rules, the same version from every node',
  async (t) => {
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => request(t.context.nc, 'headroom.v1.topology', {})),
    );
    t.deepEqual(new Set(replies.map((r) => r.version)).size, 1);
    t.deepEqual(replies[0].nodes, IDS);
    t.deepEqual(
      replies[0].rules.map((r: { id: string }) => r.id),
      [...RULE_IDS].sort(),
    );
    t.true(new Set(replies.map((r) => r.node)).size >= 2, 'the queue group spread the requests');
    const bad = await request(t.context.nc, 'headroom.v1.topology', { x: 1 });
    t.is(bad.error?.code, 'HEADROOM_ERR_UNKNOWN_FIELD');
  },
);

test.serial('client - routed checks decide exactly as headroom.v1.check on a seeded sequence', async (t) => {
  const { hr, nc } = t.context;
  const before = hr.stats;
  let allowed = 0;
  for (const { user, cost } of sequence(20261206, 150)) {
    const routed = await hr.check({ user, lane: 'sdk' }, cost);
    const plain = await request(nc, 'headroom.v1.check', { params: { user, lane: 'plain' }, cost });
    t.true(
      same(routed, plain),
      `${user} cost ${cost}: ${JSON.stringify(routed)} vs ${JSON.stringify(plain)}`,
    );
    t.is(routed.rule, 'twin-sdk');
    if (routed.allow) allowed++;
  }
  t.true(allowed > 10 && allowed < 150, `allowed ${allowed}: both outcomes exercised`);
  const after = hr.stats;
  t.is(after.routed - before.routed, 150, 'every check went to its owner');
  t.is(after.fallbacks, before.fallbacks);
});

test.serial('client - checks queued together travel in one message per owner', async (t) => {
  const { hr } = t.context;
  const before = hr.stats;
  const users = Array.from({ length: 60 }, (_, i) => `b${i}`);
  const replies = await Promise.all(users.map((user) => hr.check({ user, lane: 'sdk' })));
  t.true(replies.every((r) => r.allow && r.remaining === 5));
  const batch = await hr.checkBatch(users.map((user) => ({ params: { user, lane: 'sdk' }, cost: 2 })));
  t.true(batch.every((r) => r.allow && r.remaining === 3));
  const sent = hr.stats.routed - before.routed;
  t.true(sent <= 2 * IDS.length, `${sent} messages for 120 checks over ${IDS.length} owners`);
  await t.throwsAsync(hr.check({ user: 'x' }, -1), { instanceOf: InputError, message: /cost/ });
  await t.throwsAsync(hr.checkBatch([{ params: { user: 'x', nested: {} as never } }]), {
    instanceOf: InputError,
    message: /params/,
  });
});

test.serial('client - a node answers checks for tokens it does not own as their owner would', async (t) => {
  const { nc } = t.context;
  const rules = new RuleSet([compileRule(parseRule(twin('plain')))]);
  const placement = new Placement(IDS);
  // Users whose token each node does not own, sent to that node's own subject.
  for (const id of IDS) {
    const user = Array.from({ length: 100 }, (_, i) => `w${id}-${i}`).find(
      (u) => placement.owner(tokenKeyOf(rules.rules[0]!, { user: u })) !== id,
    )!;
    const remaining: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await request(nc, `headroom.v1.node.${id}.check`, { params: { user, lane: 'plain' } });
      remaining.push(r.allow ? r.remaining : -1);
    }
    // One budget, decided by the owner: 6 allowed then denied, wherever the check arrived.
    t.deepEqual(remaining, [5, 4, 3, 2, 1, 0, -1, -1]);
    const b = await request(nc, `headroom.v1.node.${id}.check.batch`, {
      requests: [{ params: { user, lane: 'plain' } }, { params: { user: `${user}-b`, lane: 'plain' } }],
    });
    t.deepEqual(
      b.results.map((r: { allow: boolean }) => r.allow),
      [false, true],
    );
  }
  const bad = await request(nc, 'headroom.v1.node.c1.check', { params: { user: 'x' }, cost: 0 });
  t.is(bad.error?.code, 'HEADROOM_ERR_INVALID_FIELD');
});

test.serial(
  'client - a stale topology (one node, or a node that is gone) still gets the owners decisions',
  async (t) => {
    const { nc, nats } = t.context;
    const current = await request(nc, 'headroom.v1.topology', {});
    for (const [lane, nodes] of [
      ['stale', ['c2']],
      ['ghost', ['c1', 'c2', 'c3', 'gone-1', 'gone-2']],
    ] as const) {
      const stale = await HeadroomClient.connect({ servers: nats.url, topologyRefreshMs: 60_000 });
      try {
        // A notice from the past: the client adopts it and routes by it.
        nc.publish(
          'headroom.v1.topology.changed',
          JSON.stringify({ ...current, version: lane === 'stale' ? '0000000a' : '0000000b', nodes }),
        );
        await nc.flush();
        for (let i = 0; i < 50 && stale.topologyVersion !== (lane === 'stale' ? '0000000a' : '0000000b'); i++)
          await new Promise((r) => setTimeout(r, 20));
        t.is(stale.topologyVersion, lane === 'stale' ? '0000000a' : '0000000b');
        for (const { user, cost } of sequence(7, 60)) {
          const routed = await stale.check({ user, lane }, cost);
          const plain = await request(nc, 'headroom.v1.check', {
            params: { user: `${user}-p-${lane}`, lane: 'plain' },
            cost,
          });
          t.true(
            same(routed, plain),
            `${lane} ${user}: ${JSON.stringify(routed)} vs ${JSON.stringify(plain)}`,
          );
        }
        if (lane === 'ghost') t.true(stale.stats.fallbacks > 0, 'checks for a gone node fell back');
      } finally {
        await stale.close();
      }
    }
  },
);

test.serial('client - options are checked at the edge', async (t) => {
  await t.throwsAsync(HeadroomClient.connect({ servers: t.context.nats.url, ownerTimeoutMs: -1 }), {
    instanceOf: InputError,
    message: /options.ownerTimeoutMs/,
  });
  await t.throwsAsync(HeadroomClient.connect({ servers: t.context.nats.url, ownerTimeOut: 5 } as never), {
    instanceOf: InputError,
    message: /options.ownerTimeOut is not a known option/,
  });
});

test.serial('client - a malformed topology notice is counted and changes nothing', async (t) => {
  const { hr, nc } = t.context;
  const version = hr.topologyVersion;
  const before = hr.stats.badNotices;
  nc.publish('headroom.v1.topology.changed', JSON.stringify({ version: 1, nodes: ['evil'] }));
  nc.publish('headroom.v1.topology.changed', 'not json');
  await nc.flush();
  for (let i = 0; i < 50 && hr.stats.badNotices < before + 2; i++)
    await new Promise((r) => setTimeout(r, 20));
  t.is(hr.stats.badNotices, before + 2);
  t.is(hr.topologyVersion, version);
  t.true((await hr.check({ user: 'after-bad', lane: 'sdk' })).allow);
});
