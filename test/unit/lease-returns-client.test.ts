// Client lease returns (client/lease-returns.ts through client/leases.ts) against a scripted owner:
// the slices given back in one turn go to each node in one `lease.return.batch` (idle slices found
// by one sweep, every slice at close), each return's result read in order; split under the nodes'
// default payload limit; a node that does not know the batch ("no responders" on its own subject,
// or an unknown-operation error) gets the returns again one by one, and the next ones singly; a
// gone node's returns are lost after one single try, not retried one by one.
import test from 'ava';
import type { ClientLeases } from '../../client/leases.ts';
import { grantBody, scripted, tick } from '../helpers/scripted-leases.ts';
import type { Sent } from '../helpers/scripted-leases.ts';
import { ErrorCode, InputError } from '../../lib/index.ts';

// u<i> with i even on n1, odd on n2.
const scriptedTwo = (): ReturnType<typeof scripted> =>
  scripted((token) => (Number(token.replace(/\D/g, '')) % 2 === 0 ? 'n1' : 'n2'));

const lease = (i: number): string => `L${String(i).padStart(11, '0')}`;
const grantFor = (i: number, units: number, pad = ''): Record<string, unknown> =>
  grantBody(units, {
    lease: lease(i),
    node: i % 2 === 0 ? 'n1' : 'n2',
    token: `hot|user=u${i}${pad}`,
    available: 50,
  });

/** Holds slices of tokens u<i> for each i of `ids` (each of `units`), one check decided under each. */
async function hold(
  leases: ClientLeases,
  sent: Sent[],
  ids: readonly number[],
  units = 10,
  pad = '',
): Promise<void> {
  const first = ids.map((i) => leases.decide({ params: { user: `u${i}${pad}` }, cost: 1 }, true));
  await tick();
  for (const s of sent.splice(0)) {
    const asks = s.body['asks'] as Array<{ params: { user: string } }> | undefined;
    const users =
      asks === undefined ? [(s.body['params'] as { user: string }).user] : asks.map((a) => a.params.user);
    const grants = users.map((u) => grantFor(Number(u.slice(1).replace(/\D.*$/, '')), units, pad));
    s.answer(asks === undefined ? grants[0] : { results: grants });
  }
  for (const r of await Promise.all(first)) if (r === undefined || !r.allow) throw new Error('not granted');
}

/** Waits until `sent` has `n` messages (the sweep runs on a 250 ms timer). */
async function sentCount(sent: Sent[], n: number): Promise<void> {
  for (let i = 0; i < 200 && sent.length < n; i++) await new Promise((r) => setTimeout(r, 10));
}

test('lease returns client - idle slices of one node found by one sweep go back in one lease.return.batch', async (t) => {
  const { leases, sent, clock } = scriptedTwo();
  const ids = Array.from({ length: 50 }, (_, k) => 2 * k); // all on n1
  await hold(leases, sent, ids);
  // Nobody checks them for over a second: the sweep gives every one back, in one message.
  clock.ms += 1500;
  await sentCount(sent, 1);
  await tick();
  t.is(sent.length, 1, `${sent.length} messages for ${ids.length} idle slices`);
  t.is(sent[0]!.subject, 'headroom.v1.node.n1.lease.return.batch');
  const returns = sent[0]!.body['returns'] as Array<Record<string, unknown>>;
  t.is(returns.length, ids.length);
  const { report, ...first } = returns[0]!;
  t.deepEqual(first, { node: 'n1', lease: lease(0), token: 'hot|user=u0', unused: 9 });
  t.like(report, { allowed: 1, denied: 0, cost: 1 });
  t.deepEqual(
    returns.map((r) => r['lease']),
    ids.map(lease),
  );
  // Each result read in place: one the node no longer knew returns nothing.
  const refused = { error: { code: ErrorCode.RefundRejected, message: 'no such slice', retryable: false } };
  sent[0]!.answer({ results: returns.map((r, k) => (k === 1 ? refused : { returned: r['unused'] })) });
  await tick();
  t.like(leases.stats, { returned: 9 * (ids.length - 1), returnMessages: 1 });
  await leases.close();
  t.is(sent.length, 1, 'nothing left to give back at close');
});

test('lease returns client - at close every slice goes back in one message per node', async (t) => {
  const { leases, sent } = scriptedTwo();
  const ids = Array.from({ length: 40 }, (_, i) => i); // 20 on n1, 20 on n2
  await hold(leases, sent, ids, 5);
  const closed = leases.close();
  await tick();
  t.deepEqual(sent.map((s) => s.subject).sort(), [
    'headroom.v1.node.n1.lease.return.batch',
    'headroom.v1.node.n2.lease.return.batch',
  ]);
  for (const s of sent) {
    const returns = s.body['returns'] as Array<Record<string, unknown>>;
    t.is(returns.length, 20);
    t.true(returns.every((r) => r['node'] === s.subject.split('.')[3]));
    s.answer({ results: returns.map((r) => ({ returned: r['unused'] })) });
  }
  await closed;
  t.like(leases.stats, { returned: 40 * 4, returnMessages: 2 });
});

test('lease returns client - a turn of many returns is split under the nodes default payload limit', async (t) => {
  const { leases, sent } = scriptedTwo();
  const pad = 'x'.repeat(300);
  const ids = Array.from({ length: 400 }, (_, k) => 2 * k);
  await hold(leases, sent, ids, 2, pad);
  const closed = leases.close();
  await tick();
  t.true(sent.length > 1, `${sent.length} messages`);
  let returns = 0;
  for (const s of sent) {
    t.is(s.subject, 'headroom.v1.node.n1.lease.return.batch');
    t.true(JSON.stringify(s.body).length < 64 * 1024, `${JSON.stringify(s.body).length} bytes`);
    const part = s.body['returns'] as Array<Record<string, unknown>>;
    returns += part.length;
    s.answer({ results: part.map(() => ({ returned: 1 })) });
  }
  t.is(returns, ids.length);
  await closed;
  t.like(leases.stats, { returned: ids.length, returnMessages: sent.length });
});

for (const [what, err] of [
  ['no responders', Object.assign(new Error('503'), { code: '503' })],
  [
    'an unknown-operation error',
    new InputError(ErrorCode.NotFound, 'operation must be one of check, ..., got "lease.return.batch"', {
      field: 'subject',
    }),
  ],
] as const) {
  test(`lease returns client - a node that answers the batch with ${what} gets the returns one by one`, async (t) => {
    const { leases, sent, clock } = scriptedTwo();
    await hold(leases, sent, [0, 2, 4, 6]);
    clock.ms += 1500;
    await sentCount(sent, 1);
    await tick();
    t.is(sent.length, 1);
    t.is(sent[0]!.subject, 'headroom.v1.node.n1.lease.return.batch');
    sent[0]!.fail(err);
    await tick();
    // The first alone: it tells an older node from a gone one.
    t.is(sent.length, 2);
    t.is(sent[1]!.subject, 'headroom.v1.node.n1.lease.return');
    t.like(sent[1]!.body, { node: 'n1', lease: lease(0), unused: 9, report: { allowed: 1 } });
    sent[1]!.answer({ returned: 9 });
    await tick();
    t.deepEqual(
      sent.slice(2).map((s) => [s.subject, s.body['lease']]),
      [2, 4, 6].map((i) => ['headroom.v1.node.n1.lease.return', lease(i)]),
    );
    for (const s of sent.slice(2)) s.answer({ returned: 9 });
    await tick();
    t.like(leases.stats, { returned: 36, returnMessages: 5 });
    // That node's next returns go singly at once, without trying the batch again.
    sent.splice(0);
    await hold(leases, sent, [8, 10]);
    const closed = leases.close();
    await tick();
    t.deepEqual(
      sent.map((s) => s.subject),
      ['headroom.v1.node.n1.lease.return', 'headroom.v1.node.n1.lease.return'],
    );
    for (const s of sent) s.answer({ returned: 9 });
    await closed;
    t.like(leases.stats, { returned: 54, returnMessages: 7 });
  });
}

test('lease returns client - a gone node (no responders to the batch and to one return) costs two messages, not one per slice', async (t) => {
  const { leases, sent } = scriptedTwo();
  const ids = Array.from({ length: 30 }, (_, k) => 2 * k);
  await hold(leases, sent, ids);
  const closed = leases.close();
  await tick();
  t.is(sent.length, 1);
  const noResponders = (): Error => Object.assign(new Error('503'), { code: '503' });
  sent[0]!.fail(noResponders());
  await tick();
  t.is(sent.length, 2);
  sent[1]!.fail(noResponders());
  await closed;
  t.is(sent.length, 2, 'the other 29 returns are lost, as a single return to a gone node is');
  t.like(leases.stats, { returned: 0, returnMessages: 2 });
});
