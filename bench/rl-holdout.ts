// Issue 5's targets on traffic other than the scored shared traces, for
// choosing the RL policy's design without tuning to those traces.
//   node --import tsx bench/rl-holdout.ts [--set synthetic|first-half|second-half|aws] [--json out.json]
// synthetic:   seeded traces of sim/synthetic-trace.ts (five-minute and one-minute steps, and long
//              ones whose character changes) - tune here;
// first-half:  each shared trace cut to its first half (warm-up 10 % of that) - tune here;
// second-half: each shared trace, warm-up its first half, scored on its second half - report only;
// aws:         the NAB AWS metrics (not in bench/replay-eval.ts) - report only.
// Beside each RL ratio it prints the best fixed quantile's, from the same run.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrace } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import { TARGET_BOUNDS, evaluateTargets, prepareReplay, syntheticTrace } from '../sim/index.ts';
import type { ReplaySetupOptions, TargetRatios } from '../sim/index.ts';
import { TRACES_DATA } from '../test/helpers/traces-data.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const set = arg('--set') ?? 'synthetic';

function firstHalf(t: Trace): Trace {
  const n = Math.floor(t.timestamps.length / 2);
  return { ...t, timestamps: t.timestamps.slice(0, n), values: t.values.map((v) => v.slice(0, n)) };
}

const shared = (): { name: string; trace: () => Trace }[] => [
  ...readdirSync(join(TRACES_DATA, 'nab-tweets'))
    .filter((f) => f.endsWith('.csv'))
    .map((f) => ({
      name: f.replace('Twitter_volume_', 'tw-').replace('.csv', ''),
      trace: () => parseTrace(readFileSync(join(TRACES_DATA, 'nab-tweets', f), 'utf8')),
    })),
  {
    name: 'worldcup98',
    trace: () => parseTrace(readFileSync(join(TRACES_DATA, 'worldcup98/requests_per_minute.csv'), 'utf8')),
  },
  {
    name: 'azure-1s',
    trace: () =>
      parseTrace(readFileSync(join(TRACES_DATA, 'azure-llm-2023/AzureLLMInferenceTrace_conv.csv'), 'utf8'), {
        bucketSeconds: 1,
      }),
  },
];

type Case = { name: string; trace: () => Trace; setup?: ReplaySetupOptions };
let cases: Case[];
switch (set) {
  case 'synthetic':
    cases = [
      ...[1, 2, 3, 4, 5, 6, 7, 8].map((seed) => ({
        name: `syn-${seed}-${seed <= 6 ? '5m' : '1m'}`,
        trace: () =>
          syntheticTrace(seed <= 6 ? { seed, steps: 8000 } : { seed, steps: 20_000, stepMs: 60_000 }),
      })),
      // Long traces whose character changes four times: does the learner keep up?
      ...[11, 12, 13].map((seed) => ({
        name: `syn-${seed}-5m-regimes`,
        trace: () => syntheticTrace({ seed, steps: 16_000, regimes: 4 }),
      })),
    ];
    break;
  case 'first-half':
    cases = shared().map((c) => ({ name: c.name, trace: () => firstHalf(c.trace()) }));
    break;
  case 'second-half':
    cases = shared().map((c) => ({ ...c, setup: { warmupFraction: 0.5 } }));
    break;
  case 'aws':
    cases = readdirSync(join(TRACES_DATA, 'nab-aws'))
      .filter((f) => f.endsWith('.csv'))
      .map((f) => ({
        name: f.replace('.csv', '').slice(0, 24),
        trace: () => parseTrace(readFileSync(join(TRACES_DATA, 'nab-aws', f), 'utf8')),
      }));
    break;
  default:
    throw new Error(`--set must be synthetic, first-half, second-half or aws, got ${set}`);
}

const KEYS = Object.keys(TARGET_BOUNDS) as (keyof TargetRatios)[];
const rows: (TargetRatios & { name: string })[] = [];
const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
process.stdout.write(
  `| ${set} | ${KEYS.join(' | ')} | rl thr / q-best thr |\n|---|${KEYS.map(() => '---').join('|')}|---|\n`,
);
for (const c of cases) {
  const data = await prepareReplay(c.trace(), c.setup ?? {});
  const e = evaluateTargets(data, ['reactive', 'rl']);
  const row = { name: c.name, ...Object.fromEntries(KEYS.map((k) => [k, e[k]])) } as TargetRatios & {
    name: string;
  };
  rows.push(row);
  process.stdout.write(
    `| ${c.name} | ${KEYS.map((k) => fmt(row[k])).join(' | ')} | ${fmt(e.results['rl']!.throttledFraction)} / ${fmt(e.bestQuantile.throttledFraction)} |\n`,
  );
}
// Met counts, and the geometric mean of each ratio (NaN counted as a miss, left out of the mean),
// so that progress short of a bound still shows.
const summary = KEYS.map((k) => {
  const xs = rows.map((r) => r[k]);
  const ok = xs.filter((x) => x <= TARGET_BOUNDS[k]).length;
  const fin = xs.filter((x) => Number.isFinite(x) && x > 0);
  const gm = Math.exp(fin.reduce((s, x) => s + Math.log(x), 0) / Math.max(1, fin.length));
  return `${k} met ${ok}/${rows.length} (geo-mean ${gm.toFixed(3)})`;
});
process.stdout.write(`\n${summary.join('\n')}\n`);
const out = arg('--json');
if (out) writeFileSync(out, `${JSON.stringify(rows, null, 2)}\n`);
