import { writeFile } from 'node:fs/promises';
import { ErrorCode, InputError, show } from '../lib/index.ts';
import type { TraceFormatOption } from '../lib/index.ts';
import { CliExit, EXIT_CODES_USAGE, UsageError, parseOptions, reportError, stringOption } from './args.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';
import { TRACE_OPTIONS, applyTraceOptions, bad, loadTrace, readText } from './trace-args.ts';
import {
  POLICY_NAMES,
  REPLAY_FORECASTERS,
  RISK_SETTINGS,
  makePolicy,
  plotSvg,
  prepareReplay,
  runReplay,
  sweepPolicy,
  timelineCsv,
} from '../sim/index.ts';
import type { PolicyName, ReplaySetupOptions } from '../sim/index.ts';
import { RlPolicy } from '../models/index.ts';
import type { RlPolicyJson } from '../models/index.ts';

/** Parsed `headroom replay` arguments. */
export interface ReplayArgs {
  trace: string;
  format: TraceFormatOption;
  bucketSeconds: number;
  policy: PolicyName;
  quantile?: number;
  unitCapacity?: number;
  leadTime?: number;
  unitCost?: number;
  throttlePrice?: number;
  churnCost?: number;
  forecaster?: string;
  timeline?: string;
  plot?: string;
  rlLoad?: string;
  rlSave?: string;
  rlPretrain?: number;
  sweep: boolean;
  json: boolean;
}

/** What `headroom replay --help` prints. */
export const REPLAY_USAGE = `usage: headroom replay --trace FILE [--format auto|series|long|arrivals] [--bucket-seconds S]
       --policy ${POLICY_NAMES.join('|')} [--quantile 0.9] [--unit-capacity N] [--lead-time STEPS]
       [--unit-cost C] [--throttle-price P] [--churn-cost C] [--forecaster ${REPLAY_FORECASTERS.join('|')}]
       [--timeline out.csv] [--plot out.svg] [--rl-load policy.json] [--rl-save policy.json]
       [--rl-pretrain EPISODES] [--sweep] [--json]
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
  quantile: { type: 'string' },
  'unit-capacity': { type: 'string' },
  'lead-time': { type: 'string' },
  'unit-cost': { type: 'string' },
  'throttle-price': { type: 'string' },
  'churn-cost': { type: 'string' },
  forecaster: { type: 'string' },
  timeline: { type: 'string' },
  plot: { type: 'string' },
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
  const files = { timeline: 'timeline', plot: 'plot', rlLoad: 'rl-load', rlSave: 'rl-save' } as const;
  for (const [k, name] of Object.entries(files)) {
    const v = stringOption(values, name);
    if (v !== undefined) a[k as keyof typeof files] = v;
  }
  if (a.trace === undefined) throw new UsageError('--trace is required', REPLAY_USAGE, { field: '--trace' });
  if (a.policy === undefined)
    throw new UsageError('--policy is required', REPLAY_USAGE, { field: '--policy' });
  if (a.quantile !== undefined && a.policy !== 'quantile')
    throw bad('--quantile', 'used with --policy quantile only', a.quantile);
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
    const policy = makePolicy(args.policy, data, policyOptions);
    const t0 = performance.now();
    const r = runReplay(data, policy, { timeline: args.timeline !== undefined || args.plot !== undefined });
    io.stderr.write(`replayed ${r.steps} steps in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
    if (args.timeline !== undefined && r.timeline) await writeFile(args.timeline, timelineCsv(r.timeline));
    if (args.plot !== undefined && r.timeline)
      await writeFile(args.plot, plotSvg(r.timeline, { title: `${args.trace} - policy ${args.policy}` }));
    if (args.rlSave !== undefined && policy instanceof RlPolicy)
      await writeFile(args.rlSave, `${JSON.stringify(policy.toJSON())}\n`);
    const report = {
      policy: r.policy,
      requests: r.requests,
      throttled: r.throttled,
      throttledFraction: r.throttledFraction,
      unitSeconds: r.unitSeconds,
      cost: r.cost,
      meanUtilization: r.meanUtilization,
      objective: r.objective,
    };
    if (args.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else
      for (const [k, v] of Object.entries(report))
        io.stdout.write(`${k.padEnd(18)} ${typeof v === 'number' ? Number(v.toPrecision(6)) : v}\n`);
    return 0;
  } catch (err) {
    return reportError(err, io.stderr);
  }
}
