import test from 'ava';
import { InputError } from '../../lib/index.ts';
import { BayesForecaster, LIVE_MEMBERS, OnlineCombiner, liveForecasts } from '../../models/index.ts';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

test('live combiner - a member that had no forecast is taken for an average member, not for the leader', (t) => {
  // a is right, b is 40 off; c appears at round 100 with no errors of its own yet.
  const rnd = lcg(4);
  const n = 160;
  const h = 1;
  const y = Float64Array.from({ length: n }, () => 100 + 4 * (rnd() - 0.5));
  const c = new OnlineCombiner({ members: ['a', 'b', 'c'], horizons: [h] });
  const state = c.newState(0, 0.05);
  let first: Float64Array | undefined;
  for (let o = 0; o + h < n; o++) {
    c.observe(state, y.subarray(0, o + 1), 0, 100);
    const target = y[o + h]!;
    const preds = Float64Array.from([target, target + 40, o < 100 ? Number.NaN : target]);
    const r = c.combine(state, o, preds, 100);
    if (o === 100) first = r.weights[0];
  }
  const w = first!;
  // Charged the mean loss of a and b (20 per probe) while absent, c starts far behind a
  // (charged the combination's loss, about a's, it started level with a: 0.5).
  t.true(w[2]! < 0.05, `weight of the newcomer on its first round: ${w[2]}`);
  t.true(w[0]! > 0.9, `the leader keeps its weight: ${w[0]}`);
  t.true(w[2]! > w[1]!, 'and the newcomer is still ahead of the member known to be bad');
});

test('live track - the fitted members forecast only from the end of their training data', async (t) => {
  const rnd = lcg(11);
  const n = 600;
  const T = Date.UTC(2026, 0, 5);
  const values = Float64Array.from({ length: n }, (_v, i) => 50 + 20 * Math.sin(i / 30) + 5 * rnd());
  const timestamps = Float64Array.from({ length: n }, (_v, i) => T + i * 60_000);
  const horizons = [1, 5];
  const half = n / 2;
  const bayes = new BayesForecaster({ horizons });
  await bayes.fit([{ values: values.subarray(0, half), timestamps: timestamps.subarray(0, half) }]);
  const o = { horizons, stepMs: 60_000, from: 0, bayes, keepMembers: true };
  const [all] = await liveForecasts([{ values, timestamps }], o);
  const [oos] = await liveForecasts([{ values, timestamps }], { ...o, fittedThrough: half });
  const at = LIVE_MEMBERS.indexOf('bayes');
  for (let hi = 0; hi < horizons.length; hi++) {
    const before = oos!.members![at]![hi]!.subarray(0, half);
    const after = oos!.members![at]![hi]!.subarray(half);
    t.true(
      before.every((v) => Number.isNaN(v)),
      'no forecast of the Bayesian network before the end of its training data',
    );
    t.deepEqual([...after], [...all!.members![at]![hi]!.subarray(half)], 'and the same forecasts after it');
    t.true(
      all!.members![at]![hi]!.subarray(0, half).some((v) => Number.isFinite(v)),
      'without the option it forecasts from the start',
    );
  }
  // The statistical members are untouched.
  t.deepEqual([...oos!.members![0]![0]!], [...all!.members![0]![0]!]);
});

test('live track - a bad fittedThrough is named', async (t) => {
  const values = Float64Array.from({ length: 10 }, () => 1);
  const timestamps = Float64Array.from({ length: 10 }, (_v, i) => i * 1000);
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
    await t.throwsAsync(
      liveForecasts([{ values, timestamps }], { horizons: [1], stepMs: 1000, from: 0, fittedThrough: bad }),
      { instanceOf: InputError, message: /liveTrack\.fittedThrough/ },
    );
});
