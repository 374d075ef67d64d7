import anyTest from 'ava';
import type { TestFn } from 'ava';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { ErrorCode, SystemClock } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { OwnerLink, linkSubject } from '../../services/check/index.ts';
import type { OwnerSide } from '../../services/check/index.ts';
import { Guard } from '../../services/wire/index.ts';
import type { RefundItem, TakeItem, TakeParams } from '../../services/wire/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';

// The owner link between two connections on a real nats-server: takes,
// refunds and forwarded checks end to end, and what it counts.
const test = anyTest as TestFn<{ nats: NatsServer; dir: string; a: NatsConnection; b: NatsConnection }>;
const NS = 'ol';
/** The user that may not subscribe to node n9's link subjects (a misconfigured role). */
const CONFIG = `authorization {
  users = [
    { user: node, password: pw }
    { user: deaf, password: pw, permissions: { subscribe: { deny: ["headroom.int.${NS}.n9.>"] } } }
  ]
}
`;

test.before(async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-owner-link-'));
  writeFileSync(join(dir, 'auth.conf'), CONFIG);
  const nats = await startNatsServer({ config: join(dir, 'auth.conf') });
  const opts = { servers: nats.url, user: 'node', pass: 'pw' };
  t.context = { nats, dir, a: await connect(opts), b: await connect(opts) };
});

test.after.always(async (t) => {
  await t.context.a?.close();
  await t.context.b?.close();
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) rmSync(t.context.dir, { recursive: true, force: true });
});

const rule = { id: 'r', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' as const };
const item = (user: string, cost = 1): TakeItem => ({ token: `r|user=${user}` as TokenKey, rule, cost });

function guard(): { guard: Guard; lines: string[] } {
  const lines: string[] = [];
  return { guard: new Guard({ warn: (m) => lines.push(m) }, new SystemClock()), lines };
}

/** An owner that allows every item, remembering what it was sent. */
function owner(): OwnerSide & { takes: TakeParams[]; refunds: RefundItem[][] } {
  const takes: TakeParams[] = [];
  const refunds: RefundItem[][] = [];
  return {
    takes,
    refunds,
    take: async (params) => {
      takes.push(params);
      return params.parts.map((p) =>
        p.items.map((it) => ({
          token: it.token,
          ruleId: it.rule.id,
          mode: it.rule.mode,
          allow: true,
          limit: it.rule.rate,
          remaining: 10 - it.cost,
          retryAfterMs: 0,
        })),
      );
    },
    refund: async (items) => void refunds.push([...items]),
  };
}

test.serial('owner link - takes and refunds go to the owner and come back answered', async (t) => {
  const { a, b } = t.context;
  const served = owner();
  const there = new OwnerLink(b, NS, new SystemClock(), guard().guard);
  there.serve('n2', served);
  await b.flush();
  const here = new OwnerLink(a, NS, new SystemClock(), guard().guard);
  const res = await here.take('n2', { parts: [{ items: [item('x')] }, { items: [item('y', 2)] }] }, {}, 2000);
  t.deepEqual(
    res.map((part) => part.map((d) => d.remaining)),
    [[9], [8]],
  );
  t.is(served.takes.length, 1);
  t.is(served.takes[0]!.forwarded, undefined);
  await here.take('n2', { parts: [{ items: [item('x')] }], forwarded: true }, {}, 2000);
  t.true(served.takes[1]!.forwarded);
  await here.refund('n2', { items: [{ token: item('x').token, cost: 1, takeId: 'AAAAAAAAAAAA' }] }, 2000);
  t.deepEqual(served.refunds, [[{ token: item('x').token, cost: 1, takeId: 'AAAAAAAAAAAA' }]]);
  // A node that is not there: no responders, an unreachable error at once.
  const gone = await t.throwsAsync(here.take('n7', { parts: [{ items: [item('x')] }] }, {}, 2000));
  t.is((gone as { code?: string }).code, ErrorCode.Unavailable);
  await here.close();
  await there.close();
});

test.serial(
  'owner link - a forwarded check carries its take items; the owner answers the client and acknowledges',
  async (t) => {
    const { a, b } = t.context;
    const there = new OwnerLink(b, NS, new SystemClock(), guard().guard);
    const answered: TakeItem[][] = [];
    there.serveForwards('n3', async (items) => {
      answered.push(items);
      return { allow: true, cost: items.reduce((s, it) => s + it.cost, 0) };
    });
    await b.flush();
    const client = a.subscribe('_INBOX.client.>', { max: 2 });
    const replies = (async () => {
      const got: Array<[string, unknown]> = [];
      for await (const m of client) got.push([m.subject, m.json()]);
      return got;
    })();
    const here = new OwnerLink(a, NS, new SystemClock(), guard().guard);
    const bounced: string[] = [];
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    here.forward(
      'n3',
      { replyTo: '_INBOX.client.1', trace, items: [item('x'), item('y')] },
      (e) => bounced.push(e.message),
      2000,
    );
    here.forward(
      'n3',
      { replyTo: '_INBOX.client.2', trace, items: [item('z', 3)] },
      (e) => bounced.push(e.message),
      2000,
    );
    const got = await replies;
    t.deepEqual(got.sort(), [
      ['_INBOX.client.1', { allow: true, cost: 2 }],
      ['_INBOX.client.2', { allow: true, cost: 3 }],
    ]);
    t.deepEqual(
      answered.map((items) => items.map((it) => it.token)),
      [['r|user=x', 'r|user=y'], ['r|user=z']],
    );
    // Forwarding to a node that is gone bounces the client back to its gateway.
    await new Promise<void>((resolve) =>
      here.forward(
        'n8',
        { replyTo: '_INBOX.client.3', trace, items: [item('x')] },
        (e) => {
          bounced.push(e.message);
          resolve();
        },
        2000,
      ),
    );
    t.is(bounced.length, 1);
    t.regex(bounced[0]!, /no responders/);
    await here.close();
    await there.close();
  },
);

test.serial('owner link - a malformed forward batch is refused with a coded error and counted', async (t) => {
  const { a, b } = t.context;
  const g = guard();
  const there = new OwnerLink(b, NS, new SystemClock(), g.guard);
  there.serveForwards('n4', async () => ({ allow: true }));
  await b.flush();
  // The request as the public API takes it is not a forward: only derived items travel.
  const r = await a.request(
    `${linkSubject(NS, 'n4')}.forward`,
    JSON.stringify([['_INBOX.c', '', '', { params: {} }]]),
  );
  t.is((r.json() as { error: { code: string } }).error.code, ErrorCode.InvalidField);
  t.is(g.guard.stats().badMessages, 1);
  await there.close();
});

test.serial('owner link - a subscription error is counted and logged, not dropped', async (t) => {
  const { nats } = t.context;
  const deaf = await connect({ servers: nats.url, user: 'deaf', pass: 'pw' });
  const g = guard();
  const link = new OwnerLink(deaf, NS, new SystemClock(), g.guard);
  // Not allowed to subscribe to n9's subjects: the server refuses each subscription.
  link.serve('n9', owner());
  link.serveForwards('n9', async () => ({ allow: true }));
  await deaf.flush();
  const deadline = Date.now() + 5000;
  while (g.guard.stats().subscriptionErrors < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  t.is(g.guard.stats().subscriptionErrors, 3);
  // Logged once (rate-limited), naming the subject.
  t.is(g.lines.length, 1, g.lines.join('\n'));
  t.regex(g.lines[0]!, /subscriptionErrors.*headroom\.int\.ol\.n9\.(take|refund|forward)/);
  await link.close();
  await deaf.close();
});
