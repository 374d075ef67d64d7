// Dense probes and lazy state of the live combiner (issue 12 item 7, helper H3):
// every origin of a horizon is scored, each counting its share of a sample, so
// which origins the probes happen to fall on no longer decides the ranking;
// and a token's combiner state is taken at its second forecast round, so a
// one-off user holds none.
import test from 'ava';
import { LiveZoo, OnlineCombiner } from '../../models/index.ts';
import type { ServingInput } from '../../models/index.ts';

const T0 = 1_764_000_000_000;

/**
 * Horizon 12, two members: `lucky` is exact at every third origin (those a
 * probe every 3 slots from slot 0 lands on) and 30 off at the others;
 * `steady` is 5 off everywhere. Over all origins steady is far better.
 * Returns steady's weight after `n` rounds, the first at slot `start`.
 */
function steadyWeight(start: number, every = 1, n = 400): number {
  const h = 12;
  const c = new OnlineCombiner({ members: ['lucky', 'steady'], horizons: [h] });
  const state = c.newState(start, 0.1);
  const y = new Float64Array(n + h + start).fill(100);
  let w = Number.NaN;
  for (let o = start; o < start + n; o += every) {
    c.observe(state, y.subarray(0, o + 1), 0, 100);
    const lucky = o % 3 === 0 ? 100 : 130;
    w = c.combine(state, o, Float64Array.from([lucky, 105]), 100).weights[0]![1]!;
  }
  return w;
}

test('live combiner - every origin is scored, so the member better over all origins leads at any start', (t) => {
  // With 4 probes per horizon a 12-slot horizon scored only the origins 0, 3, 6, ... from a
  // first round at 0: lucky looked exact and took the weight.
  for (const start of [0, 1, 2, 3]) {
    const w = steadyWeight(start);
    t.true(w > 0.9, `steady's weight from a first round at slot ${start}: ${w}`);
  }
});

test('live combiner - a horizon learns the same samples per h slots whatever the round cadence', (t) => {
  // The discounted count of horizon 12 (discount 1: a plain sum) after 240 slots: `samples`
  // (4) per 12 slots, whether rounds come every slot or every 2 (a probe per round, each
  // counting 4 * 2 / 12 of a sample). With 4 whole probes, every 2 slots counted 3 per 12.
  const count = (every: number): number => {
    const c = new OnlineCombiner({ members: ['a'], horizons: [12], discount: 1, samples: 4 });
    const state = c.newState(0, 0.1);
    const y = new Float64Array(300).fill(10);
    for (let o = 0; o <= 252; o += every) {
      c.observe(state, y.subarray(0, o + 1), 0, 10);
      c.combine(state, o, Float64Array.from([10]), 10);
    }
    return state.s[1 + 1]!; // horizon 0: M losses, |actual| sum, count
  };
  const [dense, sparse] = [count(1), count(2)];
  t.true(Math.abs(dense - 80) <= 2, `every slot: ${dense}`);
  t.true(Math.abs(sparse - 80) <= 2, `every 2 slots: ${sparse}`);
});

test('live combiner - a horizon keeps min(probes, h) probes and bad samples are named', (t) => {
  const c = new OnlineCombiner({ members: ['a', 'b'], horizons: [1, 6, 30] });
  // Per horizon: M losses, 5 numbers, then min(12, h) probes of M + 3; the level-shift detector's 3.
  t.is(c.stateSize, 3 * (2 + 5) + (1 + 6 + 12) * (2 + 3) + 3);
  t.throws(() => new OnlineCombiner({ members: ['a'], horizons: [1], samples: 0 }), {
    message: /combiner\.samples/,
  });
});

const input = (token: string, s: number): ServingInput => ({
  token,
  values: Array.from({ length: s + 1 }, (_v, i) => 10 + (i % 4)),
  startMs: T0,
  stepMs: 1000,
});

test('live zoo - a token seen in one round holds no combiner state; its second round takes it', (t) => {
  const zoo = new LiveZoo({ horizons: [5, 30, 300], stepMs: 1000 });
  const fresh = new LiveZoo({ horizons: [5, 30, 300], stepMs: 1000 });
  const once = Array.from({ length: 1000 }, (_v, k) => input(`one-off-${k}`, 40));
  const served = zoo.predict(once, undefined);
  t.is(zoo.size, 1000, 'every token is known');
  t.is(zoo.held, 0, 'none holds state');
  t.is(zoo.slotsTaken, 0, 'the slab took no slot');
  // The first round serves what a fresh state serves.
  t.deepEqual(served[7], fresh.predict([once[7]!], undefined)[0]);
  // A second round: the token takes a slot, fresh, and learns from then on.
  zoo.predict([input('one-off-7', 45)], undefined);
  t.deepEqual([zoo.held, zoo.slotsTaken], [1, 1]);
  // Released, seen-once or not, the zoo forgets it.
  t.true(zoo.release('one-off-7'));
  t.true(zoo.release('one-off-8'));
  t.deepEqual([zoo.size, zoo.held], [998, 0]);
  t.is(
    zoo.retain(() => false),
    998,
  );
  t.is(zoo.size, 0);
});

test('live zoo - a node cadence keeps only the probes that can be in flight, and serves the same', (t) => {
  // Rounds every 5 s on a 1 s grid: horizons 5, 30 and 300 keep 2, 7 and 12 probes, not 5, 12 and 12.
  const capped = new LiveZoo({ horizons: [5, 30, 300], stepMs: 1000, roundSteps: 5 });
  const full = new LiveZoo({ horizons: [5, 30, 300], stepMs: 1000 });
  t.is(capped.combiner.stateSize, 3 * (8 + 5) + (2 + 7 + 12) * (8 + 3) + 3);
  t.is(full.combiner.stateSize, 3 * (8 + 5) + (5 + 12 + 12) * (8 + 3) + 3);
  t.true(capped.bytesPerToken < 0.8 * full.bytesPerToken, `${capped.bytesPerToken} vs ${full.bytesPerToken}`);
  const values = Array.from({ length: 900 }, (_v, i) => 20 + 10 * Math.sin(i / 40) + (i % 7));
  for (let s = 0; s < 900; s += 5) {
    const x = {
      token: 'u',
      values: values.slice(Math.max(0, s - 299), s + 1),
      startMs: T0 + Math.max(0, s - 299) * 1000,
      stepMs: 1000,
    };
    t.deepEqual(capped.predict([x], undefined), full.predict([x], undefined), `round at ${s} s`);
  }
  t.throws(() => new LiveZoo({ horizons: [5], stepMs: 1000, roundSteps: 0 }), {
    message: /combiner\.roundSteps/,
  });
});
