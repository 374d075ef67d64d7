// What a node serves live, scored offline: the live zoo's online combination
// (models/live) beside each of its members, the repository's EWMA (the peer:
// smoothing fitted per horizon on the first half), naive, and the `mean` of
// the last 300 slots that nodes served before any model was promoted. Same
// run, same origins (the second half of each trace), WAPE per horizon.
//
//   node --import tsx bench/forecast-live.ts [--only worldcup98,azure,serving] [--every 1] [--eta 3] [--discount 0.98] [--probes 2] [--borrow 5]
//
// The combination is driven exactly as live: at every round (every `--every`
// slots; a node's cadence is 5 s on a 1 s grid) the members forecast from
// the history so far, the combiner scores its earlier probes and serves the
// weighted mean. Members: the statistical recursions (models/live/members.ts),
// the LSTM (the pretrained one in models/pretrained/ where its grid and
// horizons match the trace; otherwise one fitted on the first half, as the
// trainer would) and the Bayesian network's calendar forecast (fitted on the
// first half). The forecast served for a target is the latest made before it.
//
// Then the serving cost (`serving`): one round for 10,000 tokens of 300 slots
// with the pretrained LSTM, the live zoo (members, LSTM, combiner) beside
// the path it replaces (ModelSet.predictLatest: the LSTM, else the mean),
// and the zoo's state per token.
import { readFile } from 'node:fs/promises';
import { parseTrace } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import {
  BayesForecaster,
  LIVE_MEMBERS,
  LiveZoo,
  LstmForecaster,
  ModelSet,
  OnlineCombiner,
  loadPretrained,
  makeBaseline,
  statForecasts,
  useBackend,
} from '../models/index.ts';
import type { SeriesView } from '../models/index.ts';
import { TRACES_DATA } from '../test/helpers/traces-data.ts';

const RUNS = [
  {
    key: 'worldcup98',
    file: `${TRACES_DATA}/worldcup98/requests_per_minute.csv`,
    format: 'auto' as const,
    horizons: [1, 5, 30],
  },
  {
    key: 'azure',
    file: `${TRACES_DATA}/azure-llm-2023/AzureLLMInferenceTrace_conv.csv`,
    format: 'arrivals' as const,
    horizons: [5, 30, 300],
  },
];

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const only = arg('--only') === undefined ? undefined : new Set(arg('--only')!.split(','));
const every = Number(arg('--every') ?? 1);
const eta = Number(arg('--eta') ?? 3);
const discount = Number(arg('--discount') ?? 0.98);
const probes = Number(arg('--probes') ?? 2);
const borrow = Number(arg('--borrow') ?? 5);
/** Slots a node sends per token (the cadence's history) and reads the `mean` over. */
const HISTORY = 300;

function wape(y: Float64Array, f: Float64Array, from: number, to: number, h: number): number {
  let e = 0;
  let a = 0;
  for (let o = from; o < to - h; o++) {
    if (!Number.isFinite(f[o]!)) continue;
    e += Math.abs(y[o + h]! - f[o]!);
    a += Math.abs(y[o + h]!);
  }
  return a > 0 ? e / a : Number.NaN;
}

/** The LSTM for this trace: the pretrained one when it fits its grid and horizons, else fitted on the first half. */
async function lstmFor(trace: Trace, horizons: number[], half: number): Promise<[LstmForecaster, string]> {
  const pre = await loadPretrained();
  if (pre && pre.stepMs === trace.intervalMs && pre.horizons.join(',') === horizons.join(','))
    return [pre.lstm, 'pretrained'];
  pre?.lstm.dispose();
  const f = new LstmForecaster({ horizons });
  await f.fit([
    { values: trace.values[0]!.subarray(0, half), timestamps: trace.timestamps.subarray(0, half) },
  ]);
  return [f, 'fitted on the first half'];
}

await useBackend('wasm');
const lines: string[] = [];
for (const run of RUNS) {
  if (only && !only.has(run.key)) continue;
  const t0 = performance.now();
  const trace = parseTrace(await readFile(run.file, 'utf8'), { format: run.format, bucketSeconds: 1 });
  const y = trace.values[0]!;
  const ts = trace.timestamps;
  const n = y.length;
  const half = Math.floor(n / 2);
  const hs = run.horizons;
  const H = hs.length;
  const view: SeriesView = { values: y, timestamps: ts };
  const season = Math.round(86_400_000 / trace.intervalMs);
  // Members' forecasts at every origin: [member][hi][origin].
  const stat = statForecasts(y, 0, 0, n, hs, season);
  const [lstm, lstmHow] = await lstmFor(trace, hs, half);
  const lq = (await lstm.predict([view], HISTORY, n))[0]!;
  const lstmF = hs.map((_h, hi) => {
    const a = new Float64Array(n).fill(Number.NaN);
    a.set(lq.p50[hi]!, HISTORY);
    return a.map((v) => (Number.isFinite(v) ? Math.max(0, v) : v));
  });
  lstm.dispose();
  const bayes = new BayesForecaster({ horizons: hs });
  await bayes.fit([{ values: y.subarray(0, half), timestamps: ts.subarray(0, half) }]);
  const level = new Float64Array(n);
  let run60 = 0;
  for (let o = 0; o < n; o++) {
    run60 += y[o]! - (o >= 60 ? y[o - 60]! : 0);
    level[o] = run60 / Math.min(o + 1, 60);
  }
  const bayesF = hs.map((h, hi) =>
    Float64Array.from({ length: n }, (_v, o) =>
      level[o]! > 0 ? bayes.coldStart(ts[o]! + h * trace.intervalMs, hi, level[o]!)[1] : Number.NaN,
    ),
  );
  const members = [...stat, lstmF, bayesF];
  // Peers: the repository's EWMA fitted on the first half, naive, the old `mean` fallback.
  const ewmaModel = makeBaseline('ewma', hs, trace.intervalMs);
  await ewmaModel.fit([{ values: y.subarray(0, half), timestamps: ts.subarray(0, half) }]);
  const ewma = (await ewmaModel.predict([view], 0, n))[0]!.p50;
  const meanF = hs.map(() => {
    const a = new Float64Array(n);
    let s = 0;
    for (let o = 0; o < n; o++) {
      s += y[o]! - (o >= HISTORY ? y[o - HISTORY]! : 0);
      a[o] = s / Math.min(o + 1, HISTORY);
    }
    return a;
  });
  // The online combination, round by round as a node serves it.
  const comb = new OnlineCombiner({ members: LIVE_MEMBERS, horizons: hs, eta, discount, probes, borrow });
  const served = hs.map(() => new Float64Array(n).fill(Number.NaN));
  const lo = hs.map(() => new Float64Array(n).fill(Number.NaN));
  const up = hs.map(() => new Float64Array(n).fill(Number.NaN));
  const state = comb.newState(0, 1);
  const preds = new Float64Array(LIVE_MEMBERS.length * H);
  const weightSum = hs.map(() => new Float64Array(LIVE_MEMBERS.length));
  let last: { p10: number; p50: number; p90: number }[] | undefined;
  for (let o = 0; o < n; o++) {
    if (o % every === 0) {
      const scale = Math.max(level[o]!, 1e-3);
      const known = y.subarray(0, o + 1);
      comb.observe(state, known, 0, scale);
      for (let m = 0; m < members.length; m++)
        for (let hi = 0; hi < H; hi++) preds[m * H + hi] = members[m]![hi]![o]!;
      const r = comb.combine(state, o, preds, scale);
      last = r.points;
      if (o >= half) r.weights.forEach((w, hi) => w.forEach((x, m) => (weightSum[hi]![m]! += x)));
    }
    for (let hi = 0; hi < H; hi++) {
      // Between rounds the latest forecast stands: it targets h slots after its round.
      served[hi]![o] = last![hi]!.p50;
      lo[hi]![o] = last![hi]!.p10;
      up[hi]![o] = last![hi]!.p90;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  lines.push(
    `\n${run.key}: ${n} slots of ${trace.intervalMs / 1000} s, scored origins ${half}..${n - 1}; LSTM ${lstmHow}; ` +
      `rounds every ${every} slot(s), eta ${eta}, discount ${discount}, probes ${probes}, borrow ${borrow}; ${secs.toFixed(0)} s`,
  );
  const names = [...LIVE_MEMBERS];
  const head = [
    'h',
    'combined',
    'best member',
    'wape',
    'comb/best',
    'ewma(peer)',
    'comb/ewma',
    'naive',
    'mean',
    'cov80',
  ];
  lines.push(head.map((c) => c.padStart(12)).join('') + '   members (wape) and mean weight');
  hs.forEach((h, hi) => {
    const c = wape(y, served[hi]!, half, n, h);
    const ws = members.map((m) => wape(y, m[hi]!, half, n, h));
    let best = -1;
    ws.forEach((w, m) => {
      if (Number.isFinite(w) && (best < 0 || w < ws[best]!)) best = m;
    });
    const e = wape(y, ewma[hi]!, half, n, h);
    let inside = 0;
    let count = 0;
    for (let o = half; o < n - h; o++) {
      count++;
      if (y[o + h]! >= lo[hi]![o]! && y[o + h]! <= up[hi]![o]!) inside++;
    }
    const rounds = weightSum[hi]!.reduce((a, b) => a + b, 0);
    const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : '-');
    lines.push(
      [
        h,
        f(c),
        names[best]!,
        f(ws[best]!),
        f(c / ws[best]!),
        f(e),
        f(c / e),
        f(ws[0]!),
        f(wape(y, meanF[hi]!, half, n, h)),
        f(inside / count),
      ]
        .map((x) => String(x).padStart(12))
        .join('') +
        '   ' +
        names
          .map(
            (nm, m) => `${nm} ${f(ws[m]!)} (${rounds > 0 ? (weightSum[hi]![m]! / rounds).toFixed(2) : '-'})`,
          )
          .join(', '),
    );
  });
  process.stdout.write(`${lines.slice(-H - 2).join('\n')}\n`);
}

if (!only || only.has('serving')) {
  const pre = await loadPretrained();
  if (pre) {
    const set = new ModelSet({ version: 'pretrained', horizons: pre.horizons, lstm: pre.lstm });
    const zoo = new LiveZoo({ horizons: pre.horizons, stepMs: pre.stepMs });
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
