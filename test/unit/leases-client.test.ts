// Client leases, the client's side (client/leases.ts) against a scripted owner: checks decided from
// the slice with headroom.v1.check's reply shape, a renewal that reports the unused units and
// subtracts what was used while it travelled, local denials on an empty bucket, plain checks while
// the owner grants nothing, and the unused units given back at close.
import test from 'ava';
import { grantBody, scripted, tick } from '../helpers/scripted-leases.ts';
import type { CheckRequest } from '../../lib/index.ts';

const req = (user: string, cost = 1): CheckRequest => ({ params: { user }, cost });
const grant = grantBody;

test('client leases - checks are decided from the slice with the check reply shape; a renewal reports what is left', async (t) => {
  const { leases, sent } = scripted();
  const first = leases.decide(req('u1'), true);
  t.true(first instanceof Promise, 'the first check waits for the slice');
  await tick(); // asks go out at the end of the turn (one message per owner)
  t.is(sent.length, 1);
  t.is(sent[0]!.subject, 'headroom.v1.node.n1.lease');
  t.like(sent[0]!.body, { params: { user: 'u1' }, want: 2 });
  t.is(sent[0]!.body['previous'], undefined);
  sent[0]!.answer(grant(8));
  t.deepEqual(await first, {
    allow: true,
    rule: 'hot',
    limit: 100,
    remaining: 7,
    retryAfterMs: 0,
    tokens: ['hot|user=u1'],
    shadowDenied: [],
  });
  for (let i = 0; i < 5; i++) t.like(leases.decide(req('u1'), true), { allow: true });
  t.is(sent.length, 1, '2 of 8 left: not below a quarter yet');
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 1 });
  // 1 of 8 left: a renewal goes out with what is left, and checks go on meanwhile.
  await tick();
  t.is(sent.length, 2);
  t.deepEqual(sent[1]!.body['previous'], { lease: 'AAAAAAAAAAAA', unused: 1 });
  // With the checks it decided since the first ask: the owner counts them as the token's demand.
  t.like(sent[1]!.body['report'], { allowed: 7, denied: 0, cost: 7 });
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 0 });
  // The owner kept the 1 and added 10: the one used while the ask travelled comes off.
  sent[1]!.answer(grant(11));
  await tick();
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 9 });
  t.is(leases.stats.local, 9);
  const closed = leases.close();
  await tick();
  t.is(sent.length, 3);
  t.is(sent[2]!.subject, 'headroom.v1.node.n1.lease.return');
  const { report, ...ret } = sent[2]!.body;
  t.deepEqual(ret, { node: 'n1', lease: 'AAAAAAAAAAAA', token: 'hot|user=u1', unused: 9 });
  t.like(report, { allowed: 2, denied: 0, cost: 2 }, 'the checks since the renewal');
  sent[2]!.answer({ returned: 9 });
  await closed;
  t.is(leases.stats.returned, 9);
});

test('client leases - an empty bucket is denied here until its retry time; a refused lease means plain checks', async (t) => {
  const { leases, sent } = scripted();
  const first = leases.decide(req('u1'), true);
  await tick();
  sent[0]!.answer(grant(0, { retryAfterMs: 60_000 }));
  t.like(await first, { allow: false, rule: 'hot', remaining: 0, tokens: ['hot|user=u1'] });
  t.true(((await first) as { retryAfterMs: number }).retryAfterMs > 59_000);
  t.like(leases.decide(req('u1'), true), { allow: false });
  t.is(sent.length, 1, 'no ask while the bucket is empty');
  t.is(sent[0]!.body['report'], undefined, 'nothing to report on a first ask');

  const other = leases.decide(req('u2'), true);
  await tick();
  sent[1]!.fail(new Error('no responders'));
  t.is(await other, undefined, 'the owner is gone: check the ordinary way');
  t.is(leases.decide(req('u2'), true), undefined, 'and for a while without asking again');
  t.is(sent.length, 2);
  t.is(leases.stats.refused, 1);
  t.is(leases.decide({ params: { op: 'x' }, cost: 1 }, true), undefined, 'no single token: never leased');
  t.is(leases.decide(req('u3'), false), undefined, 'without the leases option only explicit checks lease');
  // The denials decided under the slice of 0 units go back with its return: the owner counts them.
  const closed = leases.close();
  await tick();
  t.is(sent.length, 3);
  t.is(sent[2]!.subject, 'headroom.v1.node.n1.lease.return');
  t.like(sent[2]!.body, { lease: 'AAAAAAAAAAAA', unused: 0, report: { allowed: 0, denied: 2, cost: 2 } });
  sent[2]!.answer({ returned: 0 });
  await closed;
  t.like(leases.stats, { local: 2, localDenied: 2 });
});

test('client leases - every check decided here is reported: by the renewal, the return, or the next message when none got it', async (t) => {
  const { leases, sent } = scripted();
  const first = leases.decide(req('u1'), true);
  await tick();
  sent[0]!.answer(grant(4));
  t.like(await first, { allow: true });
  for (let i = 0; i < 2; i++) t.like(leases.decide(req('u1'), true), { allow: true });
  t.is(sent.length, 1, '1 of 4 left: not below a quarter yet');
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 0 });
  // The renewal carries the 4 checks; no node receives it ("no responders").
  await tick();
  t.is(sent.length, 2);
  t.like(sent[1]!.body['report'], { allowed: 4, denied: 0 });
  sent[1]!.fail(Object.assign(new Error('503'), { code: '503' }));
  await tick();
  t.is(leases.stats.refused, 1);
  // Checked the ordinary way meanwhile (the caller's plain check, counted by the owner).
  t.is(leases.decide(req('u1'), true), undefined);
  // The return of the slice still held carries the 4 checks no node received.
  const closed = leases.close();
  await tick();
  t.is(sent.length, 3);
  t.like(sent[2]!.body, { lease: 'AAAAAAAAAAAA', unused: 0, report: { allowed: 4, denied: 0, cost: 4 } });
  sent[2]!.answer({ returned: 0 });
  await closed;
  t.is(leases.stats.local, 4);
});

test('client leases - a slice used up when the owner gave less than wanted from a dry bucket is denied here until its paced renewal', async (t) => {
  const { leases, sent, clock } = scripted();
  const first = leases.decide(req('u1'), true);
  await tick();
  sent[0]!.answer(grant(2));
  t.like(await first, { allow: true, remaining: 1 });
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 0 });
  // Used up; the first grant gave all it was asked (2): wait for the renewal, as the owner may allow.
  await tick();
  t.is(sent.length, 2, 'the renewal went out below a quarter of the slice');
  const waiting = leases.decide(req('u1'), true);
  t.true(waiting instanceof Promise);
  const wanted = sent[1]!.body['want'] as number;
  t.true(wanted > 2, `the renewal wants the rate seen (${wanted})`);
  sent[1]!.answer(grant(1, { available: 0 })); // the bucket had 1 unit: less than wanted, and dry
  t.like(await waiting, { allow: true, remaining: 0 });
  // Limited: the next checks are denied here at once, not sent, and no ask goes out before the pace.
  const denied = leases.decide(req('u1'), true);
  t.like(denied, { allow: false, remaining: 0 });
  t.true((denied as { retryAfterMs: number }).retryAfterMs >= 1);
  const asksBefore = sent.length;
  clock.ms += 15;
  t.like(leases.decide(req('u1'), true), { allow: false });
  await tick();
  t.is(sent.length, asksBefore + 1, 'one paced renewal');
  t.like(sent.at(-1)!.body['report'], { denied: 1 });
  // Short by the share only (the bucket has more): past the slice, the check waits for the renewal.
  sent.at(-1)!.answer(grant(1, { available: 50 }));
  await tick();
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 0 });
  const waits = leases.decide(req('u1'), true);
  t.true(waits instanceof Promise, 'not denied here: the owner may allow it');
  await tick();
  sent.at(-1)!.answer(grant(5, { available: 45 }));
  t.like(await waits, { allow: true, remaining: 4 });
  t.like(leases.stats, { localDenied: 2 });
  const closed = leases.close();
  await tick();
  sent.at(-1)!.answer({ returned: 4 });
  await closed;
});

test('client leases - the asks of one turn to one owner go in one lease.batch; an ask refused there refuses that token only', async (t) => {
  const { leases, sent } = scripted();
  const waiting = ['u1', 'u2', 'u3'].map((u) => leases.decide(req(u), true));
  await tick();
  t.is(sent.length, 1, 'one message for the three asks');
  t.is(sent[0]!.subject, 'headroom.v1.node.n1.lease.batch');
  const asks = sent[0]!.body['asks'] as Record<string, unknown>[];
  t.deepEqual(
    asks.map((a) => a['params']),
    [{ user: 'u1' }, { user: 'u2' }, { user: 'u3' }],
  );
  const unavailable = { code: 'HEADROOM_ERR_UNAVAILABLE', message: 'not now', retryable: true };
  sent[0]!.answer({
    results: [grant(8), { error: unavailable }, grant(4, { lease: 'BBBBBBBBBBBB', token: 'hot|user=u3' })],
  });
  const [r1, r2, r3] = await Promise.all(waiting);
  t.like(r1, { allow: true, remaining: 7 });
  t.is(r2, undefined, 'u2 refused: checked the ordinary way');
  t.like(r3, { allow: true, remaining: 3 });
  t.like(leases.stats, { asks: 3, askMessages: 1, refused: 1, local: 2 });
  const closed = leases.close();
  await tick();
  for (const s of sent.slice(1)) s.answer({ returned: 0 });
  await closed;
});

test('client leases - a slice still in use is renewed before it expires even when no check falls in its renewal time', async (t) => {
  const { leases, sent, clock } = scripted();
  const first = leases.decide(req('u1'), true);
  await tick();
  sent[0]!.answer(grant(8, { ttlMs: 2000 }));
  t.like(await first, { allow: true });
  // Checked a few times a second: the last check before the renewal time (60 % of 2 s)...
  clock.ms += 1100;
  t.like(leases.decide(req('u1'), true), { allow: true });
  t.is(sent.length, 1, 'not due yet');
  // ...and none after it: the sweep (every 250 ms) renews it in the background.
  clock.ms += 200;
  await new Promise((r) => setTimeout(r, 400));
  t.is(sent.length, 2);
  t.is(sent[1]!.subject, 'headroom.v1.node.n1.lease');
  t.deepEqual(sent[1]!.body['previous'], { lease: 'AAAAAAAAAAAA', unused: 6 });
  sent[1]!.answer(grant(8, { ttlMs: 2000, lease: 'CCCCCCCCCCCC' }));
  await tick();
  // The next check, past the first slice's expiry, is decided here at once.
  clock.ms += 800;
  t.like(leases.decide(req('u1'), true), { allow: true, remaining: 7 });
  const closed = leases.close();
  await tick();
  for (const s of sent.slice(2)) s.answer({ returned: 0 });
  await closed;
});

test('client leases - a turn of many asks to one owner is split into batches that stay under the nodes default payload limit', async (t) => {
  const { leases, sent } = scripted();
  const pad = 'x'.repeat(400);
  for (let i = 0; i < 300; i++) void leases.decide({ params: { user: `u${i}`, pad }, cost: 1 }, true);
  await tick();
  t.true(sent.length > 1, `${sent.length} messages`);
  let asks = 0;
  for (const s of sent) {
    t.is(s.subject, 'headroom.v1.node.n1.lease.batch');
    t.true(JSON.stringify(s.body).length < 64 * 1024, `${JSON.stringify(s.body).length} bytes`);
    asks += (s.body['asks'] as unknown[]).length;
  }
  t.is(asks, 300);
  t.is(leases.stats.askMessages, sent.length);
  for (const s of sent) s.fail(new Error('gone'));
  await leases.close();
});
