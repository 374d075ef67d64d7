import { writeFile } from 'node:fs/promises';
import { ErrorCode, InputError, QraBand, show } from '../lib/index.ts';
import type { TraceFormatOption } from '../lib/index.ts';
import { CliExit, EXIT_CODES_USAGE, UsageError, parseOptions, reportError, stringOption } from './args.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';
import { TRACE_OPTIONS, applyTraceOptions, bad, loadTrace, readText } from './trace-args.ts';
import {
  POLICY_NAMES,
  REPLAY_FORECASTERS,
  RISK_SETTINGS,
  makePolicy,
  plotCompareSvg,
  plotReplaySvg,
  prepareReplay,
  replaySummary,
  runReplay,
  sweepPolicy,
  timelineCsv,
} from '../sim/index.ts';
import type { CompareRun, PolicyName, ReplaySetupOptions } from '../sim/index.ts';
import { RlPolicy } from '../models/index.ts';
import type { RlPolicyJson } from '../models/index.ts';
import { plotFileFor, plotFormatOf, writePlot } from './plot-file.ts';
import { plotOptions, reportOf, writeReports } from './replay-report.ts';

/** Parsed `headroom replay` arguments. */
export interface ReplayArgs {
  trace: string;
  format: TraceFormatOption;
  bucketSeconds: number;
  /** The first of {@link policies} (the one `--sweep` sweeps). */
  policy: PolicyName;
  /** `--policy P`, or `--policies a,b,c`; every one runs on the same data. */
  policies: PolicyName[];
  quantile?: number;
  unitCapacity?: number;
  leadTime?: number;
  unitCost?: number;
  throttlePrice?: number;
  churnCost?: number;
  forecaster?: string;
  timeline?: string;
  plot?: string;
  plotCompare?: string;
  rlLoad?: string;
  rlSave?: string;
  rlPretrain?: number;
  sweep: boolean;
  json: boolean;
}

/** What `headroom replay --help` prints. */
export const REPLAY_USAGE = `usage: headroom replay --trace FILE [--format auto|series|long|arrivals] [--bucket-seconds S]
       --policy ${POLICY_NAMES.join('|')} | --policies a,b,... [--quantile 0.9] [--unit-capacity N]
       [--lead-time STEPS] [--unit-cost C] [--throttle-price P] [--churn-cost C]
       [--forecaster ${REPLAY_FORECASTERS.join('|')}]
       [--timeline out.csv] [--plot out.svg|out.png] [--plot-compare out.svg|out.png]
       [--rl-load policy.json] [--rl-save policy.json] [--rl-pretrain EPISODES] [--sweep] [--json]
  --plot draws one figure per run: demand, forecast p10-p90 band and p50, capacity, throttled
    steps, the whole run beside a zoom on its busiest window, the run's figures in the title
    (several policies: out-<policy>.svg each). --plot-compare draws the policies' runs side by
    side with their cost/throttling scatter (default policies: all of them). The extension
    picks the format; PNG is rendered by resvg.
${EXIT_CODES_USAGE}`;

function num(option: string, value: string, check: (n: number) => boolean, expected: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw bad(option, expected, value);
  return n;
}

/** Every option of `headroom replay` (parseArgs specs; `--help` is added by parseOptions). */
export const REPLAY_OPTIONS = {
  ...TRACE_OPTIONS,
  policy: { type: 'string' },
  policies: { type: 'string' },
  quantile: { type: 'string' },
  'unit-capacity': { type: 'string' },
  'lead-time': { type: 'string' },
  'unit-cost': { type: 'string' },
  'throttle-price': { type: 'string' },
  'churn-cost': { type: 'string' },
  forecaster: { type: 'string' },
  timeline: { type: 'string' },
  plot: { type: 'string' },
  'plot-compare': { type: 'string' },
  'rl-load': { type: 'string' },
  'rl-save': { type: 'string' },
  'rl-pretrain': { type: 'string' },
  sweep: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

/**
 * Parses the arguments after `replay`; throws an InputError naming the
 * option and value. `--help` is handled by {@link replayCommand}.
 */
export function parseReplayArgs(argv: readonly string[]): ReplayArgs {
  return replayArgsOf(parseOptions(argv, REPLAY_OPTIONS, REPLAY_USAGE).values);
}

function replayArgsOf(values: ParsedOptions['values']): ReplayArgs {
  const a: Partial<ReplayArgs> & { sweep: boolean; json: boolean } = {
    sweep: values['sweep'] === true,
    json: values['json'] === true,
  };
  applyTraceOptions(a, values);
  const positive = (n: number): boolean => n > 0;
  const nonNeg = (n: number): boolean => n >= 0;
  const integer = (n: number): boolean => Number.isInteger(n) && n >= 0;
  /** A numeric option's value, checked; undefined when not given. */
  const number = (name: string, check: (n: number) => boolean, expected: string): number | undefined => {
    const v = stringOption(values, name);
    return v === undefined ? undefined : num(`--${name}`, v, check, expected);
  };
  const policy = stringOption(values, 'policy');
  if (policy !== undefined) {
    if (!(POLICY_NAMES as readonly string[]).includes(policy))
      throw bad('--policy', `one of ${POLICY_NAMES.join(', ')}`, policy);
    a.policy = policy as PolicyName;
    a.policies = [a.policy];
  }
  const policies = stringOption(values, 'policies');
  if (policies !== undefined) {
    if (policy !== undefined) throw bad('--policies', 'given without --policy (one or the other)', policies);
    const names = policies.split(',').map((p) => p.trim());
    const wrong = names.find((p) => !(POLICY_NAMES as readonly string[]).includes(p));
    if (wrong !== undefined || names.length === 0)
      throw bad('--policies', `a comma-separated list of ${POLICY_NAMES.join(', ')}`, policies);
    if (new Set(names).size !== names.length) throw bad('--policies', 'a list without repeats', policies);
    a.policies = names as PolicyName[];
  }
  const numbers = {
    quantile: number('quantile', (n) => n > 0 && n < 1, 'a number strictly between 0 and 1'),
    unitCapacity: number('unit-capacity', positive, 'a positive number of requests per step'),
    leadTime: number('lead-time', integer, 'a non-negative integer (steps)'),
    unitCost: number('unit-cost', positive, 'a positive cost per unit-second'),
    throttlePrice: number('throttle-price', nonNeg, 'a non-negative price per throttled request'),
    churnCost: number('churn-cost', nonNeg, 'a non-negative cost per unit changed'),
    rlPretrain: number('rl-pretrain', integer, 'a non-negative integer (episodes)'),
  };
  for (const [k, v] of Object.entries(numbers)) if (v !== undefined) a[k as keyof typeof numbers] = v;
  const forecaster = stringOption(values, 'forecaster');
  if (forecaster !== undefined) {
    if (!REPLAY_FORECASTERS.includes(forecaster))
      throw bad('--forecaster', `one of ${REPLAY_FORECASTERS.join(', ')}`, forecaster);
    a.forecaster = forecaster;
  }
  const files = {
    timeline: 'timeline',
    plot: 'plot',
    plotCompare: 'plot-compare',
    rlLoad: 'rl-load',
    rlSave: 'rl-save',
  } as const;
  for (const [k, name] of Object.entries(files)) {
    const v = stringOption(values, name);
    if (v !== undefined) a[k as keyof typeof files] = v;
  }
  if (a.trace === undefined) throw new UsageError('--trace is required', REPLAY_USAGE, { field: '--trace' });
  // --plot-compare alone compares every policy.
  if (a.policies === undefined && a.plotCompare !== undefined) a.policies = [...POLICY_NAMES];
  if (a.policies === undefined)
    throw new UsageError('--policy (or --policies) is required', REPLAY_USAGE, { field: '--policy' });
  a.policy = a.policies[0]!;
  if (a.quantile !== undefined && !a.policies.some((p) => p === 'quantile' || p === 'qra'))
    throw bad('--quantile', 'used with the quantile or qra policy only', a.quantile);
  if (a.plot !== undefined) plotFormatOf('--plot', a.plot);
  if (a.plotCompare !== undefined) {
    plotFormatOf('--plot-compare', a.plotCompare);
    if (a.policies.length < 2)
      throw bad('--plot-compare', 'used with two or more policies (--policies a,b,...)', a.plotCompare);
  }
  if (a.sweep && a.policies.length > 1) throw bad('--sweep', 'used with one --policy', a.policies.join(','));
  if (a.sweep && (a.plot !== undefined || a.timeline !== undefined))
    throw bad(
      '--sweep',
      'used without --plot and --timeline (a sweep runs many settings)',
      a.plot ?? a.timeline,
    );
  return { format: 'auto', bucketSeconds: 1, ...a } as ReplayArgs;
}

/**
 * `headroom replay`: replays a demand trace through a pool manager and one
 * allocation policy on a simulated clock. Exit code 0 on success, 2 on bad
 * arguments or input, 1 on any other failure.
 */
export async function replayCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  try {
    const parsed = parseOptions(argv, REPLAY_OPTIONS, REPLAY_USAGE);
    if (parsed.help) {
      io.stdout.write(`${REPLAY_USAGE}\n`);
      return CliExit.Ok;
    }
    const args = replayArgsOf(parsed.values);
    const trace = await loadTrace(args, io.stderr);
    const setup: ReplaySetupOptions = {};
    if (args.unitCapacity !== undefined) setup.unitCapacity = args.unitCapacity;
    if (args.leadTime !== undefined) setup.leadSteps = args.leadTime;
    if (args.unitCost !== undefined) setup.unitCost = args.unitCost;
    if (args.throttlePrice !== undefined) setup.throttlePrice = args.throttlePrice;
    if (args.churnCost !== undefined) setup.churnCost = args.churnCost;
    if (args.forecaster !== undefined) setup.forecaster = args.forecaster;
    const data = await prepareReplay(trace, setup);
    const m = data.model;
    io.stderr.write(
      `model: unit capacity ${show(m.unitCapacity)} req/step, lead ${m.leadSteps} steps, unit cost ${m.unitCost}/s, throttle price ${show(m.throttlePrice)}; forecaster ${data.forecasts.name}; scored steps ${data.start}..${data.demand.length - 1}\n`,
    );
    let rlTable: RlPolicyJson | undefined;
    if (args.rlLoad !== undefined) {
      const text = await readText('--rl-load', args.rlLoad);
      try {
        rlTable = RlPolicy.fromJSON(JSON.parse(text)).toJSON();
      } catch (err) {
        throw new InputError(
          ErrorCode.InvalidOptions,
          `--rl-load must hold a saved RL policy, got ${show(args.rlLoad)} (${(err as Error).message})`,
          {
            field: '--rl-load',
            value: args.rlLoad,
            cause: err,
          },
        );
      }
    }
    const policyOptions = {
      ...(args.quantile === undefined ? {} : { setting: args.quantile }),
      ...(rlTable === undefined ? {} : { rlTable }),
      ...(args.rlPretrain === undefined ? {} : { rlPretrainEpisodes: args.rlPretrain }),
    };
    if (args.sweep) {
      const { setting: _s, ...rest } = policyOptions as { setting?: number };
      const points = sweepPolicy(data, args.policy, rest);
      const risk = RISK_SETTINGS[args.policy].name;
      if (args.json)
        io.stdout.write(`${JSON.stringify({ policy: args.policy, setting: risk, points }, null, 2)}\n`);
      else {
        io.stdout.write(`${risk},cost,throttledFraction,objective\n`);
        for (const p of points)
          io.stdout.write(`${p.setting},${p.cost},${p.throttledFraction},${p.objective}\n`);
      }
      return 0;
    }
    const several = args.policies.length > 1;
    const wantTimeline =
      args.timeline !== undefined || args.plot !== undefined || args.plotCompare !== undefined;
    const reports: Record<string, unknown>[] = [];
    const runs: CompareRun[] = [];
    for (const name of args.policies) {
      const policy = makePolicy(name, data, policyOptions);
      const t0 = performance.now();
      const r = runReplay(data, policy, { timeline: wantTimeline });
      io.stderr.write(
        `${name}: replayed ${r.steps} steps in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`,
      );
      if (args.timeline !== undefined && r.timeline)
        await writeFile(plotFileFor(args.timeline, name, several), timelineCsv(r.timeline));
      if (r.timeline) {
        const summary = replaySummary(r, r.timeline);
        runs.push({ summary, timeline: r.timeline });
        if (args.plot !== undefined) {
          const file = plotFileFor(args.plot, name, several);
          await writePlot(
            '--plot',
            file,
            plotReplaySvg(r.timeline, summary, plotOptions(args, data, `policy ${name}`)),
          );
          io.stderr.write(`${name}: plot written to ${file}\n`);
        }
      }
      // The RL table, inside the band it runs on (sim makePolicy).
      const rl = policy instanceof QraBand ? policy.inner : policy;
      if (args.rlSave !== undefined && rl instanceof RlPolicy)
        await writeFile(args.rlSave, `${JSON.stringify(rl.toJSON())}\n`);
      reports.push(reportOf(r));
    }
    if (args.plotCompare !== undefined) {
      const o = plotOptions(args, data, `${runs.length} policies compared`);
      await writePlot('--plot-compare', args.plotCompare, plotCompareSvg(runs, o));
      io.stderr.write(`comparison written to ${args.plotCompare}\n`);
    }
    writeReports(io.stdout, reports, args.json);
    return 0;
  } catch (err) {
    return reportError(err, io.stderr);
  }
}
