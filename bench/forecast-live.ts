// The served forecaster scored offline against the baselines, on every
// shared trace (data/traces/) and horizon: what a node's live zoo
// (models/live: naive, three EWMAs, damped Holt, seasonal naive, the LSTM
// and the Bayesian network, combined online per token and horizon) would
// have served at every origin of each series' second half, beside the best
// baseline on the same origins. Baselines: the repository's (models/
// baselines: naive, seasonal naive of a day and of a week, EWMA and
// Holt-Winters, fitted on the first half) and the zoo's statistical members
// themselves (two EWMAs, damped Holt, seasonal naive); the best is picked in
// hindsight on the scored half, so the bar is the hardest one. The LSTM, the
// Bayesian network and the zoo's rolling median are members, not baselines
// (the `best member` column shows when one of them leads). Beside it, the
// `causal pick`: the baseline with the least error so far, chosen at each
// origin without hindsight (what picking a baseline live would get).
//
//   node --import tsx bench/forecast-live.ts [--only worldcup98,azure,nab-tweets,nab-aws,serving] [--every 1] [--eta E] [--discount D] [--probes K] [--samples S] [--borrow B] [--shiftThreshold T]
//
// Target (issue 12 item 7): on every series and horizon the hybrid's WAPE is
// at most the best baseline's, a loss of more than 0.5 % relative being a
// MISS; on average at least 3 % better. The LSTM and the Bayesian network
// are fitted on the first halves of a trace's series (one global model per
// trace, as the trainer fits one for all tokens), or the pretrained LSTM
// where its grid and horizons match the trace (it was trained on the first
// half of the Azure trace). Both forecast from the half on, as a model
// promoted there would: the combiner never scores them on data they were
// fitted on (before, the Bayesian network's in-sample errors on Azure, 0.345
// at 300 s against 0.443 out of sample, made it the leader there).
//
// Then the serving cost (`serving`): one round for 10,000 tokens of 300 slots
// with the pretrained LSTM, the live zoo (members, LSTM, combiner) beside
// the path it replaces (ModelSet.predictLatest: the LSTM, else the mean),
// and the zoo's state per token, with the combiner options given.
//
// And the zoo's memory (`memory`, run with node --expose-gc): bytes per token
// it holds (heapUsed + arrayBuffers, after gc, the token names excluded) for
// 100,000 one-off tokens (forecast in one round) and 16,000 repeat tokens
// (three rounds; the slab's capacity doubles, 16,414 slots there), on a
// node's grid (1 s; 5 s, 30 s, 5 min).
import { readFile, readdir } from 'node:fs/promises';
import { parseTrace } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import {
  BaselineName,
  BayesForecaster,
  LIVE_MEMBERS,
  LiveZoo,
  LstmForecaster,
  ModelSet,
  STAT_MEMBERS,
  defaultCombinerOptions,
  liveForecasts,
  loadPretrained,
  makeBaseline,
  useBackend,
} from '../models/index.ts';
import type { CombinerOptions, SeriesView } from '../models/index.ts';
import { TRACES_DATA } from '../test/helpers/traces-data.ts';

/** Relative WAPE loss to the best baseline above which a row is a miss. */
const TOLERANCE = 0.005;
/** Mean relative improvement over the best baseline the rows must reach. */
const MEAN_TARGET = 0.03;

interface Run {
  key: string;
  /** Files of the trace (one series each, or one arrival log). */
  files: () => Promise<string[]>;
  format: 'auto' | 'arrivals';
  horizons: number[];
}

const folder = (dir: string) => async (): Promise<string[]> =>
  (await readdir(`${TRACES_DATA}/${dir}`))
    .filter((f) => f.endsWith('.csv'))
    .sort()
    .map((f) => `${TRACES_DATA}/${dir}/${f}`);

const RUNS: Run[] = [
  {
    key: 'worldcup98',
    files: async () => [`${TRACES_DATA}/worldcup98/requests_per_minute.csv`],
    format: 'auto',
    horizons: [1, 5, 30],
  },
  {
    key: 'azure',
    files: async () => [`${TRACES_DATA}/azure-llm-2023/AzureLLMInferenceTrace_conv.csv`],
    format: 'arrivals',
    horizons: [5, 30, 300],
  },
  // 5-minute grids: 5 minutes, 30 minutes and an hour ahead.
  { key: 'nab-tweets', files: folder('nab-tweets'), format: 'auto', horizons: [1, 6, 12] },
  { key: 'nab-aws', files: folder('nab-aws'), format: 'auto', horizons: [1, 6, 12] },
];

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const only = arg('--only') === undefined ? undefined : new Set(arg('--only')!.split(','));
const every = Number(arg('--every') ?? 1);
const combiner: Partial<CombinerOptions> = { ...defaultCombinerOptions() };
for (const k of ['eta', 'discount', 'probes', 'samples', 'borrow', 'shiftThreshold'] as const)
  if (arg(`--${k}`) !== undefined) combiner[k] = Number(arg(`--${k}`));

function wape(y: Float64Array, f: Float64Array, from: number, h: number): number {
  let e = 0;
  let a = 0;
  for (let o = from; o < y.length - h; o++) {
    if (!Number.isFinite(f[o]!)) continue;
    e += Math.abs(y[o + h]! - f[o]!);
    a += Math.abs(y[o + h]!);
  }
  return a > 0 ? e / a : Number.NaN;
}

/** The trace's LSTM: the pretrained one when it fits its grid and horizons, else one fitted on the first halves. */
async function lstmFor(
  stepMs: number,
  horizons: number[],
  firstHalves: SeriesView[],
): Promise<[LstmForecaster, string]> {
  const pre = await loadPretrained();
  if (pre && pre.stepMs === stepMs && pre.horizons.join(',') === horizons.join(','))
    return [pre.lstm, 'pretrained'];
  pre?.lstm.dispose();
  const f = new LstmForecaster({ horizons });
  await f.fit(firstHalves);
  return [f, 'fitted on the first halves'];
}

/** Every baseline's p50 `[name][hi][o]` at every origin, fitted on the first half. */
async function baselines(
  trace: Trace,
  horizons: number[],
  half: number,
): Promise<Map<string, Float64Array[]>> {
  const y = trace.values[0]!;
  const ts = trace.timestamps;
  const out = new Map<string, Float64Array[]>();
  for (const name of Object.values(BaselineName)) {
    const b = makeBaseline(name, horizons, trace.intervalMs);
    await b.fit([{ values: y.subarray(0, half), timestamps: ts.subarray(0, half) }]);
    out.set(name, (await b.predict([{ values: y, timestamps: ts }], 0, y.length))[0]!.p50);
  }
  return out;
}

/**
 * WAPE from `from` of the causal pick among the baselines: at each origin the
 * baseline whose forecasts had the least mean absolute error on every outcome
 * known by then (origins from the series' start whose target has passed;
 * one with no finite forecast yet is not picked). It is what choosing a
 * baseline without hindsight gets, beside the best one picked in hindsight.
 */
function causalPickWape(y: Float64Array, fs: readonly Float64Array[], from: number, h: number): number {
  const loss = new Float64Array(fs.length);
  const seen = new Float64Array(fs.length);
  let e = 0;
  let a = 0;
  for (let o = 0; o < y.length - h; o++) {
    const known = o - h; // its target, step o, has just been seen
    if (known >= 0)
      fs.forEach((f, b) => {
        if (Number.isFinite(f[known]!)) {
          loss[b]! += Math.abs(y[known + h]! - f[known]!);
          seen[b]!++;
        }
      });
    if (o < from) continue;
    let pick = -1;
    for (let b = 0; b < fs.length; b++)
      if (
        seen[b]! > 0 &&
        Number.isFinite(fs[b]![o]!) &&
        (pick < 0 || loss[b]! / seen[b]! < loss[pick]! / seen[pick]!)
      )
        pick = b;
    if (pick < 0) continue;
    e += Math.abs(y[o + h]! - fs[pick]![o]!);
    a += Math.abs(y[o + h]!);
  }
  return a > 0 ? e / a : Number.NaN;
}

const f4 = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : '-');
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');
const pad = (cells: (string | number)[], w: number[]): string =>
  cells.map((c, i) => String(c).padStart(w[i] ?? 12)).join('');

const WIDTHS = [22, 5, 10, 16, 10, 9, 7, 12, 9, 14, 10, 8];
const HEAD = [
  'series',
  'h',
  'hybrid',
  'best baseline',
  'wape',
  'vs best',
  'row',
  'causal pick',
  'vs pick',
  'best member',
  'wape',
  'cov80',
];
/** Relative improvement over the best baseline of every row, per trace. */
const gains = new Map<string, number[]>();

await useBackend('wasm');
process.stdout.write(
  `combiner: eta ${combiner.eta}, discount ${combiner.discount}, probes ${combiner.probes} (samples ${combiner.samples}), borrow ${combiner.borrow}, shift alarm ${combiner.shiftThreshold}; rounds every ${every} slot(s)\n`,
);
for (const run of RUNS) {
  if (only && !only.has(run.key)) continue;
  const t0 = performance.now();
  const traces: [string, Trace][] = [];
  for (const file of await run.files())
    traces.push([
      file
        .split('/')
        .pop()!
        .replace(/\.csv$/, ''),
      parseTrace(await readFile(file, 'utf8'), { format: run.format, bucketSeconds: 1 }),
    ]);
  const hs = run.horizons;
  const stepMs = traces[0]![1].intervalMs;
  const halves = traces.map(([, t]) => {
    const half = Math.floor(t.timestamps.length / 2);
    return { values: t.values[0]!.subarray(0, half), timestamps: t.timestamps.subarray(0, half) };
  });
  const [lstm, lstmHow] = await lstmFor(stepMs, hs, halves);
  const bayes = new BayesForecaster({ horizons: hs });
  await bayes.fit(halves);
  const rows: string[] = [];
  const g: number[] = [];
  for (const [name, trace] of traces) {
    const y = trace.values[0]!;
    const n = y.length;
    const half = Math.floor(n / 2);
    const [track] = await liveForecasts([{ values: y, timestamps: trace.timestamps }], {
      horizons: hs,
      stepMs,
      from: 0,
      lstm,
      bayes,
      every,
      combiner,
      keepMembers: true,
      fittedThrough: half,
    });
    const base = await baselines(trace, hs, half);
    // The zoo's statistical members are baselines too, but for its median (a member of
    // ours, as the LSTM) and its naive (the same as the repository's).
    STAT_MEMBERS.forEach((m, k) => {
      if (m !== 'median' && m !== 'naive') base.set(m, track!.members![k]!);
    });
    hs.forEach((h, hi) => {
      const hyb = wape(y, track!.p50[hi]!, half, h);
      let best = '';
      let bestW = Number.POSITIVE_INFINITY;
      for (const [b, f] of base) {
        const w = wape(y, f[hi]!, half, h);
        if (w < bestW) [best, bestW] = [b, w];
      }
      let member = '';
      let memberW = Number.POSITIVE_INFINITY;
      LIVE_MEMBERS.forEach((m, k) => {
        const w = wape(y, track!.members![k]![hi]!, half, h);
        if (w < memberW) [member, memberW] = [m, w];
      });
      let inside = 0;
      for (let o = half; o < n - h; o++)
        if (y[o + h]! >= track!.p10[hi]![o]! && y[o + h]! <= track!.p90[hi]![o]!) inside++;
      const rel = hyb / bestW - 1;
      const pickW = causalPickWape(
        y,
        [...base.values()].map((f) => f[hi]!),
        half,
        h,
      );
      g.push(-rel);
      rows.push(
        pad(
          [
            name.replace('Twitter_volume_', '').slice(-21),
            h,
            f4(hyb),
            best,
            f4(bestW),
            pct(rel),
            rel > TOLERANCE ? 'MISS' : 'PASS',
            f4(pickW),
            pct(hyb / pickW - 1),
            member,
            f4(memberW),
            f4(inside / (n - h - half)),
          ],
          WIDTHS,
        ),
      );
    });
  }
  lstm.dispose();
  gains.set(run.key, g);
  const mean = g.reduce((a, b) => a + b, 0) / g.length;
  process.stdout.write(
    `\n${run.key}: ${traces.length} series on a ${stepMs / 1000} s grid, scored on each series' second half; ` +
      `LSTM ${lstmHow}; ${((performance.now() - t0) / 1000).toFixed(0)} s\n${pad(HEAD, WIDTHS)}\n${rows.join('\n')}\n` +
      `${run.key}: ${g.filter((x) => -x <= TOLERANCE).length}/${g.length} rows pass, mean improvement over the best baseline ${pct(mean)}\n`,
  );
}
if (gains.size > 0) {
  const all = [...gains.values()].flat();
  const traceMeans = [...gains.values()].map((g) => g.reduce((a, b) => a + b, 0) / g.length);
  const rowMean = all.reduce((a, b) => a + b, 0) / all.length;
  const traceMean = traceMeans.reduce((a, b) => a + b, 0) / traceMeans.length;
  const pass = all.filter((x) => -x <= TOLERANCE).length;
  process.stdout.write(
    `\nall: ${pass}/${all.length} rows pass (loss <= ${pct(TOLERANCE)}); mean improvement over the best baseline ` +
      `${pct(rowMean)} per row, ${pct(traceMean)} per trace (target ${pct(MEAN_TARGET)}): ` +
      `${pass === all.length && Math.min(rowMean, traceMean) >= MEAN_TARGET ? 'PASS' : 'MISS'}\n`,
  );
}

if (!only || only.has('serving')) {
  const pre = await loadPretrained();
  if (pre) {
    const set = new ModelSet({ version: 'pretrained', horizons: pre.horizons, lstm: pre.lstm });
    // The combiner's options as given (--probes 2 --borrow 5: the settings before issue 12 item 7).
    const zoo = new LiveZoo({ horizons: pre.horizons, stepMs: pre.stepMs, combiner });
    const T = Date.UTC(2026, 0, 5);
    const round = (r: number) =>
      Array.from({ length: 10_000 }, (_v, k) => ({
        token: `t${k}`,
        values: Array.from({ length: 300 }, (_x, i) => ((i + r * 5) * (k + 1)) % 7),
        startMs: T + r * 5000,
        stepMs: pre.stepMs,
      }));
    const time = (f: () => unknown): number => {
      const t0 = performance.now();
      f();
      return performance.now() - t0;
    };
    set.predictLatest(round(0).slice(0, 100)); // warm-up
    const old: number[] = [];
    const ours: number[] = [];
    for (let r = 1; r <= 3; r++) {
      const items = round(r);
      old.push(time(() => set.predictLatest(items)));
      ours.push(time(() => zoo.predict(items, set)));
    }
    const med = (a: number[]): number => [...a].sort((x, y) => x - y)[1]!;
    process.stdout.write(
      `\nserving 10,000 tokens x 300 slots, one round (median of 3): live zoo ${med(ours).toFixed(0)} ms, ` +
        `ModelSet.predictLatest (LSTM, else mean) ${med(old).toFixed(0)} ms, ratio ${(med(ours) / med(old)).toFixed(2)}; ` +
        `zoo state ${zoo.bytesPerToken} bytes per token in its slab\n`,
    );
    set.dispose();
  }
}

if (only?.has('memory')) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('memory: run with node --expose-gc');
  const T = Date.UTC(2026, 0, 5);
  const used = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const measure = (tokens: number, rounds: number, roundSteps = 1): string => {
    const names = Array.from({ length: tokens }, (_v, k) => `user-${k}-${'x'.repeat(24)}`);
    const zoo = new LiveZoo({ horizons: [5, 30, 300], stepMs: 1000, roundSteps, combiner });
    const before = used();
    for (let r = 0; r < rounds; r++)
      for (let k = 0; k < tokens; k += 1000)
        zoo.predict(
          names.slice(k, k + 1000).map((token, i) => ({
            token,
            values: Array.from({ length: 30 }, (_x, j) => ((j + r * 5) * (k + i + 1)) % 7),
            startMs: T + r * 5000,
            stepMs: 1000,
          })),
          undefined,
        );
    const bytes = (used() - before) / tokens;
    return `${bytes.toFixed(0)} bytes per token (${zoo.size} known, ${zoo.held} holding state, slab slots ${zoo.slotsTaken}, ${zoo.bytesPerToken} bytes each)`;
  };
  process.stdout.write(
    `\nzoo memory, node grid (horizons 5, 30, 300 s): one-off users (100,000, one round): ${measure(100_000, 1)}\n` +
      `zoo memory, repeat users (16,000, three rounds): ${measure(16_000, 3)}\n` +
      `zoo memory, repeat users, probes kept for rounds 5 s apart (roundSteps 5): ${measure(16_000, 3, 5)}\n`,
  );
}
