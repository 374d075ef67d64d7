/**
 * Trains the pretrained global LSTM shipped in models/pretrained/ (see
 * pretrained.ts) from the public traces in data/traces/, for the node's
 * default grid (1 s) and horizons (5 s, 30 s, 5 min):
 *
 *   npx tsx models/pretrain.ts [--out models/pretrained] [--epochs 8] [--samples 12000]
 *
 * Training tokens, all on a 1 s grid:
 * - the first half of the Azure LLM trace bucketed per second (the second
 *   half is left out: bench/forecast-live.ts scores it);
 * - chunks of 3600 slots of every other trace (WorldCup98, the NAB tweets
 *   and AWS series), each scaled to a mean rate of 0.5, 2, 10 or 50
 *   requests per second and drawn as Poisson counts, so that the network
 *   sees the shapes of real demand with the counting noise of a live token.
 * Chunks stay shorter than a day of slots, as a node's history does (the
 * seasonal-lag inputs then read the latest value, live and here alike).
 * The chunks, the Poisson draw and each epoch's order (models/lstm/
 * network.ts) are seeded; the training itself may differ in the last digits
 * between runs (the wasm backend's threads). The shipped file was trained
 * before the epoch order was seeded (fit's own shuffle drew from
 * Math.random), so this command makes a file close to it, not the same one.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';
import { mulberry32, parseTrace } from '../lib/index.ts';
import { LstmForecaster } from './lstm/index.ts';
import type { PretrainedMeta } from './pretrained.ts';
import type { SeriesView } from './types.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TRACES = process.env['HEADROOM_TRACES_DATA'] ?? join(ROOT, 'data/traces');
const STEP_MS = 1000;
const HORIZONS = [5, 30, 300];
const CHUNK = 3600;
const CHUNKS_PER_TRACE = 4;
const RATES = [0.5, 2, 10, 50];
const T0 = Date.UTC(2024, 0, 1);

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const out = arg('--out', join(ROOT, 'models/pretrained'));
const epochs = Number(arg('--epochs', '8'));
const samples = Number(arg('--samples', '12000'));

const random = mulberry32(20261206);

/** A Poisson draw (Knuth's method; a normal approximation above 30). */
function poisson(lambda: number): number {
  if (lambda > 30) {
    const u = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
  }
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= random();
  } while (p > l);
  return k - 1;
}

const grid = (n: number, start: number): Float64Array =>
  Float64Array.from({ length: n }, (_v, i) => start + i * STEP_MS);

const tokens: SeriesView[] = [];
const used: string[] = [];
const azureFile = 'azure-llm-2023/AzureLLMInferenceTrace_conv.csv';
const azure = parseTrace(await readFile(join(TRACES, azureFile), 'utf8'), {
  format: 'arrivals',
  bucketSeconds: 1,
});
const half = Math.floor(azure.values[0]!.length / 2);
tokens.push({ values: azure.values[0]!.slice(0, half), timestamps: azure.timestamps.slice(0, half) });
used.push(`${azureFile} (first half, ${half} s)`);

const others: string[] = ['worldcup98/requests_per_minute.csv'];
for (const dir of ['nab-tweets', 'nab-aws'])
  for (const f of (await readdir(join(TRACES, dir))).sort())
    if (f.endsWith('.csv')) others.push(`${dir}/${f}`);
for (const file of others) {
  const trace = parseTrace(await readFile(join(TRACES, file), 'utf8'), { format: 'series' });
  const v = trace.values[0]!;
  for (let c = 0; c < CHUNKS_PER_TRACE; c++) {
    const from = Math.floor(((v.length - CHUNK) * c) / Math.max(1, CHUNKS_PER_TRACE - 1));
    const chunk = v.subarray(from, from + CHUNK);
    let mean = 0;
    for (const x of chunk) mean += Math.abs(x);
    mean /= chunk.length;
    if (!(mean > 0)) continue;
    const rate = RATES[(tokens.length + c) % RATES.length]!;
    const values = Float64Array.from(chunk, (x) => poisson((Math.abs(x) / mean) * rate));
    tokens.push({ values, timestamps: grid(CHUNK, T0 + tokens.length * CHUNK * STEP_MS) });
  }
  used.push(`${file} (${CHUNKS_PER_TRACE} chunks of ${CHUNK})`);
}

const t0 = performance.now();
const lstm = new LstmForecaster({
  horizons: HORIZONS,
  backend: 'wasm',
  initialEpochs: epochs,
  maxSamples: samples,
});
lstm.onEpoch = (e, loss) => process.stderr.write(`epoch ${e}/${epochs}: loss ${loss.toFixed(4)}\n`);
await lstm.fit(tokens);
const seconds = (performance.now() - t0) / 1000;
const { state, weights } = lstm.exportState();
const meta: PretrainedMeta = {
  stepMs: STEP_MS,
  horizons: HORIZONS,
  trainedWith: {
    command: `npx tsx models/pretrain.ts --epochs ${epochs} --samples ${samples}`,
    traces: used,
    slots: tokens.reduce((a, t) => a + t.values.length, 0),
    seconds: Math.round(seconds),
    loss: lstm.lastLoss,
  },
  state,
};
await mkdir(out, { recursive: true });
// Written as the repository's formatter would (the file is checked in).
await writeFile(join(out, 'lstm.json'), await format(JSON.stringify(meta), { parser: 'json' }));
await writeFile(
  join(out, 'lstm.bin'),
  new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength),
);
lstm.dispose();
process.stdout.write(
  `pretrained LSTM: ${tokens.length} tokens, ${meta.trainedWith.slots} slots, ${epochs} epochs in ${seconds.toFixed(0)} s, ` +
    `loss ${lstm.lastLoss.toFixed(4)}, ${weights.length} weights (${(weights.byteLength / 1024).toFixed(0)} KiB) -> ${out}\n`,
);
