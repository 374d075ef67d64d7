// A client's reported lease checks recorded on the owner in bulk (services/check/lease-demand.ts):
// whatever a report's count (up to two million), the owner updates the token's window once per
// second of the report's span and tells its observer about ONE_BY_ONE checks one by one, the rest
// as counts per second; the window, and the observer's decisions plus counts per second, equal
// what recording every check one by one gives (an independent oracle here: check i at
// from + (i + 0.5) x span / n, allowed when floor((i + 1) x allowed / n) steps up).
import test from 'ava';
import fc from 'fast-check';
import { TokenActor } from '../../actors/index.ts';
import { SimulatedClock, compileRule, parseRule } from '../../lib/index.ts';
import type { RuleDecision, TokenKey } from '../../lib/index.ts';
import type { DecisionObserver, ObservedItem } from '../../collection/index.ts';
import { ONE_BY_ONE, recordReported } from '../../services/check/index.ts';
import type { LeaseReport } from '../../services/check/index.ts';

const RULE = compileRule(parseRule({ id: 'hot', key: ['user'], rate: 100, period: '1s', burst: 30 }));
const TOKEN = 'hot|user=u1' as TokenKey;

/** An observer that counts per second and allowed/denied what it is told, one by one or in bulk. */
function tally(): DecisionObserver & { perSecond: Map<string, number>; ones: number; bulks: number } {
  const perSecond = new Map<string, number>();
  const add = (atMs: number, allow: boolean, n: number): void => {
    const k = `${Math.floor(atMs / 1000)}|${allow}`;
    perSecond.set(k, (perSecond.get(k) ?? 0) + n);
  };
  const o = {
    perSecond,
    ones: 0,
    bulks: 0,
    decided: (item: ObservedItem, d: RuleDecision) => {
      o.ones++;
      add(item.atMs!, d.allow, 1);
    },
    refunded: () => undefined,
    counted: (item: ObservedItem, allow: boolean, n: number, cost: number) => {
      o.bulks++;
      if (cost !== n * (item.cost ?? 0)) throw new Error(`cost ${cost} for ${n} checks of ${item.cost}`);
      add(item.atMs!, allow, n);
    },
  };
  return o;
}

/** Every check of `r` one by one, as the oracle places them: per second and allowed/denied. */
function oracle(r: LeaseReport, nowMs: number): Map<string, number> {
  const n = r.allowed + r.denied;
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const at = Math.floor(nowMs - r.spanMs + ((i + 0.5) * r.spanMs) / n);
    const allow = Math.floor(((i + 1) * r.allowed) / n) > Math.floor((i * r.allowed) / n);
    const k = `${Math.floor(at / 1000)}|${allow}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

const sorted = (m: Map<string, number>): Array<[string, number]> =>
  [...m].sort(([a], [b]) => a.localeCompare(b));

test('lease demand bulk - property: window and observer per second equal the checks one by one', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 3000 }),
      fc.constantFrom(0, 1, 999, 1000, 1500, 2000, 4321, 60_000),
      fc.integer({ min: 0, max: 999 }),
      (allowed, denied, spanMs, offset) => {
        const clock = new SimulatedClock(1_000_000 + offset);
        const actor = new TokenActor(TOKEN, RULE, clock);
        const obs = tally();
        const report: LeaseReport = { allowed, denied, cost: allowed + denied, spanMs };
        recordReported(actor, report, { user: 'u1' }, obs, clock.now());
        const expected = oracle(report, clock.now());
        if (!t.deepEqual(sorted(obs.perSecond), sorted(expected))) throw new Error('observer differs');
        // The window's seconds: requests and allowed as the oracle's.
        const seconds = Math.ceil(spanMs / 1000) + 2;
        const s = actor.window.series('1s', seconds, clock.now());
        for (const [i, b] of s.buckets.entries()) {
          const sec = Math.floor((s.startMs + i * s.stepMs) / 1000);
          const a = expected.get(`${sec}|true`) ?? 0;
          const d = expected.get(`${sec}|false`) ?? 0;
          if (!t.deepEqual([b.requests, b.allowed], [a + d, a], `second ${sec}`))
            throw new Error('window differs');
        }
        t.deepEqual(actor.window.totals(), {
          requests: allowed + denied,
          allowed,
          denied,
          cost: allowed + denied,
        });
        const spanSeconds = Math.ceil(spanMs / 1000) + 1;
        if (obs.ones > ONE_BY_ONE + spanSeconds) throw new Error(`${obs.ones} checks told one by one`);
      },
    ),
    { numRuns: 300 },
  );
});

test('lease demand bulk - two million reported checks: a few dozen told one by one, the rest counted', (t) => {
  const clock = new SimulatedClock(1_000_000);
  const actor = new TokenActor(TOKEN, RULE, clock);
  const obs = tally();
  recordReported(
    actor,
    { allowed: 1_000_000, denied: 1_000_000, cost: 2_000_000, spanMs: 1200 },
    { user: 'u1' },
    obs,
    clock.now(),
  );
  t.deepEqual(actor.window.totals(), {
    requests: 2_000_000,
    allowed: 1_000_000,
    denied: 1_000_000,
    cost: 2_000_000,
  });
  t.true(obs.ones <= ONE_BY_ONE + 2, `${obs.ones} one by one`);
  t.true(obs.bulks <= 4, `${obs.bulks} counts`);
  t.is(
    [...obs.perSecond.values()].reduce((a, b) => a + b, 0),
    2_000_000,
  );
});

test('lease demand bulk - an observer that cannot count in bulk is told every check', (t) => {
  const clock = new SimulatedClock(1_000_000);
  const actor = new TokenActor(TOKEN, RULE, clock);
  const seen: boolean[] = [];
  const observer: DecisionObserver = {
    decided: (_item, d) => void seen.push(d.allow),
    refunded: () => undefined,
  };
  recordReported(
    actor,
    { allowed: 300, denied: 100, cost: 400, spanMs: 2000 },
    undefined,
    observer,
    clock.now(),
  );
  t.is(seen.length, 400);
  t.is(seen.filter((a) => a).length, 300);
});
