import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { InputError, SimulatedClock, StateError } from '../../lib/index.ts';
import {
  LstmForecaster,
  ModelRegistry,
  ModelStatus,
  judgeCandidate,
  loadTf,
  trainCandidate,
  useBackend,
} from '../../models/index.ts';
import type { ModelScore, TfModule, TrainResult } from '../../models/index.ts';
import { TINY_LSTM, grid, patterned } from '../helpers/forecast-data.ts';

const N = 400;
let trained: TrainResult;
let tf: TfModule;

test.before(async () => {
  tf = await loadTf();
  await useBackend('wasm');
  trained = await trainCandidate({
    series: patterned(3, N),
    timestamps: grid(N),
    horizons: [1, 3],
    holdout: 80,
    lstm: { ...TINY_LSTM, initialEpochs: 2 },
  });
});

const score = (wape: number): ModelScore => ({
  wape,
  wapeByHorizon: [wape],
  pinball: 0,
  coverage80: 0.8,
  n: 10,
});

async function registry(t: { teardown(fn: () => Promise<void>): void }): Promise<ModelRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'hr-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return new ModelRegistry(join(dir, 'models'), new SimulatedClock(1_000_000));
}

test.serial(
  'model registry - a saved version loads and forecasts exactly as the trained model',
  async (t) => {
    const reg = await registry(t);
    const meta = await reg.add({
      trainFromMs: trained.trainFromMs,
      trainToMs: trained.trainToMs,
      horizons: [1, 3],
      stepMs: 1000,
      scores: trained.scores,
      status: ModelStatus.Candidate,
      reason: 'test',
      lstm: trained.lstm!,
      bayes: trained.bayes!,
    });
    t.is(meta.version, 'v000001');
    t.is(meta.kind, 'lstm+bayes');
    t.is(meta.createdMs, 1_000_000);
    const bin = await readFile(join(reg.root, 'v000001', 'lstm.bin'));
    t.is(bin.byteLength, trained.lstm!.weights.byteLength);

    const series = patterned(2, 40);
    const inputs = series.map((v, k) => ({
      token: `t${k}`,
      values: [...v],
      startMs: grid(1)[0]!,
      stepMs: 1000,
    }));
    const direct = await LstmForecaster.fromState(trained.lstm!.state, trained.lstm!.weights);
    const floors = series.map((v) => (0.1 * v.reduce((a, b) => a + b, 0)) / v.length);
    const views = series.map((values) => ({ values, timestamps: grid(40) }));
    const want = direct.forecastLatest(views, floors);
    const set = await reg.load('v000001');
    const got = set.predictLatest(inputs);
    t.deepEqual(
      got.map((f) => f.source),
      ['lstm', 'lstm'],
    );
    for (let k = 0; k < 2; k++) {
      for (let h = 0; h < 2; h++) t.is(got[k]!.p50[h], Math.max(0, want.p50[k * 2 + h]!));
    }
    // A token with too little history gets the Bayesian network's cold start.
    const cold = set.predictLatest([{ token: 'new', values: [3], startMs: grid(1)[0]!, stepMs: 1000 }]);
    t.is(cold[0]!.source, 'cold-start');
    t.true(cold[0]!.p10[0]! <= cold[0]!.p50[0]! && cold[0]!.p50[0]! <= cold[0]!.p90[0]!);
    direct.dispose();
    set.dispose();
  },
);

test.serial('model registry - promote and rollback return to the previously promoted version', async (t) => {
  const reg = await registry(t);
  const add = (status: typeof ModelStatus.Candidate | typeof ModelStatus.Rejected) =>
    reg.add({
      trainFromMs: 0,
      trainToMs: 1,
      horizons: [1, 3],
      stepMs: 1000,
      scores: { candidate: score(0.2) },
      status,
      reason: 'test',
      lstm: trained.lstm!,
    });
  t.is(await reg.current(), undefined);
  const v1 = await add(ModelStatus.Candidate);
  const v2 = await add(ModelStatus.Candidate);
  const v3 = await add(ModelStatus.Rejected);
  await reg.promote(v1.version);
  await reg.promote(v2.version);
  t.is((await reg.current())?.version, 'v000002');
  const back = await reg.rollback();
  t.is(back.version, 'v000001');
  t.is((await reg.current())?.version, 'v000001');
  const list = await reg.list();
  t.deepEqual(
    list.map((m) => [m.version, m.status]),
    [
      ['v000001', 'promoted'],
      ['v000002', 'rolled-back'],
      [v3.version, 'rejected'],
    ],
  );
  await t.throwsAsync(() => reg.rollback(), {
    instanceOf: StateError,
    message: /no earlier promoted version/,
  });
  await t.throwsAsync(() => reg.promote('v000009'), {
    instanceOf: InputError,
    message: /v000009 is not in the registry/,
  });
  await t.throwsAsync(() => reg.meta('latest'), {
    instanceOf: InputError,
    message: /version must look like v000001, got "latest"/,
  });
  // A loaded version holds its tensors until disposed; loading and disposing leaks none.
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) (await reg.load('v000001')).dispose();
  t.is(tf.memory().numTensors, before);
});

test('model training - the verdict needs a finite candidate score below every scored rival', (t) => {
  t.true(judgeCandidate({ candidate: score(0.2), current: score(0.3), naive: score(0.5) }).promote);
  t.false(judgeCandidate({ candidate: score(0.4), current: score(0.3), naive: score(0.5) }).promote);
  t.regex(
    judgeCandidate({ candidate: score(0.4), naive: score(0.3) }).reason,
    /does not beat naive \(0\.3000\)/,
  );
  // A baseline that could not forecast (NaN) is no bar; a candidate that could not is rejected.
  t.true(judgeCandidate({ candidate: score(0.4), 'seasonal-week': score(Number.NaN) }).promote);
  t.false(judgeCandidate({ candidate: score(Number.NaN), naive: score(0.3) }).promote);
});

test.serial(
  'model training - the candidate is scored on the held-back period against every baseline',
  (t) => {
    t.deepEqual(Object.keys(trained.scores).sort(), [
      'candidate',
      'ewma',
      'holt-winters',
      'naive',
      'seasonal-day',
      'seasonal-week',
    ]);
    // Origins N-80 .. N-2 of 3 tokens at horizons 1 and 3, pairs past the end skipped.
    t.is(trained.scores['candidate']!.n, 3 * (79 + 77));
    t.is(trained.trainToMs, grid(N)[N - 81]!);
  },
);
