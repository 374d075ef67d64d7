import { randomBytes } from 'node:crypto';
import test from 'ava';
import { RefundRejection, TakeLedger, isTakeId } from '../../actors/index.ts';
import { InputError, SimulatedClock } from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import { Guard, LOG_EVERY_MS, Refused } from '../../services/wire/index.ts';

const tok = (s: string): TokenKey => s as TokenKey;

test('take ledger - an issued id refunds once, for its token and cost, and carries the take', (t) => {
  const clock = new SimulatedClock(1_000);
  const ledger = new TakeLedger(clock);
  const id = ledger.issue(tok('r|user=a'), 2, 990, { user: 'a' });
  t.true(isTakeId(id));
  t.is(ledger.size, 1);
  clock.advance(50);
  const e = ledger.redeem(id, 'r|user=a', 2);
  t.like(e, { token: 'r|user=a', cost: 2, issuedMs: 1_000, atMs: 990, params: { user: 'a' } });
  t.is(ledger.size, 0);
  t.is(ledger.redeem(id, 'r|user=a', 2), RefundRejection.Unknown);
  t.like(ledger.stats(), { issued: 1, redeemed: 1, rejected: 1, size: 0 });
});

test('take ledger - ids are unguessable: distinct, 12 base64url characters, drawn from the random source', (t) => {
  let calls = 0;
  const ledger = new TakeLedger(new SimulatedClock(), {
    randomBytes: (n) => {
      calls++;
      return randomBytes(n);
    },
  });
  const a = ledger.issue(tok('r'), 1);
  t.is(calls, 1);
  for (let i = 0; i < 600; i++) ledger.issue(tok('r'), 1);
  t.is(calls, 2, 'one pool of 512 ids per call to the random source');
  t.is(a.length, 12);
  const real = new TakeLedger(new SimulatedClock(), { maxEntries: 20_000 });
  const ids = new Set(Array.from({ length: 10_000 }, () => real.issue(tok('r'), 1)));
  t.is(ids.size, 10_000);
  for (const id of ids) t.true(/^[A-Za-z0-9_-]{12}$/.test(id));
});

test('take ledger - an id expires at the end of the window, on the manual clock', (t) => {
  const clock = new SimulatedClock(0);
  const ledger = new TakeLedger(clock, { windowMs: 10_000 });
  const early = ledger.issue(tok('r'), 1);
  const late = ledger.issue(tok('r'), 1);
  clock.advance(9_999);
  t.like(ledger.redeem(early, 'r', 1), { token: 'r' });
  clock.advance(1);
  t.is(ledger.redeem(late, 'r', 1), RefundRejection.Expired);
  t.like(ledger.stats(), { expired: 1, rejected: 1, redeemed: 1 });
});

test('take ledger - expired ids are swept as new ones are issued', (t) => {
  const clock = new SimulatedClock(0);
  const ledger = new TakeLedger(clock, { windowMs: 1_000 });
  for (let i = 0; i < 100; i++) ledger.issue(tok('r'), 1);
  clock.advance(500);
  for (let i = 0; i < 10; i++) ledger.issue(tok('r'), 1);
  t.is(ledger.size, 110);
  clock.advance(600); // the first 100 are 1100 ms old, the last 10 600 ms
  ledger.issue(tok('r'), 1);
  t.is(ledger.size, 11);
  t.is(ledger.stats().expired, 100);
});

test('take ledger - a refund for another token is rejected and spends the id', (t) => {
  const ledger = new TakeLedger(new SimulatedClock());
  const id = ledger.issue(tok('r|user=a'), 1);
  t.is(ledger.redeem(id, 'r|user=b', 1), RefundRejection.OtherToken);
  t.is(ledger.redeem(id, 'r|user=a', 1), RefundRejection.Unknown, 'single use even when misused');
});

test('take ledger - a refund of more than was taken is rejected; less is accepted', (t) => {
  const ledger = new TakeLedger(new SimulatedClock());
  const a = ledger.issue(tok('r'), 3);
  t.is(ledger.redeem(a, 'r', 3.5), RefundRejection.OverCost);
  const b = ledger.issue(tok('r'), 3);
  t.is(ledger.redeem(b, 'r', 0), RefundRejection.OverCost);
  const c = ledger.issue(tok('r'), 3);
  t.like(ledger.redeem(c, 'r', 2), { cost: 3 });
});

test('take ledger - a made-up id is unknown', (t) => {
  const ledger = new TakeLedger(new SimulatedClock());
  ledger.issue(tok('r'), 1);
  t.is(ledger.redeem('AAAAAAAAAAAA', 'r', 1), RefundRejection.Unknown);
  t.is(ledger.redeem('', 'r', 1), RefundRejection.Unknown);
});

test('take ledger - the size is bounded: the oldest id goes first and its refund is rejected', (t) => {
  const ledger = new TakeLedger(new SimulatedClock(), { maxEntries: 3 });
  const ids = Array.from({ length: 5 }, () => ledger.issue(tok('r'), 1));
  t.is(ledger.size, 3);
  t.is(ledger.stats().evicted, 2);
  t.is(ledger.redeem(ids[0]!, 'r', 1), RefundRejection.Unknown);
  t.is(ledger.redeem(ids[1]!, 'r', 1), RefundRejection.Unknown);
  for (const id of ids.slice(2)) t.like(ledger.redeem(id, 'r', 1), { token: 'r' });
});

test('take ledger - options out of range are refused', (t) => {
  const clock = new SimulatedClock();
  t.throws(() => new TakeLedger(clock, { windowMs: 0 }), {
    instanceOf: InputError,
    message: /ledger.windowMs/,
  });
  t.throws(() => new TakeLedger(clock, { maxEntries: 1.5 }), {
    instanceOf: InputError,
    message: /ledger.maxEntries/,
  });
});

test('guard - counts every refusal and logs each kind at most once per 10 s', (t) => {
  const clock = new SimulatedClock(0);
  const lines: string[] = [];
  const guard = new Guard({ warn: (m) => lines.push(m) }, clock);
  guard.refuse(Refused.Refund, 'first');
  guard.refuse(Refused.Refund, 'second', 4);
  guard.refuse(Refused.Call, 'a call');
  t.deepEqual(guard.stats(), {
    refundsRejected: 5,
    badMessages: 0,
    badReplies: 0,
    callsRefused: 1,
    replySubjectsRefused: 0,
    subscriptionErrors: 0,
  });
  t.is(lines.length, 2);
  clock.advance(LOG_EVERY_MS);
  guard.refuse(Refused.Refund, 'third');
  t.is(lines.length, 3);
  t.regex(lines[2]!, /third \(and 4 more since the last report\)/);
});
