// Evaluation of the forecasting models on the real traces of data/traces/: the hybrid
// beside every baseline, per trace and horizon, from the same run. This scores
// `headroom forecast`'s offline hybrid (weights fitted on validation origins); what a
// node serves, the live zoo, is scored by bench/forecast-live.ts.
//
//   node --import tsx bench/forecast-eval.ts [--only ko,aapl,worldcup98,azure] [--skip-inference]
//
// Prints, per trace and horizon, the hybrid's WAPE and coverage80, the best
// baseline (name and WAPE), the gap, and whether the issue's target holds
// (hybrid WAPE below every baseline and coverage80 in [0.75, 0.85]). Then an
// inference benchmark: one batched LSTM call for 10,000 tokens, training
// time per epoch and memory.
import { PassThrough } from 'node:stream';
import { forecastCommand } from '../cli/forecast.ts';
import { LstmForecaster, loadTf, useBackend } from '../models/index.ts';
import type { ForecastMetrics } from '../models/index.ts';
import { TRACES_DATA } from '../test/helpers/traces-data.ts';

const DATA = TRACES_DATA;
const BASELINES = ['naive', 'seasonal-day', 'seasonal-week', 'ewma', 'holt-winters'];
const TICKERS = ['AAPL', 'AMZN', 'CRM', 'CVS', 'FB', 'KO', 'PFE', 'UPS'];
const RUNS: { key: string; args: string[] }[] = [
  ...TICKERS.map((t) => ({
    key: t.toLowerCase(),
    args: ['--trace', `${DATA}/nab-tweets/Twitter_volume_${t}.csv`, '--horizons', '1,6,12'],
  })),
  {
    key: 'worldcup98',
    args: ['--trace', `${DATA}/worldcup98/requests_per_minute.csv`, '--horizons', '1,5,30'],
  },
  {
    key: 'azure',
    args: [
      '--trace',
      `${DATA}/azure-llm-2023/AzureLLMInferenceTrace_conv.csv`,
      '--format',
      'arrivals',
      '--bucket-seconds',
      '1',
      '--horizons',
      '5,30,300',
    ],
  },
];

const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? new Set((argv[onlyAt + 1] ?? '').split(',')) : undefined;

async function evaluate(
  args: string[],
): Promise<{ metrics: Record<string, Record<string, ForecastMetrics>>; seconds: number; timings: unknown }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await forecastCommand([...args, '--json'], { stdout: out, stderr: process.stderr });
  if (code !== 0) throw new Error(`forecast ${args.join(' ')} exited ${code}`);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const rows: string[] = [];
const head = [
  'trace',
  'h',
  'hybrid',
  'lstm',
  'bayes',
  'best baseline',
  'wape',
  'gap',
  'cov80',
  'target',
  'secs',
];
rows.push(head.map((c) => c.padStart(14)).join(''));
let met = 0;
let total = 0;
for (const run of RUNS) {
  if (only && !only.has(run.key)) continue;
  const r = await evaluate(run.args);
  for (const [h, hyb] of Object.entries(r.metrics.hybrid!)) {
    let best = '';
    let bestW = Infinity;
    for (const b of BASELINES) {
      const w = r.metrics[b]![h]!.wape;
      if (w < bestW) {
        bestW = w;
        best = b;
      }
    }
    const ok = hyb.wape < bestW && hyb.coverage80 >= 0.75 && hyb.coverage80 <= 0.85;
    met += ok ? 1 : 0;
    total++;
    const f = (x: number): string => x.toFixed(4);
    rows.push(
      [
        run.key,
        h,
        f(hyb.wape),
        f(r.metrics.lstm![h]!.wape),
        f(r.metrics.bayes![h]!.wape),
        best,
        f(bestW),
        f(hyb.wape - bestW),
        f(hyb.coverage80),
        ok ? 'met' : 'MISSED',
        r.seconds.toFixed(0),
      ]
        .map((c) => String(c).padStart(14))
        .join(''),
    );
  }
  process.stdout.write(`${rows.at(-1)}\n`);
}
process.stdout.write(`\n${rows.join('\n')}\n\ntargets met: ${met}/${total} (trace x horizon)\n`);

if (!argv.includes('--skip-inference')) {
  // Inference for 10,000 active tokens in one batched call, after a short training.
  const tf = await loadTf();
  const choice = await useBackend('wasm');
  const tokens = Array.from({ length: 10_000 }, (_v, k) => {
    const values = Float64Array.from(
      { length: 400 },
      (_x, i) => 20 + 10 * Math.sin((i + k) / 12) + ((i * k) % 7),
    );
    return {
      values,
      timestamps: Float64Array.from({ length: 400 }, (_x, i) => Date.UTC(2020, 0, 1) + i * 300_000),
    };
  });
  const f = new LstmForecaster({ horizons: [1, 6, 60], initialEpochs: 1, maxSamples: 6000 });
  let t0 = performance.now();
  await f.fit(tokens.slice(0, 60));
  const epochMs = performance.now() - t0;
  f.forecastLatest(tokens.slice(0, 100)); // warm-up
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    t0 = performance.now();
    f.forecastLatest(tokens);
    times.push(performance.now() - t0);
  }
  const mem = process.memoryUsage();
  process.stdout.write(
    `\nLSTM (${choice.active}${choice.note ? `; ${choice.note}` : ''}): 10,000 tokens x 3 horizons in one call: ${times.map((x) => x.toFixed(0)).join(' / ')} ms; ` +
      `one training epoch on 6,000 samples (incl. features): ${epochMs.toFixed(0)} ms; tensors ${tf.memory().numTensors}, tf bytes ${(tf.memory().numBytes / 1e6).toFixed(1)} MB, rss ${(mem.rss / 1e6).toFixed(0)} MB\n`,
  );
  f.dispose();
}
