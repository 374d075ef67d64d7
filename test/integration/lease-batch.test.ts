// `headroom.v1.lease.batch` across processes: a real nats-server and two real `headroom start`
// nodes. A batch of asks for tokens of both nodes gets one grant per ask, in order, each from the
// token's owner and of the shape a single `lease` gets; the grants are real slices (renewed in a
// second batch, keeping their units, then returned). A batch mixing good asks with asks whose
// params match no rule or two gets grants and errors in place, each error the one a single
// `lease` gets; a malformed ask fails the whole batch with one error naming it. A batch sent to
// one node's own subject is granted by the owners, the other node's asks relayed to it.
// `headroom.v1.lease.return.batch` (on the queue group's subject and on a node's own, which
// relays the other node's returns): the returns land, each slice's units back in its owner's
// bucket (a rule that refills one unit in three minutes: a dry bucket lends its burst again only
// because of them), results in order, a slice returned twice failing in place, a malformed return
// failing the whole batch.
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { Placement } from '../../lib/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { TopologyWatch } from '../helpers/topology-watch.ts';

interface Ctx {
  nats: NatsServer;
  nodes: NodeProcess[];
  nc: NatsConnection;
}
const test = anyTest as TestFn<Ctx>;

const IDS = ['lb1', 'lb2'];
const RATE = 100;
const BURST = 20;
const placement = new Placement(IDS);
const ownerOf = (user: string): string => placement.owner(`hot|user=${user}`)!;
/** A rule that refills one unit every three minutes: what a dry bucket has comes from returns. */
const SLOW = { id: 'slow', key: ['acct'], rate: 20, period: '1h', burst: 20 };

/** `n` users named `<prefix><i>`, owned by both nodes (asserted). */
function users(prefix: string, n: number): string[] {
  const out = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  for (const id of IDS) {
    if (!out.some((u) => ownerOf(u) === id)) throw new Error(`no ${prefix} user owned by ${id}`);
  }
  return out;
}

const ask = (user: string, want = 5, client = 'c-batch'): Record<string, unknown> => ({
  client,
  params: { user },
  want,
});

type Reply = Record<string, any>;

test.before(async (t) => {
  t.context.nats = await startNatsServer();
  t.context.nodes = [];
  await Promise.all(
    IDS.map(async (id) => {
      t.context.nodes.push(
        await startNodeProcess({
          nodeId: id,
          readyTimeoutMs: 90_000,
          args: ['--nats', t.context.nats.url, '--store', 'none', '--forecast', 'false'],
        }),
      );
    }),
  );
  const nc = await client(t.context.nats.url);
  t.context.nc = nc;
  const watch = new TopologyWatch(nc);
  try {
    await settle(nc, IDS);
    for (const rule of [
      { id: 'hot', key: ['user'], rate: RATE, period: '1s', burst: BURST },
      { id: 'per-op', key: ['op'], rate: 1000, period: '1s' },
      SLOW,
    ]) {
      const put = await request(nc, 'headroom.v1.rules.put', rule);
      if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
    }
    await watch.agreed(IDS, ['hot', 'per-op', 'slow']);
  } finally {
    watch.stop();
  }
  // Both owners grant (past their pause after the view change), each through its own subject.
  await waitUntil(
    async () => {
      const r = await Promise.all(
        ['probe-a', 'probe-b', 'probe-c', 'probe-d'].map((u) =>
          request(nc, `headroom.v1.node.${ownerOf(u)}.lease`, ask(u, 1, 'c-probe')),
        ),
      );
      return r.every((g) => g.error === undefined);
    },
    20_000,
    'both nodes to grant slices',
  );
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await Promise.all((t.context.nodes ?? []).map((n) => n.stop('SIGKILL')));
  await t.context.nats?.stop();
});

test.serial(
  'lease batch - one grant per ask from each token owner, shaped as a single lease; renewed and returned',
  async (t) => {
    const { nc } = t.context;
    const batchUsers = users('u', 8);
    const reply = await request<Reply>(nc, 'headroom.v1.lease.batch', {
      asks: batchUsers.map((u) => ask(u)),
    });
    t.is(reply.error, undefined, JSON.stringify(reply.error));
    const results = reply['results'] as Reply[];
    t.is(results.length, batchUsers.length);
    const single = await request<Reply>(nc, 'headroom.v1.lease', ask('v0', 5, 'c-single'));
    t.is(single.error, undefined, JSON.stringify(single.error));
    const shape = (g: Reply): string[] =>
      Object.keys(g)
        .sort()
        .map((k) => `${k}:${typeof g[k]}`);
    for (const [i, g] of results.entries()) {
      const user = batchUsers[i]!;
      t.is(g.error, undefined, `${user}: ${JSON.stringify(g.error)}`);
      t.deepEqual(shape(g), shape(single), user);
      t.like(g, {
        node: ownerOf(user),
        token: `hot|user=${user}`,
        rule: 'hot',
        mode: 'enforce',
        limit: RATE,
        units: 5,
        holders: 1,
      });
      t.regex(g.lease, /^[A-Za-z0-9_-]{12}$/);
    }
    t.is(new Set(results.map((g) => g.lease)).size, results.length, 'one slice per ask');

    // Renewed in one batch: each slice keeps its unused units under a new id.
    const renewed = await request<Reply>(nc, 'headroom.v1.lease.batch', {
      asks: batchUsers.map((u, i) => ({ ...ask(u), previous: { lease: results[i]!.lease, unused: 5 } })),
    });
    const again = renewed['results'] as Reply[];
    for (const [i, g] of again.entries()) {
      t.like(g, { node: ownerOf(batchUsers[i]!), token: `hot|user=${batchUsers[i]}`, units: 5 });
      t.not(g.lease, results[i]!.lease);
    }
    // The renewed slices are the owners' own: each goes back whole to the node that granted it.
    const returned = await Promise.all(
      again.map((g) =>
        request<Reply>(nc, 'headroom.v1.lease.return', {
          node: g.node,
          lease: g.lease,
          token: g.token,
          unused: 5,
        }),
      ),
    );
    t.deepEqual(
      returned,
      again.map(() => ({ returned: 5 })),
    );
  },
);

test.serial(
  'lease batch - asks whose params match no rule or two fail in place, as a single lease does',
  async (t) => {
    const { nc } = t.context;
    const asks = [
      ask('m0'),
      { client: 'c-batch', params: { nobody: 'x' }, want: 5 },
      { client: 'c-batch', params: { user: 'm1', op: 'read' }, want: 5 },
      ask('m2'),
    ];
    const reply = await request<Reply>(nc, 'headroom.v1.lease.batch', { asks });
    t.is(reply.error, undefined, JSON.stringify(reply.error));
    const results = reply['results'] as Reply[];
    t.is(results.length, asks.length);
    t.like(results[0], { token: 'hot|user=m0', node: ownerOf('m0'), units: 5 });
    t.like(results[3], { token: 'hot|user=m2', node: ownerOf('m2'), units: 5 });
    for (const i of [1, 2]) {
      t.like(results[i], {
        error: { code: 'HEADROOM_ERR_INVALID_FIELD', field: 'params', retryable: false },
      });
      t.deepEqual(results[i], await request<Reply>(nc, 'headroom.v1.lease', asks[i]));
    }
    t.regex(results[2]!.error.message, /matching 2 \((hot, per-op|per-op, hot)\)/);

    // A malformed ask is no lease request at all: the batch fails whole, naming it.
    const bad = await request<Reply>(nc, 'headroom.v1.lease.batch', {
      asks: [ask('m3'), ask('m4'), { ...ask('m5'), want: 0 }],
    });
    t.like(bad, { error: { code: 'HEADROOM_ERR_INVALID_FIELD', field: 'asks[2].want', retryable: false } });
    t.regex(bad.error.message, /^asks\[2\]\.want must be .*got 0$/);
  },
);

test.serial("lease batch - on a node's own subject, the other node's asks are relayed to it", async (t) => {
  const { nc } = t.context;
  for (const id of IDS) {
    const batchUsers = users(`r-${id}-`, 8);
    const relayed = batchUsers.filter((u) => ownerOf(u) !== id);
    t.true(relayed.length > 0);
    const reply = await request<Reply>(nc, `headroom.v1.node.${id}.lease.batch`, {
      asks: batchUsers.map((u) => ask(u, 3)),
    });
    t.is(reply.error, undefined, JSON.stringify(reply.error));
    const results = reply['results'] as Reply[];
    t.deepEqual(
      results.map((g) => [g.token, g.node, g.units]),
      batchUsers.map((u) => [`hot|user=${u}`, ownerOf(u), 3]),
      `sent to ${id}; ${relayed.length} relayed`,
    );
  }
});

test.serial(
  'lease batch - returns through lease.return.batch land: units back in each owner bucket, results in order',
  async (t) => {
    const { nc } = t.context;
    const accts = Array.from({ length: 8 }, (_, i) => `rb-${i}`);
    const owner = (a: string): string => placement.owner(`slow|acct=${a}`)!;
    for (const id of IDS)
      t.true(
        accts.some((a) => owner(a) === id),
        `an account owned by ${id}`,
      );
    const slowAsk = (acct: string, client: string): Record<string, unknown> => ({
      client,
      params: { acct },
      want: SLOW.burst,
    });
    // Client a takes each bucket's whole burst: dry.
    const taken = await request<Reply>(nc, 'headroom.v1.lease.batch', {
      asks: accts.map((a) => slowAsk(a, 'c-ret-a')),
    });
    const grants = taken['results'] as Reply[];
    for (const [i, g] of grants.entries()) {
      t.like(g, { node: owner(accts[i]!), token: `slow|acct=${accts[i]}`, units: SLOW.burst, available: 0 });
    }
    // Given back in two batches: one on the queue group's subject, one on the first node's own
    // (it relays the second node's returns there).
    const returns = grants.map((g) => ({ node: g.node, lease: g.lease, token: g.token, unused: SLOW.burst }));
    const parts = [
      ['headroom.v1.lease.return.batch', returns.slice(0, 3)],
      [`headroom.v1.node.${IDS[0]}.lease.return.batch`, returns.slice(3)],
    ] as const;
    t.true(
      parts[1][1].some((r) => r.node !== IDS[0]),
      `a return of ${IDS[1]}'s slice sent to ${IDS[0]}`,
    );
    for (const [subject, part] of parts) {
      const reply = await request<Reply>(nc, subject, { returns: part });
      t.deepEqual(reply, { results: part.map(() => ({ returned: SLOW.burst })) }, subject);
    }
    // The units are back in the buckets: client b gets each whole burst (a unit refills in 3 min).
    const again = await request<Reply>(nc, 'headroom.v1.lease.batch', {
      asks: accts.map((a) => slowAsk(a, 'c-ret-b')),
    });
    t.deepEqual(
      (again['results'] as Reply[]).map((g) => [g.token, g.units]),
      accts.map((a) => [`slow|acct=${a}`, SLOW.burst]),
    );
    // The slices are gone from their owners' books: returned again, each fails in place, nothing returned.
    const twice = await request<Reply>(nc, 'headroom.v1.lease.return.batch', { returns });
    t.is((twice['results'] as Reply[]).length, returns.length);
    for (const r of twice['results'] as Reply[]) {
      t.like(r, { error: { code: 'HEADROOM_ERR_REFUND_REJECTED', field: 'lease' } });
    }
    // Refused without touching the buckets: each still lent whole to client b, a check is denied.
    for (const a of accts) {
      t.like(await request<Reply>(nc, 'headroom.v1.check', { params: { acct: a } }), { allow: false }, a);
    }
    // A malformed return fails the whole batch, naming it; the good one before it is not returned.
    const held = (again['results'] as Reply[]).map((g) => ({
      node: g.node,
      lease: g.lease,
      token: g.token,
      unused: 1,
    }));
    const bad = await request<Reply>(nc, 'headroom.v1.lease.return.batch', {
      returns: [held[0], { ...held[1], unused: -1 }],
    });
    t.like(bad, { error: { code: 'HEADROOM_ERR_INVALID_FIELD', field: 'returns[1].unused' } });
    const first = await request<Reply>(nc, `headroom.v1.node.${held[0]!.node}.lease.return`, held[0]);
    t.deepEqual(first, { returned: 1 }, 'still held after the failed batch');
  },
);
