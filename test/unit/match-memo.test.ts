// The rules params match and their tokens, remembered by the values the
// rules read (lib/match-memo.ts): the same answers as matching every rule
// and building each token, for a seeded sequence, across effective dates.
import test from 'ava';
import { MatchMemo, RuleSet, compileRule, mulberry32, parseRule, tokenKeyOf } from '../../lib/index.ts';
import type { Params } from '../../lib/index.ts';

const FROM = Date.parse('2026-12-01T00:00:00Z');
const UNTIL = Date.parse('2026-12-02T00:00:00Z');

const SET = new RuleSet(
  [
    parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s', priority: 1 }),
    parseRule({ id: 'per-op', key: ['op'], match: { tier: ['free', 1] }, rate: 100, period: '1s' }),
    parseRule({
      id: 'sale',
      key: ['user', 'op'],
      rate: 5,
      period: '1s',
      effectiveFrom: new Date(FROM).toISOString(),
      effectiveUntil: new Date(UNTIL).toISOString(),
    }),
  ].map(compileRule),
);

/** What the memo must answer: every matching rule and its token, as the gateway built them. */
function direct(set: RuleSet, params: Params, nowMs: number): { rules: string[]; tokens: string[] } {
  const rules = set.matching(params, nowMs);
  return { rules: rules.map((r) => r.id), tokens: rules.map((r) => tokenKeyOf(r, params)) };
}

/** Params from a small space (so values repeat), with odd values: numbers as strings, escapes, missing fields. */
function paramsOf(rand: () => number): Params {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const p: Record<string, string | number | boolean> = {};
  if (rand() < 0.9) p['user'] = pick(['u1', 'u2', 'u|3', 'u=4', 'u%5', 7, '7', true]);
  if (rand() < 0.8) p['op'] = pick(['GetItem', 'PutItem', 1]);
  if (rand() < 0.7) p['tier'] = pick(['free', 'paid', 1, '1']);
  if (rand() < 0.3) p['other'] = pick(['x', 'y']);
  return p;
}

test('match memo - a seeded sequence gets what matching and tokenKeyOf give, across effective dates', (t) => {
  const memo = new MatchMemo(SET, 1000);
  const rand = mulberry32(20261207);
  // Times before, inside and after the sale rule's dates, and back again (a clock stepping back).
  const times = [FROM - 5000, FROM - 1, FROM, FROM + 60_000, UNTIL - 1, UNTIL, UNTIL + 1, FROM + 1, FROM - 1];
  let checked = 0;
  for (const nowMs of times) {
    for (let i = 0; i < 400; i++) {
      const params = paramsOf(rand);
      const m = memo.get(params, i % 2 === 0 ? nowMs : () => nowMs);
      t.deepEqual(
        { rules: m.rules.map((r) => r.id), tokens: [...m.tokens] },
        direct(SET, params, nowMs),
        JSON.stringify(params),
      );
      checked++;
    }
  }
  t.is(checked, times.length * 400);
});

test('match memo - a repeated params value gets the same token string (its hash computed once)', (t) => {
  const memo = new MatchMemo(SET, 1000);
  const now = FROM - 1;
  const a = memo.get({ user: 'u1', op: 'GetItem', tier: 'free' }, now);
  const b = memo.get({ tier: 'free', op: 'GetItem', user: 'u1', other: 'ignored' }, now);
  t.is(a, b);
  t.is(a.tokens[0] as string, 'per-user|user=u1');
  t.is(memo.size, 1);
  // Numbers and strings are remembered apart, with the same answer.
  const n = memo.get({ user: 7 }, now);
  const s = memo.get({ user: '7' }, now);
  t.not(n, s);
  t.deepEqual(n.tokens, s.tokens);
});

test('match memo - bounded: past maxEntries it starts over and still answers', (t) => {
  const memo = new MatchMemo(SET, 10);
  const now = FROM - 1;
  for (let i = 0; i < 25; i++) {
    const params = { user: `u${i}` };
    t.deepEqual([...memo.get(params, now).tokens], direct(SET, params, now).tokens);
    t.true(memo.size <= 10);
  }
});

test('match memo - rules reading more than four params are matched per request, with the same answers', (t) => {
  const wide = new RuleSet(
    [parseRule({ id: 'wide', key: ['a', 'b', 'c', 'd', 'e'], rate: 1, period: '1s' })].map(compileRule),
  );
  const memo = new MatchMemo(wide, 100);
  const params = { a: 1, b: 2, c: 3, d: 4, e: 'x|y' };
  t.deepEqual([...memo.get(params, 0).tokens], direct(wide, params, 0).tokens);
  t.is(memo.size, 0);
  t.deepEqual(memo.get({ a: 1 }, 0).tokens, []);
});
