/**
 * Batched forecast inference for many active tokens, as a node's forecast
 * cadence runs it: one call for every token, 300 one-second slots of history
 * each, horizons 5 s / 30 s / 5 min. Ours: the served model (LSTM + Bayesian
 * network cold start, `ModelSet.predictLatest`) on the wasm backend. Peer, in
 * the same run and on the same inputs: the EWMA baseline fitted and asked per
 * token. Target (issue 4): 10,000 tokens in under a second on this CPU.
 *
 *   node --import tsx bench/forecast-inference.ts [--tokens 1000,10000]
 */
import { parseArgs } from 'node:util';
import {
  LstmForecaster,
  ModelSet,
  bayesFromJSON,
  loadTf,
  makeBaseline,
  trainInWorker,
  useBackend,
} from '../models/index.ts';
import { grid, patterned } from '../test/helpers/forecast-data.ts';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '1000,10000' } } });
const COUNTS = values.tokens.split(',').map(Number);
const HORIZONS = [5, 30, 300];
const SLOTS = 300;

const tf = await loadTf();
await useBackend('wasm');
const trained = await trainInWorker(
  {
    series: patterned(8, 700),
    timestamps: grid(700),
    horizons: HORIZONS,
    holdout: 310,
    lstm: { initialEpochs: 1 },
  },
  () => {},
);
const lstm = await LstmForecaster.fromState(trained.lstm!.state, trained.lstm!.weights);
const set = new ModelSet({
  horizons: HORIZONS,
  lstm,
  bayes: trained.bayes ? bayesFromJSON(trained.bayes) : undefined,
});
const history = patterned(8, SLOTS);
const timestamps = grid(SLOTS);

const ms = async (f: () => unknown, reps = 3): Promise<number> => {
  await f(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await f();
  return (performance.now() - t0) / reps;
};

console.log(
  `batched inference, ${SLOTS} slots of history per token, horizons ${HORIZONS.join('/')} s, Node ${process.version}, tfjs ${tf.getBackend()}`,
);
console.log('tokens  | ours (LSTM+BN, one call) | peer (EWMA per token) | ratio | tensors after');
for (const n of COUNTS) {
  const inputs = Array.from({ length: n }, (_v, k) => ({
    token: `t${k}`,
    values: history[k % 8]!,
    startMs: 0,
    stepMs: 1000,
  }));
  const ours = await ms(() => set.predictLatest(inputs));
  const ewma = makeBaseline('ewma', HORIZONS, 1000);
  const views = inputs.map((x) => ({ values: x.values, timestamps }));
  const peer = await ms(async () => {
    await ewma.fit(views);
    await ewma.predict(views, SLOTS - 1, SLOTS);
  });
  console.log(
    `${String(n).padEnd(7)} | ${ours.toFixed(0).padStart(8)} ms${''.padEnd(14)} | ${peer.toFixed(0).padStart(8)} ms${''.padEnd(10)} | ${(ours / peer).toFixed(2)}x | ${tf.memory().numTensors}`,
  );
}
const mem = process.memoryUsage();
console.log(
  `memory: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB; training (1 epoch, in a worker) ${trained.trainMs.toFixed(0)} ms`,
);
