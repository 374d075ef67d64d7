import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SimulatedClock } from '../../lib/index.ts';
import { loadPretrained, trainCandidate } from '../../models/index.ts';
import { ForecastHub } from '../../services/index.ts';

const T0 = Date.UTC(2026, 0, 5);

test.serial(
  'forecast pretrained - the shipped LSTM loads for the default grid and horizons and forecasts',
  async (t) => {
    const pre = await loadPretrained();
    t.truthy(pre, 'models/pretrained/ holds lstm.json and lstm.bin');
    t.is(pre!.stepMs, 1000);
    t.deepEqual(pre!.horizons, [5, 30, 300]);
    t.regex(pre!.meta.trainedWith.command, /models\/pretrain\.ts/);
    t.true(pre!.lstm.ready);
    // A token at 10 requests a second: the forecast stays near its level.
    const values = Float64Array.from({ length: 120 }, (_v, i) => 10 + (i % 3) - 1);
    const timestamps = Float64Array.from(values, (_v, i) => T0 + i * 1000);
    const q = pre!.lstm.forecastLatest([{ values, timestamps }]);
    for (const x of q.p50) t.true(x > 5 && x < 15, `p50 ${[...q.p50]}`);
    pre!.lstm.dispose();
    t.is(await loadPretrained('/nonexistent-folder'), undefined);
  },
);

test.serial('forecast pretrained - a training candidate can start from the pretrained weights', async (t) => {
  const pre = (await loadPretrained())!;
  const exported = pre.lstm.exportState();
  pre.lstm.dispose();
  const n = 1500;
  const series = [Float64Array.from({ length: n }, (_v, i) => 20 + 10 * Math.sin(i / 60) + (i % 5))];
  const timestamps = Float64Array.from({ length: n }, (_v, i) => T0 + i * 1000);
  const r = await trainCandidate({
    series,
    timestamps,
    horizons: [5, 30, 300],
    holdout: 400,
    lstm: { initialEpochs: 1, maxSamples: 500 },
    bayes: false,
    baselines: ['ewma'],
    init: exported,
  });
  // Fine-tuned: the pretrained epochs plus one.
  t.is(r.epochs, exported.state.epochs + 1);
  t.true(Number.isFinite(r.scores['candidate']!.wape));
});

test.serial(
  'forecast pretrained - a node hub serves it as version "pretrained" only for its grid and horizons',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'headroom-pretrained-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const clock = new SimulatedClock(T0);
    const hub = new ForecastHub(
      { horizonsMs: [5000, 30_000, 300_000], stepMs: 1000, backend: 'wasm', registryDir: dir },
      clock,
    );
    const other = new ForecastHub(
      { horizonsMs: [1000, 3000], stepMs: 1000, backend: 'wasm', registryDir: dir },
      clock,
    );
    t.teardown(async () => {
      await hub.close();
      await other.close();
    });
    t.is((await hub.serving())?.version, 'pretrained');
    t.truthy(await hub.pretrainedState());
    t.is(await other.serving(), undefined);
    t.is(await other.pretrainedState(), undefined);
    const values = Array.from({ length: 40 }, (_v, i) => 6 + (i % 2));
    const r = await hub.predict({ items: [{ token: 'u1', values, startMs: T0 }] });
    t.is(r.version, 'pretrained');
    t.is(r.forecasts[0]!.source, 'combined');
    t.true('lstm' in r.forecasts[0]!.weights!);
  },
);

test.serial(
  'forecast pretrained - a hub forecasts a round in slices, yielding the event loop between them, with the same forecasts',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'headroom-pretrained-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const clock = new SimulatedClock(T0);
    const config = {
      horizonsMs: [5000, 30_000, 300_000],
      stepMs: 1000,
      backend: 'wasm' as const,
      registryDir: dir,
    };
    const sliced = new ForecastHub({ ...config, sliceMs: 0.001 }, clock);
    const whole = new ForecastHub({ ...config, sliceMs: 1e9 }, clock);
    t.teardown(async () => {
      await sliced.close();
      await whole.close();
    });
    t.throws(() => new ForecastHub({ ...config, sliceMs: 0 }, clock), { message: /sliceMs/ });
    const items = Array.from({ length: 200 }, (_v, k) => ({
      token: `u${k}`,
      values: Array.from({ length: 60 }, (_w, i) => (k % 9) + ((i * k) % 4)),
      startMs: T0,
    }));
    const want = await whole.predict({ items });
    // Turns of the event loop while the sliced hub forecasts: one per slice of 8 tokens at most.
    let turns = 0;
    let on = true;
    const spin = (): void => {
      turns++;
      if (on) setImmediate(spin);
    };
    setImmediate(spin);
    const run = sliced.predict({ items });
    // A model reload during the round frees the old model only after the round.
    const reloaded = sliced.reload('another');
    const got = await run;
    on = false;
    await reloaded;
    t.true(turns >= 200 / 8 - 1, `${turns} turns`);
    t.is(got.forecasts.length, 200);
    t.deepEqual(got.forecasts, want.forecasts);
    t.true(got.forecasts.every((f) => 'lstm' in f.weights!));
  },
);
