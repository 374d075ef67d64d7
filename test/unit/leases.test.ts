// Client leases, the owner's book (services/check/leases.ts) on a real TokenActor and a simulated
// clock: slice sizing, max-min fair shares, renewals that keep unused units, returns, expiry, the
// pause after a view change, and a simulated run whose per-window allowed count stays within the
// GCRA bound plus one burst while the slices still carry most of the rule's rate.
import test from 'ava';
import { TokenActor } from '../../actors/index.ts';
import {
  ErrorCode,
  InputError,
  Placement,
  SimulatedClock,
  StateError,
  compileRule,
  mulberry32,
  parseRule,
} from '../../lib/index.ts';
import type { TokenKey } from '../../lib/index.ts';
import {
  LeaseBook,
  parseLeaseAsk,
  parseLeaseRequest,
  parseLeaseReturn,
  sliceTopUp,
} from '../../services/check/index.ts';
import type { LeaseAsk, LeaseGrant } from '../../services/check/index.ts';
import { refOf } from '../../services/wire/index.ts';

const RULE = compileRule(parseRule({ id: 'hot', key: ['user'], rate: 100, period: '1s', burst: 30 }));
const TOKEN = 'hot|user=u1' as TokenKey;

function setup(ttlMs = 2000): { clock: SimulatedClock; actor: TokenActor; book: LeaseBook } {
  const clock = new SimulatedClock(1_000_000);
  return {
    clock,
    actor: new TokenActor(TOKEN, RULE, clock),
    book: new LeaseBook('n1', clock, new Placement(['n1']), { ttlMs }),
  };
}

const ask = (client: string, want: number, previous?: LeaseGrant, unused = 0): LeaseAsk => ({
  client,
  token: TOKEN,
  rule: refOf(RULE),
  want,
  ...(previous?.lease ? { previous: { lease: previous.lease, unused } } : {}),
});

test('leases - a top-up is bounded by want, fair share, the burst left, the bucket, less what was kept', (t) => {
  const base = { burst: 30, want: 50, carried: 0, othersHeld: 0, share: 30, available: 30 };
  t.is(sliceTopUp(base), 30);
  t.is(sliceTopUp({ ...base, want: 12 }), 12);
  t.is(sliceTopUp({ ...base, share: 10 }), 10);
  t.is(sliceTopUp({ ...base, othersHeld: 25 }), 5);
  t.is(sliceTopUp({ ...base, available: 7.9 }), 7, 'whole units the bucket allows');
  t.is(sliceTopUp({ ...base, carried: 20 }), 10);
  t.is(
    sliceTopUp({ ...base, carried: 40 }),
    0,
    'never negative: a client over its share keeps what it holds',
  );
  t.is(sliceTopUp({ ...base, othersHeld: 31 }), 0);
});

test('leases - a slice is taken from the bucket; the clients of a token never hold more than its burst', (t) => {
  const { actor, book } = setup();
  const a = book.grant(actor, ask('a', 100));
  t.like(a, {
    node: 'n1',
    token: TOKEN,
    rule: 'hot',
    mode: 'enforce',
    limit: 100,
    units: 30,
    ttlMs: 2000,
    holders: 1,
    available: 0,
  });
  t.regex(a.lease, /^[A-Za-z0-9_-]{12}$/);
  t.is(actor.peek(0).remaining, 0, 'the 30 units are taken from the bucket');
  const b = book.grant(actor, ask('b', 100));
  t.like(b, { units: 0, holders: 2 });
  t.regex(
    b.lease,
    /^[A-Za-z0-9_-]{12}$/,
    'a slice of 0 units has an id too: its denials are reported with its return',
  );
  t.true(b.retryAfterMs > 0, 'an empty bucket says when to ask again');
  t.is(book.held(TOKEN), 30);
});

test('leases - shares are max-min fair among the holders, converging at renewals', (t) => {
  const { clock, actor, book } = setup();
  let a = book.grant(actor, ask('a', 100));
  clock.advance(1000); // the bucket refills: 100 units, capped at the burst
  let b = book.grant(actor, ask('b', 100));
  t.is(b.units, 0, 'a holds the whole burst');
  t.is(b.retryAfterMs, 0, 'budget held by others: check without a lease meanwhile');
  t.is(b.available, 30, 'short by the share, not the bucket: the client does not deny past its slice');
  // a used 25 of 30: its renewal keeps 5 and is topped up to its share (15 of 30 with b wanting).
  a = book.grant(actor, ask('a', 100, a, 5));
  t.is(a.units, 15);
  b = book.grant(actor, ask('b', 100));
  t.is(b.units, 15);
  t.is(book.held(TOKEN), 30);
  const c = book.grant(actor, ask('c', 4));
  t.is(c.units, 0, 'the burst is held');
  clock.advance(1000); // the bucket refills; a and b still hold their slices
  a = book.grant(actor, ask('a', 100, a, 0));
  t.is(a.units, 13, 'a small want is served in full first: (30 - 4) / 2 = 13');
  t.is(book.grant(actor, ask('c', 4)).units, 2, 'what is left of the burst');
});

test('leases - a return gives the unused units back once; a forged, other-token or replayed id is refused', (t) => {
  const { actor, book } = setup();
  const a = book.grant(actor, ask('a', 20));
  t.is(actor.peek(0).remaining, 10);
  const ret = { node: 'n1', lease: a.lease, token: TOKEN, unused: 8 };
  t.throws(() => book.giveBack(actor, { ...ret, token: 'hot|user=u2' as TokenKey }), {
    instanceOf: InputError,
    message: /lease must name a slice of "hot\|user=u2"/,
  });
  // A wrong token does not spend the id.
  t.is(book.giveBack(actor, { ...ret, unused: 50 }), 20, 'at most what the slice holds');
  t.is(actor.peek(0).remaining, 30);
  const again = t.throws(() => book.giveBack(actor, ret), { instanceOf: InputError });
  t.is(again?.code, ErrorCode.RefundRejected);
  t.is(again?.field, 'lease');
  t.throws(() => book.giveBack(actor, { ...ret, lease: 'AAAAAAAAAAAA' }), { instanceOf: InputError });
  t.is(book.size, 0);
});

test('leases - slices expire after ttlMs; an expired one is returned for nothing', (t) => {
  const { clock, actor, book } = setup(500);
  const a = book.grant(actor, ask('a', 20));
  clock.advance(499);
  t.is(book.held(TOKEN), 20);
  clock.advance(1);
  t.is(book.held(TOKEN), 0);
  t.is(book.giveBack(actor, { node: 'n1', lease: a.lease, token: TOKEN, unused: 20 }), 0);
  // A renewal naming an expired slice keeps nothing of it.
  const b = book.grant(actor, ask('b', 10));
  clock.advance(600);
  t.is(book.grant(actor, ask('b', 10, b, 10)).units, 10, 'topped up from the bucket, not carried');
});

test('leases - no slice of a token this node does not own, or owned elsewhere within ttlMs, or while leaving', (t) => {
  const clock = new SimulatedClock(0);
  const book = new LeaseBook('n1', clock, new Placement(['n1', 'n2']), { ttlMs: 1000 });
  const tokens = Array.from({ length: 40 }, (_, i) => `hot|user=u${i}` as TokenKey);
  const mine = tokens.filter((k) => new Placement(['n1', 'n2']).owner(k) === 'n1');
  const moved = tokens.filter((k) => !mine.includes(k));
  t.true(mine.length > 0 && moved.length > 0);
  t.notThrows(() => book.requireGrantable(mine[0]!, false));
  t.throws(() => book.requireGrantable(moved[0]!, false), {
    instanceOf: StateError,
    message: /does not own/,
  });
  t.throws(() => book.requireGrantable(mine[0]!, true), { instanceOf: StateError, message: /leaving/ });
  // n2 leaves: its tokens come here, but its clients' slices may live for another ttlMs.
  book.viewChanged(new Placement(['n1']));
  const e = t.throws(() => book.requireGrantable(moved[0]!, false), { instanceOf: StateError });
  t.true(e?.retryable);
  t.regex(e?.message ?? '', /moved here less than 1000 ms ago/);
  t.notThrows(() => book.requireGrantable(mine[0]!, false), 'tokens that stayed here are unaffected');
  clock.advance(1000);
  t.notThrows(() => book.requireGrantable(moved[0]!, false));
});

test('leases - three clients over 20 s: every 1 s window within the GCRA bound plus one burst, most of the rate served', (t) => {
  const { clock, actor, book } = setup(2000);
  const rand = mulberry32(15);
  const rate = 100;
  const burst = 30;
  type Holder = {
    name: string;
    grant: LeaseGrant | undefined;
    units: number;
    until: number;
    used: number;
    at: number;
  };
  const clients: Holder[] = ['a', 'b', 'c'].map((name) => ({
    name,
    grant: undefined,
    units: 0,
    until: 0,
    used: 0,
    at: clock.now(),
  }));
  const start = clock.now();
  const allowedAt: number[] = [];
  const renew = (h: Holder): void => {
    const now = clock.now();
    const want = Math.max(2, Math.ceil((h.used / Math.max(50, now - h.at)) * 2000 * 1.5));
    const g = book.grant(actor, ask(h.name, want, h.grant, h.units));
    h.grant = g;
    h.units = g.units;
    h.until = now + g.ttlMs;
    h.used = 0;
    h.at = now;
  };
  for (let ms = 0; ms < 20_000; ms++) {
    clock.advance(1);
    for (const h of clients) {
      // Each client wants about 80 checks a second: together 2.4 times the rule's rate.
      if (rand() >= 0.08) continue;
      const now = clock.now();
      if (h.units < 1 || now >= h.until || now - h.at > 1200) renew(h);
      if (h.units >= 1 && now < h.until) {
        h.units--;
        h.used++;
        allowedAt.push(now - start);
      }
    }
  }
  const elapsed = 20_000;
  t.true(allowedAt.length <= burst + (rate * elapsed) / 1000 + burst, `${allowedAt.length} allowed in all`);
  let worst = 0;
  for (let i = 0, j = 0; i < allowedAt.length; i++) {
    while (allowedAt[i]! - allowedAt[j]! >= 1000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  t.log(
    `${allowedAt.length} allowed in ${elapsed} ms (rate ${rate}/s, burst ${burst}); worst 1 s window ${worst}`,
  );
  t.true(worst <= burst + rate + burst, `${worst} allowed in the worst 1 s window`);
  t.true(
    allowedAt.length >= (0.8 * (rate * elapsed)) / 1000,
    `${allowedAt.length} allowed: the slices carry the rate`,
  );
});

test('leases - requests and relayed asks are validated like the public API, naming field and value', (t) => {
  t.like(parseLeaseRequest({ client: 'c-1', params: { user: 'u1' }, want: 5 }), { client: 'c-1', want: 5 });
  const cases: Array<[unknown, RegExp]> = [
    [{ params: { user: 'u1' }, want: 5 }, /^client is required/],
    [{ client: 'a b', params: {}, want: 5 }, /^client must be 1 to 64 characters.*got "a b"/],
    [{ client: 'c', params: {}, want: 0 }, /^want must be a number greater than 0.*got 0/],
    [{ client: 'c', params: {}, want: 1, extra: 1 }, /^extra is not a known field/],
    [
      { client: 'c', params: {}, want: 1, previous: { lease: 'x', unused: 1 } },
      /^previous.lease must be a lease id.*got "x"/,
    ],
    [
      { client: 'c', params: {}, want: 1, previous: { lease: 'AAAAAAAAAAAA', unused: -1 } },
      /^previous.unused must be a number from 0.*got -1/,
    ],
    [{ client: 'c', params: 'u1', want: 1 }, /^params must be an object of parameters/],
  ];
  for (const [body, message] of cases)
    t.throws(() => parseLeaseRequest(body), { instanceOf: InputError, message });
  t.throws(() => parseLeaseReturn({ lease: 'AAAAAAAAAAAA', token: 't', unused: 1 }), {
    message: /^node is required/,
  });
  t.throws(() => parseLeaseReturn({ node: 'n1', lease: 'AAAAAAAAAAAA', token: '', unused: 1 }), {
    message: /^token must be a token key of 1 to/,
  });
  t.throws(() => parseLeaseAsk({ client: 'c', token: 't', rule: { id: 'r' }, want: 1 }), {
    message: /^params.rule is missing|^params.rule/,
  });
  t.like(parseLeaseReturn({ lease: 'AAAAAAAAAAAA', token: 't', unused: 0 }, 'params'), {
    node: '',
    unused: 0,
  });
});
