// Leased demand (services/check/lease-demand.ts) on a real TokenActor and LeaseBook with a
// simulated clock: a slice's grant and return move budget only, the checks a client reports are
// recorded as the token's requests (window and observer) spread over their span, and over a
// three-client run the token's window counts exactly the checks the clients made.
import test from 'ava';
import { TokenActor } from '../../actors/index.ts';
import {
  InputError,
  SimulatedClock,
  compileRule,
  mulberry32,
  parseRule,
  Placement,
} from '../../lib/index.ts';
import type { RuleDecision, TokenKey } from '../../lib/index.ts';
import type { DecisionObserver, ObservedItem } from '../../collection/index.ts';
import {
  LeaseBook,
  MAX_REPORTED,
  parseLeaseAsk,
  parseLeaseRequest,
  parseLeaseReturn,
  recordReported,
} from '../../services/check/index.ts';
import type { LeaseAsk, LeaseGrant, LeaseReport } from '../../services/check/index.ts';
import { refOf } from '../../services/wire/index.ts';

const RULE = compileRule(parseRule({ id: 'hot', key: ['user'], rate: 100, period: '1s', burst: 30 }));
const TOKEN = 'hot|user=u1' as TokenKey;

function setup(): { clock: SimulatedClock; actor: TokenActor; book: LeaseBook } {
  const clock = new SimulatedClock(1_000_000);
  return {
    clock,
    actor: new TokenActor(TOKEN, RULE, clock),
    book: new LeaseBook('n1', clock, new Placement(['n1']), { ttlMs: 2000 }),
  };
}

const ask = (client: string, want: number, previous?: LeaseGrant, unused = 0): LeaseAsk => ({
  client,
  token: TOKEN,
  rule: refOf(RULE),
  want,
  params: { user: 'u1' },
  ...(previous?.lease ? { previous: { lease: previous.lease, unused } } : {}),
});

/** An observer that keeps what it is told. */
function recorder(): DecisionObserver & { seen: Array<{ item: ObservedItem; allow: boolean }> } {
  const seen: Array<{ item: ObservedItem; allow: boolean }> = [];
  return {
    seen,
    decided: (item: ObservedItem, d: RuleDecision) => seen.push({ item, allow: d.allow }),
    refunded: () => undefined,
  };
}

test('lease demand - a grant and a return move budget only: the window counts no request', (t) => {
  const { actor, book } = setup();
  const g = book.grant(actor, ask('a', 20));
  t.is(g.units, 20);
  t.is(actor.peek(0).remaining, 10, 'the units are taken from the bucket');
  t.is(book.giveBack(actor, { node: 'n1', lease: g.lease, token: TOKEN, unused: 15 }), 15);
  t.is(actor.peek(0).remaining, 25, 'and the unused ones come back');
  t.deepEqual(actor.window.totals(), { requests: 0, allowed: 0, denied: 0, cost: 0 });
});

test('lease demand - reported checks become requests spread over their span, told to the observer', (t) => {
  const { clock, actor } = setup();
  const obs = recorder();
  const report: LeaseReport = { allowed: 30, denied: 10, cost: 40, spanMs: 2000 };
  recordReported(actor, report, { user: 'u1' }, obs, clock.now());
  t.deepEqual(actor.window.totals(), { requests: 40, allowed: 30, denied: 10, cost: 40 });
  // Spread over the two seconds before now: 20 checks in each, 15 of them allowed.
  const s = actor.window.series('1s', 3, clock.now());
  t.deepEqual(
    s.buckets.map((b) => [b.requests, b.allowed]),
    [
      [20, 15],
      [20, 15],
      [0, 0],
    ],
  );
  t.is(obs.seen.length, 40);
  t.is(obs.seen.filter((s) => s.allow).length, 30);
  t.true(obs.seen.every((s) => s.item.token === TOKEN && s.item.params?.['user'] === 'u1'));
  const times = obs.seen.map((s) => s.item.atMs!);
  t.true(
    times.every((at, i) => at >= clock.now() - 2000 && at < clock.now() && (i === 0 || at >= times[i - 1]!)),
  );
  recordReported(actor, { allowed: 0, denied: 0, cost: 0, spanMs: 0 }, undefined, obs, clock.now());
  t.is(actor.window.totals().requests, 40, 'an empty report records nothing');
});

test('lease demand - three clients reporting: the window counts every check they made, per second too', (t) => {
  const { clock, actor, book } = setup();
  const rand = mulberry32(7);
  type Holder = {
    name: string;
    grant?: LeaseGrant;
    units: number;
    until: number;
    report: LeaseReport;
    since: number;
  };
  const clients: Holder[] = ['a', 'b', 'c'].map((name) => ({
    name,
    units: 0,
    until: 0,
    report: { allowed: 0, denied: 0, cost: 0, spanMs: 0 },
    since: clock.now(),
  }));
  const perSecond: number[] = [];
  let checks = 0;
  let allowed = 0;
  const renew = (h: Holder): void => {
    const now = clock.now();
    const a = ask(h.name, 60, h.grant, h.units);
    a.report = { ...h.report, spanMs: now - h.since };
    const g = book.grant(actor, a);
    recordReported(actor, a.report, a.params, undefined, now);
    h.grant = g;
    h.units = g.units;
    h.until = now + g.ttlMs;
    h.report = { allowed: 0, denied: 0, cost: 0, spanMs: 0 };
    h.since = now;
  };
  const start = clock.now();
  for (let ms = 0; ms < 10_000; ms++) {
    clock.advance(1);
    const now = clock.now();
    for (const h of clients) {
      // About 60 checks a second each: 1.8 times the rule's rate, so some are denied.
      if (rand() >= 0.06) continue;
      checks++;
      const second = Math.floor((now - start) / 1000);
      perSecond[second] = (perSecond[second] ?? 0) + 1;
      if (h.units < 1 || now >= h.until || now - h.since > 1200) renew(h);
      if (h.units >= 1 && now < h.until) {
        h.units--;
        h.report.allowed++;
        allowed++;
      } else {
        // No slice: a plain check on the owner, recorded as it is taken.
        if (actor.check(1).allow) allowed++;
      }
      h.report.cost++;
    }
  }
  // The last reports go back with the slices' returns.
  for (const h of clients) {
    if (h.grant === undefined) {
      recordReported(
        actor,
        { ...h.report, spanMs: clock.now() - h.since },
        undefined,
        undefined,
        clock.now(),
      );
      continue;
    }
    const ret = { node: 'n1', lease: h.grant.lease, token: TOKEN, unused: h.units };
    book.giveBack(actor, ret);
    recordReported(actor, { ...h.report, spanMs: clock.now() - h.since }, undefined, undefined, clock.now());
  }
  const totals = actor.window.totals();
  t.log(`${checks} checks, ${allowed} allowed; window ${JSON.stringify(totals)}`);
  t.is(totals.requests, checks, 'every check is one request, the grants none');
  t.is(totals.allowed, allowed);
  t.is(totals.cost, checks);
  // Per second, what forecasts read: within a renewal's span (~1.2 s) of the checks made then.
  const s = actor.window.series('1s', 12, clock.now());
  const firstBucket = Math.floor(start / 1000) * 1000;
  const seen = s.buckets.filter(
    (_, i) => s.startMs + i * 1000 >= firstBucket + 2000 && s.startMs + i * 1000 < firstBucket + 9000,
  );
  t.true(seen.length >= 6, `${seen.length} seconds compared`);
  for (const b of seen) {
    const second = Math.round((s.startMs + s.buckets.indexOf(b) * 1000 - firstBucket) / 1000);
    const made = perSecond[second] ?? 0;
    t.true(
      Math.abs(b.requests - made) <= 0.35 * made,
      `second ${second}: ${b.requests} recorded, ${made} made`,
    );
  }
});

test('lease demand - reports are validated like the public API, naming field and value', (t) => {
  const base = { client: 'c', params: { user: 'u1' }, want: 1 };
  const report = { allowed: 3, denied: 1, cost: 4, spanMs: 900 };
  t.deepEqual(parseLeaseRequest({ ...base, report }).report, report);
  const ret = { node: 'n1', lease: 'AAAAAAAAAAAA', token: 't', unused: 0 };
  t.deepEqual(parseLeaseReturn({ ...ret, report }).report, report);
  t.deepEqual(
    parseLeaseReturn({ lease: 'AAAAAAAAAAAA', token: 't', unused: 0, report }, 'params').report,
    report,
  );
  const relayed = { client: 'c', token: 't', rule: refOf(RULE), want: 1, params: { user: 'u1' }, report };
  t.like(parseLeaseAsk(relayed), { report, params: { user: 'u1' } });
  const cases: Array<[unknown, RegExp]> = [
    [{ ...report, allowed: -1 }, /^report.allowed must be an integer from 0 to 1000000.*got -1/],
    [{ ...report, allowed: 1.5 }, /^report.allowed must be an integer.*got 1.5/],
    [{ ...report, denied: MAX_REPORTED }, /^report.denied must be an integer from 0 to 999997.*got 1000000/],
    [{ ...report, cost: Number.NaN }, /^report.cost must be a number from 0/],
    [{ ...report, spanMs: 600_001 }, /^report.spanMs must be an integer from 0 to 600000.*got 600001/],
    [{ allowed: 1, denied: 0, cost: 1 }, /^report.spanMs is required/],
    [{ ...report, extra: 1 }, /^report.extra is not a known field/],
    ['many', /^report must be a JSON object/],
  ];
  for (const [r, message] of cases) {
    t.throws(() => parseLeaseRequest({ ...base, report: r }), { instanceOf: InputError, message });
  }
  t.throws(() => parseLeaseReturn({ ...ret, report: { ...report, cost: -1 } }), {
    instanceOf: InputError,
    message: /^report.cost must be/,
  });
  t.throws(() => parseLeaseAsk({ ...relayed, report: { ...report, denied: 'x' } }), {
    instanceOf: InputError,
    message: /^params.report.denied must be/,
  });
  t.throws(() => parseLeaseAsk({ ...relayed, params: 'u1' }), {
    instanceOf: InputError,
    message: /^params.params must be/,
  });
});
