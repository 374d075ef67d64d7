// The client's CPU per leased check (issue 15): the lease token of a check remembered by the
// values of the params the rules read (client/topology.ts), with the same answer as matching
// every rule, for any params and time, and never an old view's token; the leases' clock read
// once per check and handed to the token lookup; the reply built in client/leases.ts equal to
// lib's combineDecisions for every mode and outcome.
import test from 'ava';
import { ClientTopology, parseTopology } from '../../client/index.ts';
import { ClientLeases } from '../../client/leases.ts';
import type { LeaseDeps } from '../../client/leases.ts';
import { RuleSet, combineDecisions, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { CheckReply, CheckRequest, Params, RuleSpec } from '../../lib/index.ts';
import { topologyOf } from '../../services/api/topology.ts';

const FROM = Date.parse('2026-12-01T00:00:00Z');
const UNTIL = Date.parse('2026-12-02T00:00:00Z');
const RULES = [
  parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s', priority: 1 }),
  parseRule({ id: 'per-op', key: ['op'], match: { tier: ['free', 1] }, rate: 100, period: '1s' }),
  parseRule({
    id: 'promo',
    key: ['user'],
    match: { op: ['Buy'] },
    rate: 5,
    period: '1s',
    priority: 2,
    effectiveFrom: '2026-12-01T00:00:00Z',
    effectiveUntil: '2026-12-02T00:00:00Z',
  }),
];
const viewOf = (rules: RuleSpec[]): ClientTopology =>
  new ClientTopology(parseTopology(topologyOf('n1', ['n1', 'n2'], rules)));
/** leaseToken as it was: every rule matched, the token built. */
const expected = (rules: RuleSpec[], params: Params, nowMs: number): string | undefined => {
  const matching = new RuleSet(rules.map(compileRule)).matching(params, nowMs);
  return matching.length === 1 ? tokenKeyOf(matching[0]!, params) : undefined;
};
const req = (params: Params): CheckRequest => ({ params, cost: 1 });

test('client lease tokens - the same answer as matching every rule, for any params, asked again, at any time', (t) => {
  const view = viewOf(RULES);
  const values = ['u1', 'u|2', 1, '1', true, undefined];
  const ops = ['Buy', 'Get', 1, undefined];
  const tiers = ['free', 1, '1', 'paid', false, undefined];
  // Before, within and after the promo's dates, back before them (a clock stepping back), and on
  // its edges: what was remembered in one span is never answered in another.
  const times = [FROM - 1, FROM, UNTIL - 1, UNTIL, UNTIL + 5000, FROM - 10, FROM + 1, UNTIL];
  let checked = 0;
  for (const nowMs of times) {
    for (let round = 0; round < 2; round++) {
      for (const user of values) {
        for (const op of ops) {
          for (const tier of tiers) {
            const params: Record<string, string | number | boolean> = { other: 'x' };
            if (user !== undefined) params['user'] = user;
            if (op !== undefined) params['op'] = op;
            if (tier !== undefined) params['tier'] = tier;
            const want = expected(RULES, params, nowMs);
            t.is(view.leaseToken(req(params), nowMs), want);
            t.is(
              view.leaseToken(req(params), () => nowMs),
              want,
              'the same with a clock',
            );
            checked++;
          }
        }
      }
    }
  }
  t.is(checked, times.length * 2 * values.length * ops.length * tiers.length);
  // An inherited param is no param, as the rules read them.
  const inherited = Object.create({ user: 'u1' }) as Params;
  t.is(view.leaseToken(req(inherited), FROM - 1), undefined);
});

test('client lease tokens - a new view never answers with the old rules: tokens come from its own', (t) => {
  const old = viewOf([parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s' })]);
  t.is(old.leaseToken(req({ user: 'u1', op: 'Get' }), Date.now), 'per-user|user=u1');
  // The same rule id keyed on more fields, then a selector that leaves u1 out, then a second rule.
  const rekeyed = viewOf([parseRule({ id: 'per-user', key: ['user', 'op'], rate: 10, period: '1s' })]);
  t.is(rekeyed.leaseToken(req({ user: 'u1', op: 'Get' }), Date.now), 'per-user|user=u1|op=Get');
  const selective = viewOf([
    parseRule({ id: 'per-user', key: ['user'], match: { user: ['u2'] }, rate: 10, period: '1s' }),
  ]);
  t.is(selective.leaseToken(req({ user: 'u1', op: 'Get' }), Date.now), undefined);
  t.is(selective.leaseToken(req({ user: 'u2', op: 'Get' }), Date.now), 'per-user|user=u2');
  const two = viewOf([
    parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s' }),
    parseRule({ id: 'per-op', key: ['op'], rate: 10, period: '1s' }),
  ]);
  t.is(two.leaseToken(req({ user: 'u1', op: 'Get' }), Date.now), undefined, 'two rules: no lease');
  t.is(
    old.leaseToken(req({ user: 'u1', op: 'Get' }), Date.now),
    'per-user|user=u1',
    'the old view unchanged',
  );
});

test('client lease tokens - the clock is read only when a rule has effective dates', (t) => {
  let reads = 0;
  const clock = (): number => {
    reads++;
    return FROM + 1;
  };
  const plain = viewOf(RULES.slice(0, 2));
  for (let i = 0; i < 10; i++) t.is(plain.leaseToken(req({ user: `u${i}` }), clock), `per-user|user=u${i}`);
  t.is(reads, 0);
  const dated = viewOf(RULES);
  t.is(dated.leaseToken(req({ user: 'u1', op: 'Buy' }), clock), undefined, 'per-user and the promo');
  t.is(dated.leaseToken(req({ user: 'u1', op: 'Get' }), clock), 'per-user|user=u1');
  t.is(reads, 2);
});

test('client lease tokens - more values than it remembers: it starts over, the answers stay right', (t) => {
  const view = viewOf(RULES);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 12_000; i += 7) {
      const params = { user: `u${i}`, tier: i % 2 === 0 ? 'free' : 'paid', op: `o${i % 3}` };
      t.is(view.leaseToken(req(params), FROM - 1), expected(RULES, params, FROM - 1));
    }
  }
  // More param names than it keys on: matched per check, the same answers.
  const names = ['a', 'b', 'c', 'd', 'e'];
  const wide = names.map((n) =>
    parseRule({ id: `per-${n}`, key: [n], match: { z: [n] }, rate: 1, period: '1s' }),
  );
  const wideView = viewOf(wide);
  for (const n of names) {
    const params = { z: n, [n]: 'v' };
    t.is(wideView.leaseToken(req(params), Date.now), `per-${n}|${n}=v`);
  }
});

/** Leases on a wire that grants `units` at once (`available` left in the bucket), on a clock the test moves and counts. */
function counted(
  mode: 'enforce' | 'shadow',
  units: number,
  available: number,
): {
  leases: ClientLeases;
  clock: { ms: number; reads: number };
  seen: number[];
} {
  const clock = { ms: 1000, reads: 0 };
  const seen: number[] = [];
  const deps: LeaseDeps = {
    tokenOf: (r, t) => {
      seen.push(t);
      return `hot|user=${String(r.params['user'])}`;
    },
    ownerOf: () => 'n1',
    request: () =>
      Promise.resolve({
        lease: 'AAAAAAAAAAAA',
        node: 'n1',
        rule: 'hot',
        mode,
        limit: 100,
        units,
        ttlMs: 60_000,
        retryAfterMs: 0,
        available,
        holders: 1,
      }),
    subject: (node, op) => `headroom.v1.node.${node}.${op}`,
    now: () => {
      clock.reads++;
      return clock.ms;
    },
  };
  return {
    leases: new ClientLeases(deps, { all: false, minRatePerSec: 20, backoffMs: 1000, timeoutMs: 500 }),
    clock,
    seen,
  };
}

test('client lease cpu - the clock is read once per check decided here, and the token looked up at that time', async (t) => {
  const { leases, clock, seen } = counted('enforce', 8, 100);
  const params = { user: 'u1' };
  t.like(await leases.decide(req(params), true), { allow: true });
  clock.ms += 5;
  const before = clock.reads;
  t.like(leases.decide(req(params), true), { allow: true, remaining: 6 });
  t.is(clock.reads - before, 1);
  t.is(seen.at(-1), clock.ms);
  await leases.close();
});

test('client lease cpu - the reply is combineDecisions of the one rule, allowed and denied, enforce and shadow', async (t) => {
  for (const mode of ['enforce', 'shadow'] as const) {
    // 1 unit of the 2 wanted, the bucket dry: one check allowed, the next denied here until the paced renewal.
    const { leases, clock } = counted(mode, 1, 0);
    const params = { user: 'u1' };
    const replies: CheckReply[] = [];
    replies.push((await leases.decide(req(params), true))!);
    const denied = leases.decide(req(params), true);
    t.false(denied instanceof Promise);
    replies.push(denied as CheckReply);
    clock.ms += 3; // before the renewal is due
    replies.push(leases.decide(req(params), true) as CheckReply);
    const outcomes = replies.map((r) => (mode === 'shadow' ? r.shadowDenied.length === 0 : r.allow));
    t.deepEqual(outcomes, [true, false, false], mode);
    for (const [i, r] of replies.entries()) {
      const allow = outcomes[i]!;
      const { reply } = combineDecisions([
        {
          token: 'hot|user=u1',
          ruleId: 'hot',
          mode,
          allow,
          limit: 100,
          remaining: 0,
          retryAfterMs: r.retryAfterMs,
        },
      ]);
      if (mode === 'enforce' && !allow) t.true(r.retryAfterMs >= 1, 'a denial says when to retry');
      t.deepEqual(r, reply, `${mode} reply ${i}`);
    }
    // Replies are the caller's: no two share a list.
    t.not(replies[0]!.tokens, replies[1]!.tokens);
    t.not(replies[0]!.shadowDenied, replies[1]!.shadowDenied);
    await leases.close();
  }
});
