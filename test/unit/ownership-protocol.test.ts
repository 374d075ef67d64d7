/**
 * The token ownership protocol (services/cluster/ownership.ts, issue 11) on a
 * simulated clock: three nodes with the real Ownership, TokenActor and
 * Placement, a modelled transport, heartbeats, suspicions, joins and
 * hand-offs (test/helpers/ownership-sim.ts), saturating demand at every node,
 * and random interleavings of kills, pauses (SIGSTOP, 0.2 to 6 s), cuts from
 * NATS, joins and NATS restarts with random beat phases, timer jitter and
 * message, hand-off and discovery delays.
 *
 * The bound is one GCRA's: a token's grants, from every node together, may
 * not exceed burst + rate x elapsed. For a token whose tolerance fits in
 * `learnMs` (100/s burst 100: 1 s) the claim checked is at most one burst
 * over the run and in every 1 s window (the deterministic cases check the
 * protocol's own claim, none at all: a fence assumes the bucket emptied when
 * another node may last have granted); for a longer one (10/min burst 10:
 * 60 s) a fence covers only `learnMs`, so a start without the previous
 * owner's state may let up to burst x (1 - learnMs / tolerance) through
 * again; a second one within the tolerance, of a token its node saw move
 * twice, is fenced whole (Ownership.fenceFor), so the property holds each
 * start to that leak and the fixed cases hold a run to one. The cases at the end were counterexamples (found by the property,
 * shrunk; see issue 11) until the protocol closed them: a joining node
 * serves other nodes' takes and its own clients only once its view is
 * complete (beats.ts `completeView`), and a lost contact fences for
 * `awayMs`, as long as others route around the node, and a node that
 * a node within its first tolerance fences a token it takes over without
 * state for the whole tolerance (it cannot know the token's past). The
 * `test.failing` ones are still open: they pass while the protocol lets
 * them through and fail, asking to be promoted, once it does not; each
 * names the change that would close it and its cost.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ownerOf, Placement, SimulatedClock } from '../../lib/index.ts';
import { Ownership } from '../../services/cluster/index.ts';
import type { CompiledRule, TokenKey } from '../../lib/index.ts';
import { grantTable, hotTokens, NODE_DEFAULTS, simulate, toleranceOf } from '../helpers/ownership-sim.ts';
import type { Fault, NetOptions, Scenario, SimResult, TokenResult } from '../helpers/ownership-sim.ts';

const NODES = ['n1', 'n2', 'n3'] as const;
const { deadAfterMs, learnMs, settleMs } = NODE_DEFAULTS;
/** Rounding: a bound of b allows b + this (GCRA's own epsilon, and a grant landing on the boundary). */
const SLACK = 1;

/** Whether a fence covers the rule's whole tolerance (then no excess is allowed at all). */
function fullyFenced(rule: CompiledRule): boolean {
  return toleranceOf(rule) <= learnMs;
}

/** What one start without the previous owner's state may let through again: burst x (1 - learnMs / tolerance). */
function perStartLeak(rule: CompiledRule): number {
  return fullyFenced(rule) ? 0 : rule.limit.burst * (1 - learnMs / toleranceOf(rule));
}

function describeToken(r: TokenResult): string {
  const e = r.excess;
  return `${r.token}: ${r.grants.length} grants, excess whole ${e.wholeRun.toFixed(2)}, 1 s ${e.window1s.toFixed(2)}, any interval ${e.anyInterval.toFixed(2)}, ${r.statelessStarts} stateless starts (${r.fullFences} fenced whole)`;
}

/** The scenario and what happened, for a failure's message. */
function explain(s: Scenario, res: SimResult, token: TokenResult): string {
  return [
    `scenario ${JSON.stringify(s)}`,
    describeToken(token),
    `grants per 500 ms: ${grantTable(token.grants).join(' | ')}`,
    ...res.log.filter((l) => !l.startsWith('0 ')),
  ].join('\n');
}

// --- the property over random interleavings ---------------------------------

const DURATION_MS = 13_000;
/** Runs per property (a fixed seed, so the figures logged are the same on every run; change it to explore). */
const RUNS = 150;
/** When a node's first join no longer counts (Ownership.fenceFor): past the 10/min rule's tolerance and a fence. */
const SETTLED_MS = 60_000 + deadAfterMs + 1000;
const atMs = fc.integer({ min: 500, max: 6500 });
const kill: fc.Arbitrary<Fault> = fc.record({
  kind: fc.constant('kill' as const),
  node: fc.constantFrom('n1', 'n2', 'n3', 'n4'),
  atMs,
});
const pause: fc.Arbitrary<Fault> = fc.record({
  kind: fc.constant('pause' as const),
  node: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'),
  atMs,
  forMs: fc.integer({ min: 200, max: 6000 }),
});
const cut: fc.Arbitrary<Fault> = fc.record({
  kind: fc.constant('cut' as const),
  node: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'),
  atMs,
  forMs: fc.integer({ min: 200, max: 6000 }),
});
const join: fc.Arbitrary<Fault> = fc.record({
  kind: fc.constant('join' as const),
  node: fc.constantFrom('n4', 'n5'),
  atMs,
});
const blackout: fc.Arbitrary<Fault> = fc.record({
  kind: fc.constant('blackout' as const),
  atMs,
  forMs: fc.integer({ min: 200, max: 3000 }),
});
const net: fc.Arbitrary<NetOptions> = fc.record({
  beatDelayMaxMs: fc.integer({ min: 0, max: 100 }),
  handoffDelayMaxMs: fc.integer({ min: 0, max: 500 }),
  // The view changes reach nodes within settleMs of each other (the protocol's assumption).
  discoveryDelayMaxMs: fc.integer({ min: 0, max: settleMs }),
  beatJitterMs: fc.integer({ min: 0, max: 30 }),
  reconnectSkewMs: fc.integer({ min: 0, max: 500 }),
});
function scenarios(fault: fc.Arbitrary<Fault>): fc.Arbitrary<Scenario> {
  return fc
    .record({
      faults: fc.array(fault, { maxLength: 4 }),
      net,
      clientEveryMs: fc.integer({ min: 3, max: 6 }),
      seed: fc.integer(),
    })
    .map((s) => ({ ...s, durationMs: DURATION_MS, nodes: NODES }));
}

interface Worst {
  whole: number;
  window: number;
  any: number;
  perStart: number;
  scenario?: Scenario;
}

/**
 * Runs the property over `arb`: every 1 s window at most one burst past the
 * bound (the 10/min rule: its leaks), the 100/s rule at most one burst over
 * the whole run, the 10/min one at most its leaks over any interval: one
 * leak per run (`leaks: 'one'`), or one per start without state
 * (`'perStart'`). Returns the worst figures per rule.
 */
function checkBound(
  arb: fc.Arbitrary<Scenario>,
  params: fc.Parameters<[Scenario]>,
  leaksPerRun: 'one' | 'perStart',
): Map<string, Worst> {
  const worst = new Map<string, Worst>();
  fc.assert(
    fc.property(arb, (s) => {
      const res = simulate(s);
      for (const r of res.tokens) {
        const { burst } = r.rule.limit;
        const w = worst.get(r.rule.id) ?? {
          whole: -Infinity,
          window: -Infinity,
          any: -Infinity,
          perStart: 0,
        };
        w.whole = Math.max(w.whole, r.excess.wholeRun);
        w.window = Math.max(w.window, r.excess.window1s);
        if (r.excess.anyInterval > w.any) {
          w.any = r.excess.anyInterval;
          w.scenario = s;
        }
        if (r.statelessStarts > 0)
          w.perStart = Math.max(w.perStart, r.excess.anyInterval / r.statelessStarts);
        worst.set(r.rule.id, w);
        const starts = leaksPerRun === 'one' ? Math.min(1, r.statelessStarts) : r.statelessStarts;
        const leaks = SLACK + starts * perStartLeak(r.rule);
        if (r.excess.window1s > (fullyFenced(r.rule) ? burst : leaks)) {
          throw new Error(`1 s window past its bound\n${explain(s, res, r)}`);
        }
        if (fullyFenced(r.rule)) {
          if (r.excess.wholeRun > burst) throw new Error(`whole run past one burst\n${explain(s, res, r)}`);
        } else if (r.excess.anyInterval > leaks) {
          throw new Error(`excess past learnMs's leaks (${leaksPerRun})\n${explain(s, res, r)}`);
        }
      }
      return true;
    }),
    params,
  );
  return worst;
}

function logWorst(t: ExecutionContext, worst: Map<string, Worst>, runs: number): void {
  for (const [rule, w] of worst) {
    t.log(
      `${rule}: worst excess over ${runs} runs: whole run ${w.whole.toFixed(2)}, 1 s window ${w.window.toFixed(2)}, any interval ${w.any.toFixed(2)}, per stateless start ${w.perStart.toFixed(2)}`,
    );
    t.log(`${rule}: the worst interval's run: ${JSON.stringify(w.scenario)}`);
  }
}

test('ownership protocol - over random kills, pauses, cuts from NATS, joins and NATS restarts, no token goes past one GCRA beyond what learnMs allows, once per run', (t) => {
  // Every fault falls within the nodes' first tolerance (they all join at 0): a takeover there
  // counts the past before the join as a move (Ownership.fenceFor), so a run leaks once at most.
  const worst = checkBound(
    scenarios(fc.oneof(kill, pause, cut, join, blackout)),
    { numRuns: RUNS, seed: 11 },
    'one',
  );
  logWorst(t, worst, RUNS);
  // Not vacuous: the slow rule did leak somewhere (its fence is capped), and the fast one came within
  // half a burst of its bound (every run starts its nodes as joiners, whose first tokens start
  // fenced, without the initial burst, so the bound itself is not reached).
  t.true(worst.get('slow')!.any > 0, 'some run let a 10/min token through twice');
  t.true(worst.get('fast')!.any > -50, 'the 100/s token was served near its full rate in some interval');
});

/** The same faults once the nodes' first joins are past the 10/min rule's tolerance. */
function settled(arb: fc.Arbitrary<Scenario>): fc.Arbitrary<Scenario> {
  return arb.map((s) => ({
    ...s,
    durationMs: s.durationMs + SETTLED_MS,
    faults: s.faults.map((f) => ({ ...f, atMs: f.atMs + SETTLED_MS })),
  }));
}

test('ownership protocol - the same faults among members of long standing: one leak per start without state at most', (t) => {
  // Two members whose views disagree may each start a token without state (a node back from a
  // pause and a joiner whose view lacks the owner), each fenced learnMs: one leak each (below, the
  // known failure). A second start by one node that saw the token move is fenced whole.
  const runs = 40;
  const worst = checkBound(
    settled(scenarios(fc.oneof(kill, pause, cut, join, blackout))),
    { numRuns: runs, seed: 11 },
    'perStart',
  );
  logWorst(t, worst, runs);
  t.true(worst.get('slow')!.any > 0, 'some run let a 10/min token through twice');
});

// --- one deterministic run per fault ----------------------------------------

const NET: NetOptions = {
  beatDelayMaxMs: 50,
  handoffDelayMaxMs: 200,
  discoveryDelayMaxMs: settleMs,
  beatJitterMs: 10,
  reconnectSkewMs: 200,
};

function run(faults: Fault[], durationMs = 12_000): { res: SimResult; s: Scenario } {
  const s: Scenario = { durationMs, nodes: NODES, faults, net: NET, clientEveryMs: 2, seed: 7 };
  return { res: simulate(s), s };
}

/** The owner at the start of the first hot token of `ruleId`. */
function ownerOfHot(ruleId: string): string {
  const hot = hotTokens(NODES, 2).find((h) => h.rule.id === ruleId)!;
  return ownerOf(hot.token, NODES)!;
}

function tokenOf(res: SimResult, ruleId: string, owner: string): TokenResult {
  return res.tokens.find((r) => r.rule.id === ruleId && r.grants[0]?.node === owner)!;
}

function grantors(r: TokenResult): string[] {
  return [...new Set(r.grants.map((g) => g.node))].sort();
}

/** The fast rule goes past one GCRA by at most SLACK; the slow one by at most its leaks. */
function assertBounds(t: ExecutionContext, s: Scenario, res: SimResult): void {
  for (const r of res.tokens) {
    t.log(describeToken(r));
    const bound = fullyFenced(r.rule) ? SLACK : SLACK + r.statelessStarts * perStartLeak(r.rule);
    t.true(r.excess.anyInterval <= bound, explain(s, res, r));
  }
}

test('ownership protocol - kill: the new owner starts from an empty bucket, no extra grants (the 10/min token: one leak)', (t) => {
  const victim = ownerOfHot('fast');
  const { res, s } = run([{ kind: 'kill', node: victim, atMs: 3000 }]);
  assertBounds(t, s, res);
  const fast = tokenOf(res, 'fast', victim);
  t.is(grantors(fast).length, 2, 'another node took the token over');
  // Tighter than rate x settleMs (50): the dead node grants nothing after its death.
  t.true(fast.excess.anyInterval <= SLACK);
  for (const r of res.tokens.filter((x) => x.rule.id === 'slow' && x.statelessStarts > 0)) {
    t.true(r.excess.anyInterval <= perStartLeak(r.rule) + SLACK, describeToken(r));
  }
});

for (const pauseMs of [1500, 5000]) {
  test(`ownership protocol - pause ${pauseMs / 1000} s: the paused owner fences itself on waking, no extra grants`, (t) => {
    const victim = ownerOfHot('fast');
    const { res, s } = run([{ kind: 'pause', node: victim, atMs: 3000, forMs: pauseMs }]);
    assertBounds(t, s, res);
    t.true(
      res.log.some((l) => l.includes(`${victim} lost contact (stall)`)),
      'the stall was noticed',
    );
    t.true(
      res.log.some(
        (l) => /starts fast without state/.test(l) && !l.includes(` ${victim} `) && !l.startsWith('0 '),
      ),
      'another node took the token over meanwhile',
    );
    t.true(tokenOf(res, 'fast', victim).excess.anyInterval <= SLACK);
  });
}

test('ownership protocol - join: the new node finds its peers at once, waits for their hand-offs, gets its tokens with their state, no extra grants', (t) => {
  // Discovery at once (one INFO round): the case the join hand-off is built for.
  const s: Scenario = {
    durationMs: 12_000,
    nodes: NODES,
    faults: [{ kind: 'join', node: 'n4', atMs: 3000 }],
    net: { ...NET, discoveryDelayMaxMs: 0 },
    clientEveryMs: 2,
    seed: 7,
  };
  const res = simulate(s);
  assertBounds(t, s, res);
  const moved = hotTokens(NODES, 2).find((h) => h.rule.id === 'fast')!; // moves to n4 when it joins
  const fast = res.tokens.find((r) => r.token === moved.token)!;
  t.true(
    res.log.some((l) => / n4 waits for n\d's hand-off/.test(l)),
    'n4 held what its peers owned',
  );
  t.true(
    res.log.some((l) =>
      new RegExp(` n4 receives fast from ${ownerOf(moved.token, NODES)!} \\(restored\\)`).test(l),
    ),
    `the state came with the token:\n${res.log.join('\n')}`,
  );
  t.is(fast.statelessStarts, 0, 'n4 never started it without state');
  t.true(fast.grants.some((g) => g.node === 'n4' && g.atMs > 3000));
  t.true(fast.excess.anyInterval <= SLACK);
});

test('ownership protocol - NATS restart (every node blind 2 s): nobody is taken out, every node fences, no extra grants', (t) => {
  const { res, s } = run([{ kind: 'blackout', atMs: 3000, forMs: 2000 }]);
  assertBounds(t, s, res);
  t.is(res.log.filter((l) => l.includes('lost contact (reconnect)')).length, NODES.length);
  for (const r of res.tokens) {
    t.is(r.statelessStarts, 0, `${r.token} never moved`);
    t.true(r.excess.anyInterval <= SLACK);
  }
});

test('ownership protocol - a NATS restart just after a takeover: both owners are cut off and grant nothing, no extra grants', (t) => {
  // Was a known failure while a node cut off from NATS kept granting: the owner pauses 1.2 s, its
  // successor takes the token over, and NATS goes down as the owner wakes, before either hears the other.
  const victim = ownerOfHot('fast');
  const { res, s } = run([
    { kind: 'pause', node: victim, atMs: 3000, forMs: 1200 },
    { kind: 'blackout', atMs: 4200, forMs: 3000 },
  ]);
  assertBounds(t, s, res);
  const fast = tokenOf(res, 'fast', victim);
  t.is(grantors(fast).length, 2, 'the successor took the token over');
  t.false(
    fast.grants.some((g) => g.atMs > 4200 + settleMs && g.atMs < 7200),
    'nobody granted while NATS was down',
  );
  t.true(fast.excess.anyInterval <= SLACK);
});

test('ownership protocol - a node cut off from NATS grants nothing to its HTTP clients once the others may have taken its tokens over', (t) => {
  const victim = ownerOfHot('fast');
  const { res, s } = run([{ kind: 'cut', node: victim, atMs: 3000, forMs: 8000 }], 14_000);
  assertBounds(t, s, res);
  const fast = tokenOf(res, 'fast', victim);
  t.true(res.log.some((l) => l.includes(`${victim} grants nothing: cut off from NATS`)));
  t.false(
    fast.grants.some((g) => g.node === victim && g.atMs > 3000 + deadAfterMs / 2 && g.atMs < 11_000),
    'the cut-off owner granted nothing after deadAfterMs / 2',
  );
  t.true(grantors(fast).length >= 2, 'another node took the token over');
  t.true(fast.excess.anyInterval <= SLACK);
});

test('ownership protocol - fenceFor: one move fences learnMs of the tolerance, a second move within it the whole', (t) => {
  const clock = new SimulatedClock(1_000_000);
  const own = new Ownership('n2', clock, { settleMs, awayMs: deadAfterMs, learnMs });
  const slow = 60_000;
  const all = new Placement(['n1', 'n2', 'n3']);
  const two = new Placement(['n2', 'n3']);
  const keys = [...Array(500).keys()].map((i) => `t${i}` as TokenKey);
  const once = keys.find((k) => all.owner(k) === 'n1' && two.owner(k) === 'n2')!; // n1 -> n2
  const twice = keys.find((k) => all.owner(k) === 'n1' && two.owner(k) === 'n3')!; // n1 -> n3 -> n2
  own.viewChanged(all);
  // A member of long standing: its first join is past the tolerance (see the next test for a newcomer).
  clock.advance(slow + deadAfterMs + 10_000);
  const first = clock.now();
  own.viewChanged(two); // n1 died
  t.deepEqual(own.fenceFor(once, slow), { atMs: first + settleMs, capMs: learnMs });
  // A stale gateway's item: n3 owns it in n2's view, so two nodes may grant at once.
  t.is(own.fenceFor(twice, slow)?.capMs, Number.POSITIVE_INFINITY);
  clock.advance(1_500);
  own.viewChanged(new Placement(['n2'])); // n3 died too
  t.deepEqual(own.fenceFor(twice, slow), { atMs: clock.now() + settleMs, capMs: Number.POSITIVE_INFINITY });
  t.deepEqual(own.fenceFor(once, slow), { atMs: first + settleMs, capMs: learnMs }, 'n2 owned it since');
  // Past the tolerance (and the fence), nothing is fenced any more.
  clock.advance(slow + deadAfterMs + 1);
  t.is(own.fenceFor(twice, slow), undefined);
});

test('ownership protocol - fenceFor: within its first tolerance a node counts the past before its join as a move', (t) => {
  const clock = new SimulatedClock(1_000_000);
  const own = new Ownership('n2', clock, { settleMs, awayMs: deadAfterMs, learnMs });
  const slow = 60_000;
  const fast = 1_000; // a tolerance shorter than learnMs: fenced whole either way
  const all = new Placement(['n1', 'n2', 'n3']);
  const two = new Placement(['n2', 'n3']);
  const keys = [...Array(500).keys()].map((i) => `t${i}` as TokenKey);
  const once = keys.find((k) => all.owner(k) === 'n1' && two.owner(k) === 'n2')!; // n1 -> n2
  own.viewChanged(all); // n2's first join
  clock.advance(10_000);
  own.viewChanged(two); // n1 died: n1 may have started the token without state before n2 joined
  t.deepEqual(own.fenceFor(once, slow), { atMs: clock.now() + settleMs, capMs: Number.POSITIVE_INFINITY });
  t.deepEqual(own.fenceFor(once, fast), { atMs: clock.now() + settleMs, capMs: learnMs });
  // The join is past the 10/min tolerance: one move, learnMs.
  clock.advance(slow);
  t.deepEqual(own.fenceFor(once, slow)?.capMs, learnMs);
});

test("ownership protocol - fenceFor: changes that ended before the token's rule came to be fence nothing", (t) => {
  // Found by client-leases.test.ts on a loaded CI machine: a rule put after a leave (and a flapping
  // view) was fenced for its whole tolerance on its first request: 10 per hour denied from the start.
  const clock = new SimulatedClock(1_000_000);
  const own = new Ownership('n2', clock, { settleMs, awayMs: deadAfterMs, learnMs });
  const slow = 3_600_000;
  const all = new Placement(['n1', 'n2', 'n3']);
  const two = new Placement(['n2', 'n3']);
  const keys = [...Array(500).keys()].map((i) => `t${i}` as TokenKey);
  const moved = keys.find((k) => all.owner(k) === 'n1' && two.owner(k) === 'n2')!;
  own.viewChanged(all);
  clock.advance(10_000);
  own.viewChanged(two); // n1 left
  clock.advance(100);
  own.lostContact('stall'); // and this node stalled: the token moved twice
  const last = clock.now();
  t.is(own.fenceFor(moved, slow)?.capMs, Number.POSITIVE_INFINITY, 'an old rule: fenced whole');
  // A rule first seen before the last change's fence ended: fenced as before.
  t.deepEqual(own.fenceFor(moved, slow, last), { atMs: last + deadAfterMs, capMs: Number.POSITIVE_INFINITY });
  // Seen only after the stall's fence: the leave and the stall fence nothing of it.
  t.is(own.fenceFor(moved, slow, last + deadAfterMs), undefined);
  // Seen when the stall's fence ended, then a reconnect: only the reconnect counts (one move, learnMs deep).
  clock.advance(5_000);
  own.lostContact('reconnect'); // a third change, after the rule came to be
  const since = last + deadAfterMs;
  t.deepEqual(own.fenceFor(moved, slow, since), { atMs: clock.now() + deadAfterMs, capMs: learnMs });
});

// --- former and known counterexamples ------------------------------------------

/**
 * Kills the first hot 10/min token's owner `fromMs` + 3 s into the run, then
 * its successor once that has started the token (1.6 s later): the token's
 * result, as its first owner served it.
 */
function twoTakeovers(fromMs: number): { res: SimResult; s: Scenario; slow: TokenResult } {
  const victim = ownerOfHot('slow');
  const hot = hotTokens(NODES, 2).find((h) => h.rule.id === 'slow')!;
  const successor = ownerOf(
    hot.token,
    NODES.filter((n) => n !== victim),
  )!;
  const { res, s } = run(
    [
      { kind: 'kill', node: victim, atMs: fromMs + 3000 },
      { kind: 'kill', node: successor, atMs: fromMs + 4600 },
    ],
    fromMs + 12_000,
  );
  return { res, s, slow: tokenOf(res, 'slow', victim) };
}

test('ownership protocol - two stateless takeovers in a row: the second fences the 10/min token for its whole tolerance, one leak in all', (t) => {
  // Was a known failure (excess +16 against burst 10: both successors let 9 of the burst through
  // again). Shrunk by the property: kill the owner, then its successor once it has started the
  // token. The third owner remembers two other owners within the tolerance (Ownership.fenceFor).
  // The kills come after the nodes' first joins are past the tolerance (members of long standing).
  const { res, s, slow } = twoTakeovers(SETTLED_MS);
  t.log(describeToken(slow));
  t.is(slow.statelessStarts, 2, explain(s, res, slow));
  t.is(slow.fullFences, 1, 'the second takeover fenced the whole tolerance');
  t.true(slow.excess.anyInterval <= perStartLeak(slow.rule) + SLACK, explain(s, res, slow));
});

test("ownership protocol - the same two takeovers within the nodes' first tolerance: both fenced whole, no leak", (t) => {
  // A node knows a token's past from before its first join only by hand-offs, which cannot tell it
  // that the token's last owner had started it without state: within its first tolerance a takeover
  // counts that past as a move.
  const { res, s, slow } = twoTakeovers(0);
  t.log(describeToken(slow));
  t.is(slow.statelessStarts, 2, explain(s, res, slow));
  t.is(slow.fullFences, 2, 'both takeovers fenced the whole tolerance');
  t.true(slow.excess.anyInterval <= SLACK, explain(s, res, slow));
});

test('ownership protocol - a joiner that serves a 10/min token before the hand-off of its last stateless start arrives fences it whole: it is not let through a third time', (t) => {
  // Was a known failure (excess +15.5 against burst 10), found by the property with "one leak per
  // run" as its bound (seed 1): n1 is cut off at 500 and n3 starts the token without state (one
  // leak); n1, back, merges n3's state; n4 joins at 1615 amid a NATS restart, answers clients with
  // a view that lacks n1 and starts the token without state 2 ms before n1's hand-off arrives
  // (merged: the stricter TAT, not both). n4 has no history from before its join: within its
  // first tolerance that past counts as a move beside the restart's (Ownership.fenceFor), and the
  // start is fenced whole (+7.9 now: the first leak only).
  const s: Scenario = {
    faults: [
      { kind: 'join', node: 'n4', atMs: 1615 },
      { kind: 'blackout', atMs: 1624, forMs: 200 },
      { kind: 'cut', node: 'n1', atMs: 500, forMs: 200 },
    ],
    net: {
      beatDelayMaxMs: 0,
      handoffDelayMaxMs: 0,
      discoveryDelayMaxMs: 35,
      beatJitterMs: 0,
      reconnectSkewMs: 28,
    },
    clientEveryMs: 3,
    seed: 1848459041,
    durationMs: 13_000,
    nodes: NODES,
  };
  const res = simulate(s);
  for (const r of res.tokens.filter((x) => x.rule.id === 'slow')) {
    t.log(describeToken(r));
    t.true(r.excess.anyInterval <= perStartLeak(r.rule) + SLACK, explain(s, res, r));
  }
  t.true(
    res.tokens.some((r) => r.rule.id === 'slow' && r.fullFences >= 1),
    "n4's start was fenced for the whole tolerance",
  );
});

/** A shrunk counterexample of the property with "one leak per run": the 10/min tokens leak once at most. */
function assertOneLeak(t: ExecutionContext, s: Scenario): void {
  const res = simulate(s);
  for (const r of res.tokens.filter((x) => x.rule.id === 'slow')) {
    t.log(describeToken(r));
    t.true(r.excess.anyInterval <= perStartLeak(r.rule) + SLACK, explain(s, res, r));
  }
}

test('ownership protocol - a joiner that takes over, from a peer cut off, a 10/min token the peer had itself started without state fences it whole', (t) => {
  // Was a known failure, found by the property with "one leak per run" as its bound (seed 1,
  // shrunk; +17.5 against burst 10): n3 is cut off at 500 and n1 starts its token without state
  // (one leak); n4 joins at 2580, n1 is cut off at 2703, and n4 took the token over from n1
  // without state, fenced learnMs (a second leak): n1's own start happened before n4 joined, and
  // no hand-off could tell it. Within its first tolerance n4 counts that past as a move.
  assertOneLeak(t, {
    faults: [
      { kind: 'join', node: 'n4', atMs: 2580 },
      { kind: 'cut', node: 'n3', atMs: 500, forMs: 2288 },
      { kind: 'cut', node: 'n1', atMs: 2703, forMs: 200 },
    ],
    net: {
      beatDelayMaxMs: 2,
      handoffDelayMaxMs: 0,
      discoveryDelayMaxMs: 327,
      beatJitterMs: 4,
      reconnectSkewMs: 0,
    },
    clientEveryMs: 5,
    seed: 1852076611,
    durationMs: 13_000,
    nodes: NODES,
  });
});

test('ownership protocol - a node back from a pause and a joiner that both start a 10/min token without state in the same instant: one leak', (t) => {
  // Was a known failure, found by the property with "one leak per run" as its bound (seed 3,
  // shrunk; +11.3 against burst 10): n3 is paused at 1156, n1 cut off at 1200, n4 joins at 1215.
  // At 1515 n3 wakes, suspects n1 and starts n1's token without state; n4, whose view lacks n1
  // and n3, starts it too; n3's hand-off reaches n4 in the same millisecond and is merged (the
  // stricter TAT), but each had let a fenced burst through (3 + 9). n4, within its first
  // tolerance, now fences its start whole. Two members of long standing starting a token at
  // once while their views disagree would still leak one burst each (each fenced learnMs).
  assertOneLeak(t, {
    faults: [
      { kind: 'pause', node: 'n3', atMs: 1156, forMs: 359 },
      { kind: 'join', node: 'n4', atMs: 1215 },
      { kind: 'cut', node: 'n1', atMs: 1200, forMs: 316 },
    ],
    net: {
      beatDelayMaxMs: 81,
      handoffDelayMaxMs: 0,
      discoveryDelayMaxMs: 0,
      beatJitterMs: 22,
      reconnectSkewMs: 0,
    },
    clientEveryMs: 5,
    seed: 2146435060,
    durationMs: 13_000,
    nodes: NODES,
  });
});

test.failing(
  'ownership protocol - among members of long standing, a node back from a pause and a joiner whose view lacks the owner both start a 10/min token without state: two leaks',
  (t) => {
    // Found by the settled property with one leak per run as its bound (seed 3, shrunk; +17.1
    // against burst 10): n3 is paused at +232 ms, n1 (the owner) cut off at +235, n4 joins at +264
    // and answers with the view [n2,n4]. At +537 n3 wakes, suspects n1 and starts n1's token
    // without state (n1 -> n3: one move, fenced learnMs); at +564 n4 starts it too (its join only,
    // fenced learnMs); n3's hand-off reaches n4 2 ms later and is merged, but each had let 9
    // through. Closing it needs the second start to know of the first: a claim per token before
    // a start without state (a round trip on the check path of every takeover), or fencing every
    // start within a joiner's first second whole (new users on a new node lose their burst).
    assertOneLeak(t, {
      faults: [
        { kind: 'pause', node: 'n3', atMs: SETTLED_MS + 232, forMs: 305 },
        { kind: 'join', node: 'n4', atMs: SETTLED_MS + 264 },
        { kind: 'cut', node: 'n1', atMs: SETTLED_MS + 235, forMs: 312 },
      ],
      net: {
        beatDelayMaxMs: 42,
        handoffDelayMaxMs: 0,
        discoveryDelayMaxMs: 39,
        beatJitterMs: 24,
        reconnectSkewMs: 0,
      },
      clientEveryMs: 5,
      seed: 2147483635,
      durationMs: SETTLED_MS + 13_000,
      nodes: NODES,
    });
  },
);

/** A shrunk counterexample: the 100/s tokens must stay within SLACK of one GCRA. */
function assertFastStrict(t: ExecutionContext, s: Scenario): SimResult {
  const res = simulate(s);
  for (const r of res.tokens.filter((x) => x.rule.id === 'fast')) {
    t.log(describeToken(r));
    t.log(grantTable(r.grants, 100).join(' | '));
    t.true(r.excess.anyInterval <= SLACK, explain(s, res, r));
  }
  return res;
}

/** Whether `node` started a token of `ruleId` without its state after the run's first second. */
function startedWithoutState(res: SimResult, node: string, ruleId: string): boolean {
  return res.log.some(
    (l) => new RegExp(`^\\d+ ${node} starts ${ruleId} without state`).test(l) && !l.startsWith('0 '),
  );
}

test("ownership protocol - a joining node holds a peer gateway's takes until its view is complete, then gets its tokens with their state", (t) => {
  // Was a known failure: n4 joins at 500; n3 finds it at 553 and routes the token n4 now owns (n2's
  // until then) to it; n4, its view still [n4], started it from a fresh bucket, no fence, and granted
  // its burst while n2 granted on (any interval +104.8). Now the take waits (node.ts, around the
  // link's take) until n4 has listened for 1.5 beats and lists every node it heard, by which time
  // the hand-offs came: n4 restores every token it takes over.
  const res = assertFastStrict(t, {
    faults: [{ kind: 'join', node: 'n4', atMs: 500 }],
    net: {
      beatDelayMaxMs: 0,
      handoffDelayMaxMs: 0,
      discoveryDelayMaxMs: 153,
      beatJitterMs: 0,
      reconnectSkewMs: 0,
    },
    clientEveryMs: 3,
    seed: 0,
    durationMs: 13_000,
    nodes: NODES,
  });
  t.false(startedWithoutState(res, 'n4', 'fast'), res.log.join('\n'));
  t.true(res.log.some((l) => / n4 receives fast from n\d \(restored\)/.test(l)));
  t.true(res.log.some((l) => / n4 answers clients, view \[n1,n2,n3,n4\]$/.test(l)));
  for (const r of res.tokens) t.is(r.statelessStarts, 0, `${r.token} never started without state`);
});

test('ownership protocol - a joining node that finds its peers one at a time answers only once it has found them all', (t) => {
  // Was a known failure: n5 joins at 6228, found n3 first (6301) and answered clients with view
  // [n3,n5], starting a fast token it owns in that view (n2's in the full view) from a fresh bucket
  // while n2 granted on (+97). Now n5 answers only once its view lists every node it heard beating.
  const res = assertFastStrict(t, {
    faults: [{ kind: 'join', node: 'n5', atMs: 6228 }],
    net: {
      beatDelayMaxMs: 98,
      handoffDelayMaxMs: 5,
      discoveryDelayMaxMs: 496,
      beatJitterMs: 28,
      reconnectSkewMs: 229,
    },
    clientEveryMs: 5,
    seed: -630451253,
    durationMs: 13_000,
    nodes: NODES,
  });
  t.false(startedWithoutState(res, 'n5', 'fast'), res.log.join('\n'));
  t.true(
    res.log.some((l) => / n5 answers clients, view \[n1,n2,n3,n5\]$/.test(l)),
    res.log.join('\n'),
  );
});

test('ownership protocol - a cut from NATS shorter than deadAfterMs / 2: the node fences itself for as long as the others route around it', (t) => {
  // Was a known failure: n2 is cut off at 3606 for 209 ms (under deadAfterMs / 2: it keeps granting to
  // its HTTP clients, as designed); n3 and n1 get "no responders", route around n2 for deadAfterMs,
  // and n1 takes its token over fenced until 4131. n2 reconnected at 3815 and fenced only until
  // 3815 + settleMs, then granted again beside n1 until n1's view had n2 back at 4706 (+6.5). Now a
  // reconnect fences until now + awayMs (deadAfterMs, the suspicion's length): 4815.
  const res = assertFastStrict(t, {
    faults: [{ kind: 'cut', node: 'n2', atMs: 3606, forMs: 209 }],
    net: {
      beatDelayMaxMs: 48,
      handoffDelayMaxMs: 66,
      discoveryDelayMaxMs: 189,
      beatJitterMs: 10,
      reconnectSkewMs: 161,
    },
    clientEveryMs: 3,
    seed: -81976949,
    durationMs: 13_000,
    nodes: NODES,
  });
  t.true(
    res.log.some(
      (l) => l === `3815 n2 lost contact (reconnect): fenced 1 actors until ${3815 + deadAfterMs}`,
    ),
    res.log.join('\n'),
  );
  t.true(res.log.some((l) => / n1 starts fast without state, its view's owner n1, fence \d+/.test(l)));
});

test('ownership protocol - a joining node that never heard a paused peer does not take its tokens from fresh state', (t) => {
  // Was a counterexample, shrunk by the property (with joins; no delays at all): n1 is paused at 500 for 500 ms (under the
  // stall threshold and deadAfterMs: nobody takes it out, it keeps its state). n4 joins at 550: it
  // hears n2's and n3's beats but none of n1's, so at 850 its view [n2,n3,n4] is "complete" and it
  // answers clients, starting n1's fast token (n4's in every view with n4) from a fresh bucket, no
  // fence: its first view with peers records no change. It grants 104 in 800-900 ms; n1 wakes at
  // 1000, grants 51 from the takes that waited in its socket (its bucket refilled), and hands its
  // state to n4, merged too late: whole run +115, 1 s window +113, past even the property's one burst.
  // Fix in the model (0 over 2000 property runs, with and without joins, against the strict bound):
  // a joining node fences what it starts without state from its start and again from its first view
  // with peers (Ownership.stateLost() at both, as after a lost contact: until + awayMs); a hand-off
  // still restores unfenced. Or listen for deadAfterMs + beatMs before the view counts as complete
  // (any node heard within deadAfterMs is heard), which needs JOIN_WAIT_MS and foundPeers' 1.5 x
  // heartbeatMs past that, beyond an owner timeout. Closed by the first: Ownership records a 'join'
  // change (as after a lost contact) at a joining node's first view with peers.
  const s: Scenario = {
    faults: [
      { kind: 'pause', node: 'n1', atMs: 500, forMs: 500 },
      { kind: 'join', node: 'n4', atMs: 550 },
    ],
    net: {
      beatDelayMaxMs: 0,
      handoffDelayMaxMs: 0,
      discoveryDelayMaxMs: 0,
      beatJitterMs: 0,
      reconnectSkewMs: 0,
    },
    clientEveryMs: 3,
    seed: 0,
    durationMs: 13_000,
    nodes: NODES,
  };
  const res = assertFastStrict(t, s);
  for (const r of res.tokens.filter((x) => x.rule.id === 'fast')) {
    t.true(r.excess.wholeRun <= r.rule.limit.burst, `the property's bound\n${explain(s, res, r)}`);
  }
});

test('ownership protocol - two joins in a row: the second joiner starts fenced what the first had not handed on', (t) => {
  // Was a counterexample, shrunk by the property (joins only): the fast token u10 is n1's in [n1,n2,n3], n4's once n4 is
  // in, n5's once n5 is. n4 joins at 5802, n5 at 6065. n1 hands u10 to n4 at 5929, but n4 does not
  // know n1 yet (its view is incomplete: it hears n1 beating), so the hand-off waits. n4 finds n5 at
  // 6131 and says done to n5 (nothing of n5's held yet); n5 remembers the early done. At 6145 n4
  // finds n1 (its view becomes [n1..n5], where u10 is n5's; the moved actors were handed off first)
  // and only then restores u10 from n1: it keeps it and never hands it on. n5 answers clients at
  // 6365 with a complete view, starts u10 from a fresh bucket, no fence, and grants 103 in 100 ms
  // (any interval +86.6, whole run +86: within the property's one burst, not the protocol's none).
  // Closed by the join fence above ('join' change at a joining node's first view with peers).
  // Proposed besides (not modelled): Handoff.receive passes on at once items whose token the
  // receiver no longer owns, and a node says done to a newly seen node only once its own view is
  // complete and its own join hand-offs are settled.
  assertFastStrict(t, {
    faults: [
      { kind: 'join', node: 'n4', atMs: 5802 },
      { kind: 'join', node: 'n5', atMs: 6065 },
    ],
    net: {
      beatDelayMaxMs: 0,
      handoffDelayMaxMs: 0,
      discoveryDelayMaxMs: 230,
      beatJitterMs: 13,
      reconnectSkewMs: 0,
    },
    clientEveryMs: 3,
    seed: -910453007,
    durationMs: 13_000,
    nodes: NODES,
  });
});
