import test from 'ava';
import { combineDecisions, replyOfOne } from '../../lib/index.ts';
import type { RuleDecision } from '../../lib/index.ts';

const d = (
  ruleId: string,
  allow: boolean,
  remaining: number,
  retryAfterMs = 0,
  mode: 'enforce' | 'shadow' = 'enforce',
): RuleDecision => ({
  token: `${ruleId}|k=v`,
  ruleId,
  mode,
  allow,
  limit: 10,
  remaining,
  retryAfterMs,
});

test('decide - allowed when every enforce rule allows; reports the tightest rule', (t) => {
  const { reply, refunds } = combineDecisions([d('wide', true, 9), d('tight', true, 2)]);
  t.like(reply, { allow: true, rule: 'tight', remaining: 2, retryAfterMs: 0 });
  t.deepEqual(reply.tokens, ['wide|k=v', 'tight|k=v']);
  t.deepEqual(refunds, []);
});

test('decide - one denial denies, waits for the slowest denier, and refunds every token that took budget', (t) => {
  const { reply, refunds } = combineDecisions([
    d('a', true, 5),
    d('b', false, 0, 300),
    d('c', false, 0, 900),
    d('s', true, 1, 0, 'shadow'),
  ]);
  t.like(reply, { allow: false, rule: 'c', retryAfterMs: 900 });
  t.deepEqual(refunds, [0, 3]);
});

test('decide - a request that can never pass reports -1, shadow rules never deny', (t) => {
  t.like(combineDecisions([d('a', false, 0, 50), d('b', false, 0, -1)]).reply, {
    rule: 'b',
    retryAfterMs: -1,
  });
  const shadow = combineDecisions([d('s', false, 0, 100, 'shadow')]);
  t.like(shadow.reply, { allow: true, rule: null, limit: null, remaining: null });
  t.deepEqual(shadow.reply.shadowDenied, ['s']);
  t.like(combineDecisions([]).reply, { allow: true, rule: null, tokens: [] });
});

/** One decision of each mode and outcome (a wait, and "never"). */
const ONE_RULE_CASES: RuleDecision[] = [
  d('a', true, 4),
  d('a', false, 0, 250),
  d('a', false, 0, -1),
  d('s', true, 4, 0, 'shadow'),
  d('s', false, 0, 100, 'shadow'),
];

test('decide - one decision (the common case) gives the reply, key order and refunds of the general rule', (t) => {
  // The general rule for one decision, written out: JSON key order is API too (replies are compared as text).
  const general = (x: RuleDecision): string => {
    const enforce = x.mode === 'enforce';
    return JSON.stringify({
      reply: {
        allow: enforce ? x.allow : true,
        rule: enforce ? x.ruleId : null,
        limit: enforce ? x.limit : null,
        remaining: enforce ? x.remaining : null,
        retryAfterMs: enforce && !x.allow ? x.retryAfterMs : 0,
        tokens: [x.token],
        shadowDenied: !enforce && !x.allow ? [x.ruleId] : [],
      },
      refunds: [],
    });
  };
  for (const x of ONE_RULE_CASES) {
    t.is(JSON.stringify(combineDecisions([x])), general(x), `${x.mode} ${x.allow}`);
  }
  // A denied single request refunds nothing: its one token took nothing.
  t.deepEqual(combineDecisions([d('a', false, 0, 250)]).refunds, []);
});

test('decide - replyOfOne is the combined reply of one decision, as text (the gateway answers one-rule checks with it)', (t) => {
  for (const x of ONE_RULE_CASES) {
    t.is(JSON.stringify(replyOfOne(x)), JSON.stringify(combineDecisions([x]).reply), `${x.mode} ${x.allow}`);
  }
  // A mode it does not know is left to combineDecisions.
  t.is(replyOfOne({ ...d('a', true, 4), mode: 'other' as 'enforce' }), undefined);
});
