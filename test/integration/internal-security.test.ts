// Defence in depth inside the cluster (issue 10): a real nats-server without
// auth (so anything can publish to the nodes' internal subjects, as if one
// leaked) and two `headroom start` processes. Forged refunds, malformed link
// messages and a rogue Moleculer broker are refused with coded errors and
// counted; the limits hold; the honest refund path keeps working.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { ServiceBroker } from 'moleculer';
import type { NatsConnection } from 'nats';
import { ErrorCode, ownerOf } from '../../lib/index.ts';
import { emptyGuardStats } from '../../services/wire/index.ts';
import type { GuardStats } from '../../services/wire/index.ts';
import { linkSubject } from '../../services/check/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import {
  client,
  putRuleEverywhere,
  request,
  settle,
  startNodeProcess,
  waitUntil,
} from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { observerBroker } from '../helpers/observer-broker.ts';

interface Ctx {
  nats: NatsServer;
  dir: string;
  namespace: string;
  nodes: Map<string, NodeProcess>;
  nc: NatsConnection;
  observer: ServiceBroker;
}
const test = anyTest as TestFn<Ctx>;

const IDS = ['n1', 'n2'];
/** A take id of the right form that no node issued. */
const MADE_UP_ID = 'AAAAAAAAAAAA';

test.before(async (t) => {
  const nats = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-internal-security-'));
  const namespace = `internal-security-${process.pid}`;
  const observer = observerBroker(nats.url, namespace);
  t.context = { nats, dir, namespace, nodes: new Map(), observer } as Ctx;
  await observer.start();
  await Promise.all(
    IDS.map(async (id) => {
      const node = await startNodeProcess({
        nodeId: id,
        args: [
          ...['--nats', nats.url, '--namespace', namespace, '--data-dir', join(dir, id)],
          ...['--store', 'none', '--forecast', 'false', '--heartbeat', '1s'],
        ],
      });
      t.context.nodes.set(id, node);
    }),
  );
  t.context.nc = await client(nats.url);
  await settle(t.context.nc, IDS);
  await observer.waitForServices('throttle', 10_000);
  await waitUntil(
    () => IDS.every((id) => observer.registry.nodes.get(id)?.available === true),
    10_000,
    'the observer to see both nodes',
  );
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await Promise.all([...(t.context.nodes?.values() ?? [])].map((n) => n.stop('SIGKILL')));
  await t.context.observer?.stop();
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

const putRule = (nc: NatsConnection, rule: Record<string, unknown>): Promise<any> =>
  putRuleEverywhere(nc, rule, 6);

/** The refusal counters of every node, summed. */
async function refused(t: ExecutionContext<Ctx>): Promise<GuardStats> {
  const sum = emptyGuardStats();
  for (const id of IDS) {
    const r = await t.context.observer.call<{ stats: GuardStats }, { limit: number }>(
      'throttle.actors',
      { limit: 0 },
      { nodeID: id, timeout: 2000 },
    );
    for (const k of Object.keys(sum) as Array<keyof GuardStats>) sum[k] += r.stats[k];
  }
  return sum;
}

const subject = (t: ExecutionContext<Ctx>, node: string, op: string): string =>
  `${linkSubject(t.context.namespace, node)}.${op}`;

/** Sends `n` checks one after another, each followed by `forge()`; the allowed count and the time it took. */
async function checksWithForgery(
  nc: NatsConnection,
  params: Record<string, string>,
  n: number,
  forge: () => Promise<void>,
): Promise<{ allowed: number; elapsedS: number; errors: unknown[] }> {
  let allowed = 0;
  const errors: unknown[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await request(nc, 'headroom.v1.check', { params });
    if (r.error !== undefined) errors.push(r.error);
    if (r.allow === true) allowed++;
    await forge();
  }
  return { allowed, elapsedS: (performance.now() - started) / 1000, errors };
}

test.serial(
  'internal security - forged refunds with made-up take ids are rejected, counted, and change no allowance',
  async (t) => {
    const { nc } = t.context;
    // A 2-rule check (the per-user rule is the tight one) and a 1-rule check.
    await putRule(nc, { id: 'pair-user', key: ['user'], match: { op: 'Pair' }, rate: 10, period: '1s' });
    await putRule(nc, { id: 'pair-op', key: ['op'], match: { op: 'Pair' }, rate: 1_000_000, period: '1s' });
    await putRule(nc, { id: 'solo', key: ['user'], match: { op: 'Solo' }, rate: 10, period: '1s' });
    const before = await refused(t);
    let forged = 0;
    const replies: Array<{ error?: { code: string } }> = [];
    const forgeFor = (token: string) => async (): Promise<void> => {
      // To every node's refund subject: one of them owns the token.
      for (const node of IDS) {
        for (let k = 0; k < 3; k++) {
          forged++;
          replies.push(
            await request(nc, subject(t, node, 'refund'), {
              items: [{ token, cost: 1, takeId: MADE_UP_ID }],
            }),
          );
        }
      }
    };
    for (const [op, token] of [
      ['Pair', 'pair-user|user=mallory'],
      ['Solo', 'solo|user=mallory'],
    ] as const) {
      const r = await checksWithForgery(nc, { user: 'mallory', op }, 40, forgeFor(token));
      t.deepEqual(r.errors, []);
      const bound = 10 + Math.ceil(10 * r.elapsedS) + 1;
      t.log(
        `${op}: allowed ${r.allowed} of 40 in ${r.elapsedS.toFixed(2)} s (bound ${bound}) with ${forged} forged refunds`,
      );
      t.true(r.allowed >= 10, `the burst passes, got ${r.allowed}`);
      t.true(
        r.allowed <= bound,
        `allowed ${r.allowed} > burst + refill ${bound}: a forged refund was applied`,
      );
    }
    t.is(replies.length, forged);
    t.true(
      replies.every((r) => r.error?.code === ErrorCode.RefundRejected),
      JSON.stringify(replies.find((r) => r.error?.code !== ErrorCode.RefundRejected)),
    );
    const after = await refused(t);
    t.is(after.refundsRejected - before.refundsRejected, forged);
  },
);

test.serial(
  'internal security - malformed take, refund and forward messages get coded errors or are counted, and the nodes keep serving',
  async (t) => {
    const { nc } = t.context;
    await putRule(nc, { id: 'solo', key: ['user'], match: { op: 'Solo' }, rate: 10, period: '1s' });
    const before = await refused(t);
    const item = {
      token: 'solo|user=x',
      rule: { id: 'solo', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' },
      cost: 1,
    };
    const cases: Array<[op: string, body: string | object, code: string]> = [
      ['take', '{"parts": [', ErrorCode.InvalidJson],
      ['take', 'null', ErrorCode.InvalidField],
      ['take', { parts: [{ items: [{ ...item, token: 5 }] }] }, ErrorCode.InvalidField],
      ['take', { parts: [{ items: [{ ...item, cost: 1e308 }] }] }, ErrorCode.InvalidField],
      [
        'take',
        { parts: [{ items: [{ ...item, rule: { ...item.rule, rate: 1e300 } }] }] },
        ErrorCode.InvalidField,
      ],
      [
        'take',
        { parts: [{ items: [{ ...item, rule: { ...item.rule, periodMs: -5 } }] }] },
        ErrorCode.InvalidField,
      ],
      ['take', { parts: [{ items: [{ ...item, atMs: 'now' }] }] }, ErrorCode.InvalidField],
      ['take', { parts: [{ items: [item] }], forwarded: 'yes' }, ErrorCode.InvalidField],
      ['take', { parts: [{ items: [item] }], sudo: true }, ErrorCode.UnknownField],
      ['refund', '}{', ErrorCode.InvalidJson],
      ['refund', { items: [{ token: 'solo|user=x', cost: 1, takeId: 42 }] }, ErrorCode.InvalidField],
      ['refund', { items: [{ token: 'solo|user=x', cost: -1, takeId: MADE_UP_ID }] }, ErrorCode.InvalidField],
      ['refund', { items: [{ ...item, takeId: MADE_UP_ID }] }, ErrorCode.UnknownField],
      ['forward', 'not json', ErrorCode.InvalidJson],
      ['forward', { not: 'a list' }, ErrorCode.InvalidField],
      ['forward', [['_INBOX.x', '', '']], ErrorCode.InvalidField],
      // A forward may not make a node publish on the cluster's own subjects.
      [
        'forward',
        [[`${linkSubject(t.context.namespace, 'n1')}.refund`, '', '', { params: {} }]],
        ErrorCode.InvalidField,
      ],
      ['forward', [['headroom.v1.rules.delete', '', '', { params: {} }]], ErrorCode.InvalidField],
    ];
    let sent = 0;
    for (const node of IDS) {
      for (const [op, body, code] of cases) {
        const r = await request<{ error?: { code: string; field?: string } }>(nc, subject(t, node, op), body);
        sent++;
        t.is(r.error?.code, code, `${node} ${op} ${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r)}`);
      }
      // Without a reply subject there is no one to answer: counted (and logged) only.
      nc.publish(subject(t, node, 'take'), '{"parts": 7}');
      nc.publish(subject(t, node, 'refund'), 'garbage');
      nc.publish(subject(t, node, 'forward'), '[1]');
      sent += 3;
    }
    await nc.flush();
    await waitUntil(
      async () => (await refused(t)).badMessages - before.badMessages >= sent,
      5000,
      `${sent} bad messages counted`,
    );
    t.is((await refused(t)).badMessages - before.badMessages, sent);
    // Still serving: both processes alive, checks answered through both gateways.
    for (const n of t.context.nodes.values()) t.is(n.child.exitCode, null, n.output());
    const checks = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(nc, 'headroom.v1.check', { params: { user: `ok-${i}`, op: 'Solo' } }),
      ),
    );
    t.true(
      checks.every((c) => c.allow === true),
      JSON.stringify(checks.find((c) => c.allow !== true)),
    );
  },
);

test.serial(
  'internal security - a rogue broker announcing another node leaving is refused; that node keeps its tokens',
  async (t) => {
    const { nc, observer } = t.context;
    await putRule(nc, { id: 'held', key: ['user'], match: { op: 'Held' }, rate: 10, period: '1s' });
    // A user whose token n1 owns.
    let user = '';
    for (let i = 0; user === ''; i++) if (ownerOf(`held|user=v${i}`, IDS) === 'n1') user = `v${i}`;
    const token = `held|user=${user}`;
    const before = await refused(t);
    const calls: Array<[action: string, params: object, target: string, code: string]> = [
      ['throttle.prepareLeave', { nodeID: 'n1' }, 'n2', ErrorCode.NotPermitted],
      ['throttle.prepareLeave', { nodeID: 'n2' }, 'n1', ErrorCode.NotPermitted],
      // Speaking for itself does not help: the observer is not a member.
      ['throttle.prepareLeave', { nodeID: observer.nodeID }, 'n2', ErrorCode.NotPermitted],
      ['throttle.receive', { from: 'n1', items: [], done: true }, 'n2', ErrorCode.NotPermitted],
      ['throttle.prepareLeave', { nodeID: 7 }, 'n2', ErrorCode.InvalidField],
      ['throttle.describe', { token: 'x'.repeat(20_000) }, 'n2', ErrorCode.InvalidField],
      ['throttle.actors', { limit: -1 }, 'n2', ErrorCode.InvalidField],
    ];
    for (const [action, params, target, code] of calls) {
      const err = await t.throwsAsync(observer.call(action, params, { nodeID: target, timeout: 3000 }));
      t.is(
        (err as Error & { code?: string }).code,
        code,
        `${action} ${JSON.stringify(params)}: ${err?.message}`,
      );
    }
    const after = await refused(t);
    t.is(after.callsRefused - before.callsRefused, calls.length);

    // Checks through both gateways (the queue group spreads them) stay held to one bucket, on n1.
    const started = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 60 }, () => request(nc, 'headroom.v1.check', { params: { user, op: 'Held' } })),
    );
    const elapsedS = (performance.now() - started) / 1000;
    t.deepEqual(
      replies.filter((r) => r.error !== undefined),
      [],
    );
    const allowed = replies.filter((r) => r.allow === true).length;
    const bound = 10 + Math.ceil(10 * elapsedS) + 1;
    t.true(allowed >= 10 && allowed <= bound, `allowed ${allowed}, bound ${bound}`);
    const on = async (id: string): Promise<unknown> =>
      await observer.call('throttle.describe', { token }, { nodeID: id, timeout: 2000 });
    t.like(await on('n1'), { node: 'n1' });
    t.is(await on('n2'), null, 'n2 did not take over n1 tokens');
  },
);

test.serial(
  'internal security - multi-rule checks with one rule denying still refund the other rule correctly',
  async (t) => {
    const { nc } = t.context;
    await putRule(nc, { id: 'scan-op', key: ['op'], match: { op: 'Scan' }, rate: 1000, period: '7d' });
    await putRule(nc, {
      id: 'scan-free',
      key: ['user'],
      match: { op: 'Scan', tier: 'free' },
      rate: 1,
      period: '7d',
    });
    const before = await refused(t);
    // Ten users (their tokens on both nodes): one allowed, then five denied each.
    const users = Array.from({ length: 10 }, (_, i) => `scanner-${i}`);
    t.true(new Set(users.map((u) => ownerOf(`scan-free|user=${u}`, IDS))).size === 2);
    for (const user of users) {
      const first = await request(nc, 'headroom.v1.check', { params: { user, op: 'Scan', tier: 'free' } });
      t.like(first, { allow: true });
    }
    const denied = await Promise.all(
      users.flatMap((user) =>
        Array.from({ length: 5 }, () =>
          request(nc, 'headroom.v1.check', { params: { user, op: 'Scan', tier: 'free' } }),
        ),
      ),
    );
    t.true(
      denied.every((d) => d.allow === false && d.rule === 'scan-free'),
      JSON.stringify(denied[0]),
    );
    // scan-op: 1000, ten allowed take 10, this one 1: 989 left (939 if the denials were charged).
    const other = await request(nc, 'headroom.v1.check', {
      params: { user: 'payer', op: 'Scan', tier: 'paid' },
    });
    t.like(other, { allow: true, rule: 'scan-op', remaining: 989 });
    const after = await refused(t);
    t.is(after.refundsRejected - before.refundsRejected, 0, 'every honest refund was accepted');
  },
);

test.serial(
  'internal security - a public request asking for its reply on an internal subject is not run, and is counted',
  async (t) => {
    const { nc } = t.context;
    await putRule(nc, {
      id: 'reply-user',
      match: { op: 'Reply' },
      key: ['user'],
      rate: 5,
      period: '1s',
      burst: 5,
    });
    const before = await refused(t);
    // What a node would publish there is watched on every internal and Moleculer subject.
    const seen: string[] = [];
    const watch = nc.subscribe('>', { callback: (_e, m) => void seen.push(m.subject) });
    const targets = [
      subject(t, 'n1', 'refund'),
      subject(t, 'n2', 'take'),
      `MOL-${t.context.namespace}.REQ.nobody`,
      '$KV.x.y',
    ];
    for (const reply of targets) {
      nc.publish('headroom.v1.check', JSON.stringify({ params: { user: 'u-reply', op: 'Reply' } }), {
        reply,
      });
    }
    await waitUntil(
      async () => (await refused(t)).replySubjectsRefused - before.replySubjectsRefused === targets.length,
      5000,
      'both nodes to count the refused reply subjects',
    );
    await nc.flush();
    watch.unsubscribe();
    t.deepEqual(
      seen.filter((s) => targets.includes(s) && !s.startsWith('headroom.v1.')),
      // Only our own publishes to the check subject went out; nothing landed on the targets.
      [],
    );
    // None of the refused requests took from the token: its whole burst is still there.
    const r = await request(nc, 'headroom.v1.check', { params: { user: 'u-reply', op: 'Reply' } });
    t.like(r, { allow: true, remaining: 4 });
  },
);

test.serial(
  'internal security - a node that really leaves is still believed: its own prepareLeave is accepted',
  async (t) => {
    const { nc, observer, nodes } = t.context;
    const stats = async (): Promise<GuardStats> =>
      (
        await observer.call<{ stats: GuardStats }, { limit: number }>(
          'throttle.actors',
          { limit: 0 },
          { nodeID: 'n1', timeout: 2000 },
        )
      ).stats;
    const before = await stats();
    // n2 announces its leave to n1 (throttle.prepareLeave from n2 itself), n1 asks n2 back, then n2 hands over.
    t.is(await nodes.get('n2')!.stop('SIGTERM'), 0);
    nodes.delete('n2');
    await settle(nc, ['n1']);
    const after = await stats();
    t.is(after.callsRefused, before.callsRefused, 'the leave was not refused');
    const r = await request(nc, 'headroom.v1.check', { params: { user: 'after-leave', op: 'Solo' } });
    t.like(r, { allow: true });
  },
);
