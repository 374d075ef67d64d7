import test from 'ava';
import {
  addObservation,
  finishMetrics,
  mergeAccumulators,
  naiveScale,
  newAccumulator,
  pinballLoss,
} from '../../models/index.ts';

test('metrics - pinball loss weighs under- and over-forecasts by the quantile', (t) => {
  t.is(pinballLoss(10, 8, 0.9), 0.9 * 2);
  t.true(Math.abs(pinballLoss(10, 12, 0.9) - 0.2) < 1e-12);
  t.is(pinballLoss(10, 10, 0.5), 0);
});

test('metrics - wape, mae, smape, mase and coverage from hand-computed cases', (t) => {
  const acc = newAccumulator();
  addObservation(acc, 10, 8, 9, 12); // err 1, inside
  addObservation(acc, 20, 21, 24, 30); // err 4, outside (below p10)
  addObservation(acc, 0, 0, 0, 1); // err 0, inside, smape 0
  const m = finishMetrics(acc, 2);
  t.is(m.n, 3);
  t.is(m.wape, 5 / 30);
  t.is(m.mae, 5 / 3);
  t.is(m.mase, 5 / 3 / 2);
  t.true(Math.abs(m.smape - (2 / 19 + 8 / 44) / 3) < 1e-12);
  t.is(m.coverage80, 2 / 3);
  const pin =
    (pinballLoss(10, 8, 0.1) + pinballLoss(10, 9, 0.5) + pinballLoss(10, 12, 0.9)) / 3 +
    (pinballLoss(20, 21, 0.1) + pinballLoss(20, 24, 0.5) + pinballLoss(20, 30, 0.9)) / 3 +
    pinballLoss(0, 1, 0.9) / 3;
  t.true(Math.abs(m.pinball - pin / 3) < 1e-12);
});

test('metrics - merged accumulators equal one accumulator over all observations', (t) => {
  const a = newAccumulator();
  const b = newAccumulator();
  const all = newAccumulator();
  [
    [1, 0, 1, 2],
    [5, 4, 6, 7],
  ].forEach(([y, l, m, h]) => (addObservation(a, y!, l!, m!, h!), addObservation(all, y!, l!, m!, h!)));
  addObservation(b, 3, 1, 2, 3);
  addObservation(all, 3, 1, 2, 3);
  t.deepEqual(mergeAccumulators(a, b), all);
});

test('metrics - naive scale is the mean absolute one-step change; empty input gives NaN', (t) => {
  t.is(naiveScale(Float64Array.from([1, 3, 2, 6])), (2 + 1 + 4) / 3);
  t.is(naiveScale(Float64Array.from([1, 3, 2, 6]), 0, 2), 2);
  t.true(Number.isNaN(naiveScale(Float64Array.from([1]))));
  t.true(Number.isNaN(finishMetrics(newAccumulator(), 1).wape));
});
