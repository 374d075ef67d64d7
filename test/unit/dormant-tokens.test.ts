import test from 'ava';
import { DormantTokens, TokenActor } from '../../actors/index.ts';
import type { DormantState } from '../../actors/index.ts';
import { compileRule, parseRule, SimulatedClock, tokenKeyOf } from '../../lib/index.ts';

const T0 = 1_764_000_000_000;
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 2, period: '1h', burst: 2 }));

/** A token whose bucket is used up, asleep. */
function asleep() {
  const clock = new SimulatedClock(T0);
  const token = tokenKeyOf(rule, { user: 'a' });
  const actor = new TokenActor(token, rule, clock);
  actor.check(1);
  actor.check(1);
  const dormant = new DormantTokens<DormantState>(clock, (_a, snapshot) => ({ snapshot }));
  dormant.sleep(token, actor);
  return { clock, token, dormant };
}

test('dormant-tokens - an activation that throws leaves the state dormant: the next one gets it', (t) => {
  const { clock, token, dormant } = asleep();
  t.is(dormant.size, 1);
  t.throws(
    () =>
      dormant.wake(token, () => {
        throw new Error('activation failed');
      }),
    { message: 'activation failed' },
  );
  t.is(dormant.size, 1, 'kept through the failed activation');
  const actor = dormant.wake(token, (s) => new TokenActor(token, rule, clock, s?.snapshot));
  t.false(actor.check(1).allow, 'the used-up bucket, not a fresh burst');
  t.is(dormant.size, 0, 'dropped once the actor is made');
});

test('dormant-tokens - a token not dormant activates with undefined and nothing changes', (t) => {
  const { dormant } = asleep();
  t.is(
    dormant.wake('per-user|b' as never, (s) => s),
    undefined,
  );
  t.is(dormant.size, 1);
});
