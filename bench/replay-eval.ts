// Evaluation of the allocation policies on the real traces of data/traces/ (issue 5's targets).
//   node --import tsx bench/replay-eval.ts [--only tw-KO,azure-1s] [--forecaster live|ewma|...] [--json out.json]
// Every policy runs with the same resource model per trace (defaults of
// sim/setup.ts: unit capacity = warm-up mean / 10, a two-minute start-up,
// unit cost 1 per unit-second, throttle price 10x the capacity cost of one
// request); forecasts are the served forecaster's (`live`, the default of
// `headroom replay`) or the named one's, no look-ahead.
// The targets are read off the fronts by sim/targets.ts; bench/rl-holdout.ts
// shows the same targets on traffic the RL design was not chosen on. Beside
// RL's throttling at the reactive cost it prints the quantile and oracle
// policies' and the physical bound's (sim/foresight-bound.ts), read off
// their fronts the same way: where the bound misses 0.5x, no policy can meet it.
// Where the bound is far below (it knows every step's demand), two peers of
// sim/peers.ts say what bounds the rest: a causal rule fitted in hindsight on
// the scored steps (what a policy reading the same past could reach at best)
// and a rule that knows the steps either side of each step but not its own.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrace } from '../lib/index.ts';
import {
  RISK_SETTINGS,
  TARGET_BOUNDS,
  evaluateTargets,
  fittedCausalFront,
  foresightFront,
  neighbourFront,
  sweepPolicy,
  prepareReplay,
  throttleAtCost,
} from '../sim/index.ts';
import type { FrontierPoint, PolicyName, ReplayResult, TargetRatios } from '../sim/index.ts';
import { TRACES_DATA } from '../test/helpers/traces-data.ts';

const DATA = TRACES_DATA;
const traces: { name: string; file: string; bucketSeconds?: number }[] = [
  ...readdirSync(join(DATA, 'nab-tweets'))
    .filter((f) => f.endsWith('.csv'))
    .map((f) => ({
      name: f.replace('Twitter_volume_', 'tw-').replace('.csv', ''),
      file: join(DATA, 'nab-tweets', f),
    })),
  { name: 'worldcup98', file: join(DATA, 'worldcup98/requests_per_minute.csv') },
  { name: 'azure-1s', file: join(DATA, 'azure-llm-2023/AzureLLMInferenceTrace_conv.csv'), bucketSeconds: 1 },
];
const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const only = argOf('--only')?.split(',');
const forecaster = argOf('--forecaster');
const POLICIES: PolicyName[] = ['static', 'reactive', 'quantile', 'qra', 'rl', 'oracle'];
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : 'n/a');
const ratio = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

interface Row extends TargetRatios {
  trace: string;
  results: Record<string, ReplayResult>;
  bestQuantile: FrontierPoint;
  /** Throttled fraction at the reactive cost / reactive's, per policy front (RL's is the target's). */
  atReactiveCost: Record<'rl' | 'quantile' | 'qra' | 'oracle' | 'bound' | 'fitted' | 'neighbours', number>;
  reactiveThrottled: number;
  seconds: number;
}

const rows: Row[] = [];
for (const tr of traces) {
  if (only && !only.includes(tr.name)) continue;
  const t0 = performance.now();
  const trace = parseTrace(
    readFileSync(tr.file, 'utf8'),
    tr.bucketSeconds ? { bucketSeconds: tr.bucketSeconds } : {},
  );
  const data = await prepareReplay(trace, forecaster === undefined ? {} : { forecaster });
  const e = evaluateTargets(data, POLICIES);
  const re = e.results['reactive']!;
  // Every front is read the same way: its Pareto points over its own risk sweep,
  // linear between them, at the reactive rule's cost at its default setting.
  const at = (front: readonly FrontierPoint[]): number =>
    throttleAtCost(front, re.cost) / re.throttledFraction;
  rows.push({
    trace: tr.name,
    results: e.results,
    bestQuantile: e.bestQuantile,
    atReactiveCost: {
      rl: at(e.sweeps['rl']!),
      quantile: at(e.sweeps['quantile']!),
      qra: at(sweepPolicy(data, 'qra')),
      oracle: at(e.sweeps['oracle']!),
      bound: at(foresightFront(data)),
      fitted: at(fittedCausalFront(data)),
      neighbours: at(neighbourFront(data)),
    },
    reactiveThrottled: re.throttledFraction,
    throttleRatioAtReactiveCost: e.throttleRatioAtReactiveCost,
    costRatioAtReactiveThrottle: e.costRatioAtReactiveThrottle,
    costRatioVsOracle: e.costRatioVsOracle,
    objectiveRatioVsBestQuantile: e.objectiveRatioVsBestQuantile,
    seconds: (performance.now() - t0) / 1000,
  });
  const r = rows[rows.length - 1]!;
  process.stderr.write(
    `${tr.name}: ${data.demand.length} steps, lead ${data.model.leadSteps}, forecaster ${data.forecasts.name}, ${r.seconds.toFixed(1)} s\n`,
  );
}

const out: string[] = [];
out.push(
  '## Policies at their default risk setting (cost relative to reactive; objective = cost + price x throttled)\n',
);
out.push(`| trace | ${POLICIES.map((p) => `${p} cost / thr / obj`).join(' | ')} | best q (hindsight) |`);
out.push(`|---|${POLICIES.map(() => '---').join('|')}|---|`);
for (const r of rows) {
  const re = r.results.reactive!;
  const cells = POLICIES.map((p) => {
    const x = r.results[p]!;
    return `${(x.cost / re.cost).toFixed(2)} / ${pct(x.throttledFraction)} / ${(x.objective / re.objective).toFixed(3)}`;
  });
  out.push(
    `| ${r.trace} | ${cells.join(' | ')} | q=${r.bestQuantile.setting} obj ${(r.bestQuantile.objective / re.objective).toFixed(3)} |`,
  );
}
out.push(
  '\n## Targets (RL frontier from its throttle-price sweep; oracle frontier from its headroom sweep)\n',
);
out.push(
  '| trace | RL thr / reactive thr at reactive cost (<= 0.5) | RL cost / reactive cost at reactive thr (<= 0.8) | RL cost / oracle cost at equal thr (<= 1.15) | RL obj / best fixed quantile obj (<= 1.05) |',
);
out.push('|---|---|---|---|---|');
for (const r of rows)
  out.push(
    `| ${r.trace} | ${ratio(r.throttleRatioAtReactiveCost)} | ${ratio(r.costRatioAtReactiveThrottle)} | ${ratio(r.costRatioVsOracle)} | ${ratio(r.objectiveRatioVsBestQuantile)} |`,
  );
out.push('\n## Throttling at the reactive cost, / reactive throttling, per front (target: RL <= 0.5)\n');
out.push(
  "Each front is its policy's Pareto points over its risk sweep, linear between them, read at the reactive rule's cost at its default setting. " +
    '`oracle` is the perfect-foresight policy (headroom sweep over the coming peak); `bound` is the physical limit: ' +
    'the least-cost schedule knowing all demand, at each throttle price (sim/foresight-bound.ts), no policy can do better. ' +
    '`fitted` is the causal peer: a linear quantile regression on what a policy reads at its decision (recent demand, ' +
    'the served forecast), fitted in hindsight on the scored steps; `neighbours` knows the demand of the steps either ' +
    "side of each step but not the step's own (sim/peers.ts). `qra` is the pools' quantile-regression policy " +
    '(lib/allocation/qra.ts): the fitted causal rule, learned online from its own past.\n',
);
out.push(
  '| trace | reactive throttled | RL | quantile | qra | fitted causal | neighbours | oracle | bound | RL target | bound allows 0.5x |',
);
out.push('|---|---|---|---|---|---|---|---|---|---|---|');
const bound = TARGET_BOUNDS.throttleRatioAtReactiveCost;
for (const r of rows) {
  const a = r.atReactiveCost;
  out.push(
    `| ${r.trace} | ${pct(r.reactiveThrottled)} | ${ratio(a.rl)} | ${ratio(a.quantile)} | ${ratio(a.qra)} | ${ratio(a.fitted)} | ${ratio(a.neighbours)} | ${ratio(a.oracle)} | ${ratio(a.bound)} | ${a.rl <= bound ? 'PASS' : 'MISS'} | ${a.bound <= bound ? 'yes' : `no (out of reach: ${ratio(a.bound)})`} |`,
  );
}
const met = (f: (r: Row) => number, ok: (x: number) => boolean): string =>
  `${rows.filter((r) => ok(f(r))).length}/${rows.length}`;
out.push(
  `\nmet: throttle at reactive cost ${met(
    (r) => r.throttleRatioAtReactiveCost,
    (x) => x <= 0.5,
  )}, cost at reactive throttling ${met(
    (r) => r.costRatioAtReactiveThrottle,
    (x) => x <= 0.8,
  )}, within 15% of oracle ${met(
    (r) => r.costRatioVsOracle,
    (x) => x <= 1.15,
  )}, within 5% of best quantile ${met(
    (r) => r.objectiveRatioVsBestQuantile,
    (x) => x <= 1.05,
  )}, better than best quantile ${met(
    (r) => r.objectiveRatioVsBestQuantile,
    (x) => x < 1,
  )}`,
);
out.push(
  `risk settings swept: ${JSON.stringify(Object.fromEntries(Object.entries(RISK_SETTINGS).map(([k, v]) => [k, v.sweep])))}`,
);
process.stdout.write(`${out.join('\n')}\n`);
const json = argOf('--json');
if (json) writeFileSync(json, `${JSON.stringify(rows, null, 2)}\n`);
