import test from 'ava';
import { InputError } from '../../lib/index.ts';
import { LstmForecaster, compileLstmOptions, loadTf, useBackend } from '../../models/index.ts';
import type { SeriesView, TfModule } from '../../models/index.ts';

const SMALL = {
  lookback: 8,
  units: 4,
  hidden: 8,
  coarse: [4, 16],
  scaleWindow: 16,
  maxSamples: 200,
  initialEpochs: 2,
  refreshEpochs: 1,
  refreshEvery: 1,
  batchSize: 64,
};

function series(n: number, phase = 0): SeriesView {
  const values = Float64Array.from(
    { length: n },
    (_v, i) => 20 + 10 * Math.sin((2 * Math.PI * (i + phase)) / 24) + ((i * 7) % 5),
  );
  return {
    values,
    timestamps: Float64Array.from({ length: n }, (_v, i) => Date.UTC(2020, 0, 1) + i * 3_600_000),
  };
}

function cut(v: SeriesView, len: number): SeriesView {
  return { values: v.values.subarray(0, len), timestamps: v.timestamps.subarray(0, len) };
}

let tf: TfModule;

test.before(async () => {
  tf = await loadTf();
  await useBackend('wasm');
});

test.serial('lstm - no tensor leaks across many train and predict calls', async (t) => {
  const f = new LstmForecaster({ ...SMALL, horizons: [1, 3] });
  const data = [series(300), series(300, 5)];
  await f.fit([cut(data[0]!, 200), cut(data[1]!, 200)]);
  await f.predict(data, 200, 230);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 4; i++) {
    await f.fit([cut(data[0]!, 200 + 10 * i), cut(data[1]!, 200 + 10 * i)]);
    await f.predict(data, 230, 260);
    f.forecastLatest(data);
  }
  t.is(tf.memory().numTensors, before);
  t.is(f.epochs, 2 + 4);
  f.dispose();
});

test.serial('lstm - no look-ahead: forecasts at origin o ignore slots after o', async (t) => {
  const f = new LstmForecaster({ ...SMALL, horizons: [1, 5] });
  const s = series(300);
  await f.fit([cut(s, 200)]);
  const changed: SeriesView = {
    values: s.values.map((v, i) => (i > 250 ? v * 5 + 100 : v)),
    timestamps: s.timestamps,
  };
  const a = await f.predict([s], 200, 251);
  const b = await f.predict([changed], 200, 251);
  t.deepEqual(a[0]!.p50, b[0]!.p50);
  t.deepEqual(a[0]!.p90, b[0]!.p90);
  // ...while a change at or before the origin does move the forecast.
  const c = await f.predict([changed], 251, 252);
  const d = await f.predict([s], 251, 252);
  t.notDeepEqual(c[0]!.p50, d[0]!.p50);
  f.dispose();
});

test.serial('lstm - quantiles are ordered and learn the level of a series', async (t) => {
  const f = new LstmForecaster({ ...SMALL, horizons: [1, 2], initialEpochs: 15, maxSamples: 400 });
  const s = series(500);
  await f.fit([cut(s, 450)]);
  const [q] = await f.predict([s], 450, 490);
  let err = 0;
  for (let j = 0; j < 40; j++) {
    t.true(q!.p10[0]![j]! <= q!.p50[0]![j]! && q!.p50[0]![j]! <= q!.p90[0]![j]!);
    err += Math.abs(q!.p50[0]![j]! - s.values[450 + j + 1]!);
  }
  // The series averages about 22; a model that learnt nothing would be far off.
  t.true(err / 40 < 8, `mae ${err / 40}`);
  f.dispose();
});

test.serial('lstm - batched latest-slot inference for many tokens in one call', async (t) => {
  const f = new LstmForecaster({ ...SMALL, horizons: [1, 2, 4] });
  const tokens = Array.from({ length: 300 }, (_v, k) => series(120, k));
  await f.fit(tokens.slice(0, 5));
  const out = f.forecastLatest(tokens);
  t.is(out.p50.length, 300 * 3);
  t.true(out.p50.every((x) => Number.isFinite(x)));
  f.dispose();
});

/** Largest |a - b| / max(1, |b|) over the p10/p50/p90 of two forecasts. */
function maxRelDiff(
  a: { p10: Float32Array; p50: Float32Array; p90: Float32Array },
  b: { p10: ArrayLike<number>; p50: ArrayLike<number>; p90: ArrayLike<number> },
): number {
  let d = 0;
  for (const k of ['p10', 'p50', 'p90'] as const) {
    for (let i = 0; i < a[k].length; i++)
      d = Math.max(d, Math.abs(a[k][i]! - b[k][i]!) / Math.max(1, Math.abs(b[k][i]!)));
  }
  return d;
}

/** The TensorFlow.js network's forecasts at every token's latest slot (`predict` over one origin). */
async function tfLatest(
  f: LstmForecaster,
  tokens: SeriesView[],
): Promise<{ p10: number[]; p50: number[]; p90: number[] }> {
  const n = tokens[0]!.values.length;
  const q = await f.predict(tokens, n - 1, n);
  const flat = (k: 'p10' | 'p50' | 'p90'): number[] => q.flatMap((x) => x[k].map((h) => h[0]!));
  return { p10: flat('p10'), p50: flat('p50'), p90: flat('p90') };
}

test.serial(
  "lstm - the JavaScript forward pass that serving runs gives the TensorFlow.js network's forecasts, before and after fine-tuning",
  async (t) => {
    const f = new LstmForecaster({ ...SMALL, horizons: [1, 2, 4] });
    const tokens = Array.from({ length: 40 }, (_v, k) => series(120, k));
    await f.fit(tokens.slice(0, 5));
    const js = f.forecastLatest(tokens);
    t.true(maxRelDiff(js, await tfLatest(f, tokens)) < 1e-4);
    // Rebuilt from its state, it serves the same forecasts without a network.
    const { state, weights } = f.exportState();
    const tensors = tf.memory().numTensors;
    const g = await LstmForecaster.fromState(state, weights);
    t.is(tf.memory().numTensors, tensors, 'no network built to serve');
    t.true(maxRelDiff(g.forecastLatest(tokens), js) < 1e-6);
    t.deepEqual([...g.exportState().weights], [...weights]);
    // Fine-tuning builds the network from the weights; serving follows the new weights.
    await g.fineTune(tokens.slice(0, 5), 2);
    const tuned = g.forecastLatest(tokens);
    t.true(maxRelDiff(tuned, js) > 1e-6, 'the weights changed');
    t.true(maxRelDiff(tuned, await tfLatest(g, tokens)) < 1e-4);
    g.dispose();
    t.is(tf.memory().numTensors, tensors, 'the network built to fine-tune is freed');
    f.dispose();
  },
);

test('lstm - rebuilding from weights that do not fit the settings names the shapes', async (t) => {
  const f = new LstmForecaster({ ...SMALL, horizons: [1, 2] });
  await f.fit([series(200), series(200, 3)]);
  const { state, weights } = f.exportState();
  f.dispose();
  await t.throwsAsync(
    LstmForecaster.fromState(
      {
        ...state,
        weightShapes: [
          [1, 16],
          [4, 16],
        ],
      },
      weights,
    ),
    {
      message: /lstm inference: weight shapes 1x16, 4x16, expected 1x16, 4x16, 16, /,
    },
  );
  await t.throwsAsync(LstmForecaster.fromState(state, weights.subarray(1)), {
    message: new RegExp(`lstm inference: ${weights.length - 1} weights, expected ${weights.length}`),
  });
});

test('lstm - options are checked, every problem in one error', (t) => {
  t.throws(() => compileLstmOptions({ units: 0, lookbak: 3, horizons: [] } as never), {
    instanceOf: InputError,
    message:
      /lstm\.lookbak is not a known option.*lstm\.units must be a positive integer, got 0.*lstm\.horizons must be a non-empty list/,
  });
  t.true(Object.isFrozen(compileLstmOptions()));
});

test('lstm - an untrained model returns NaN forecasts rather than guessing', async (t) => {
  const f = new LstmForecaster({ ...SMALL, horizons: [1] });
  const [q] = await f.predict([series(50)], 10, 12);
  t.true(Number.isNaN(q!.p50[0]![0]!));
});

test.serial(
  'lstm - the native backend is optional: asking for it without the package falls back to wasm',
  async (t) => {
    const choice = await useBackend('tensorflow');
    t.is(choice.active, 'wasm');
    t.regex(
      choice.note ?? '',
      /neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is installed; using wasm instead/,
    );
    t.is(tf.getBackend(), 'wasm');
  },
);

test.serial(
  'lstm - the same data and seed train the same model: epochs are shuffled from the seed',
  async (t) => {
    // fit's own shuffle draws from Math.random, so two fits of one model on one machine differed
    // (bench/forecast-live.ts moved by a row between runs of one tree).
    const data = [series(300), series(300, 5)];
    const fitted = async (seed: number): Promise<Float64Array> => {
      const f = new LstmForecaster({ ...SMALL, horizons: [1, 3], initialEpochs: 3, seed });
      await f.fit([cut(data[0]!, 250), cut(data[1]!, 250)]);
      const { p10, p50, p90 } = f.forecastLatest(data);
      f.dispose();
      return Float64Array.from([...p10, ...p50, ...p90]);
    };
    const a = await fitted(11);
    t.deepEqual(await fitted(11), a);
    t.notDeepEqual(await fitted(12), a);
  },
);
