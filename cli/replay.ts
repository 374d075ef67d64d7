import { writeFile } from 'node:fs/promises';
import { ErrorCode, HeadroomError, InputError, show } from '../lib/index.ts';
import type { TraceFormatOption } from '../lib/index.ts';
import { TRACE_OPTIONS, bad, lexOptions, loadTrace, readText, traceOption } from './trace-args.ts';
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

const USAGE = `usage: headroom replay --trace FILE [--format auto|series|long|arrivals] [--bucket-seconds S]
       --policy ${POLICY_NAMES.join('|')} [--quantile 0.9] [--unit-capacity N] [--lead-time STEPS]
       [--unit-cost C] [--throttle-price P] [--churn-cost C] [--forecaster ${REPLAY_FORECASTERS.join('|')}]
       [--timeline out.csv] [--plot out.svg] [--rl-load policy.json] [--rl-save policy.json]
       [--rl-pretrain EPISODES] [--sweep] [--json]`;

function num(option: string, value: string, check: (n: number) => boolean, expected: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw bad(option, expected, value);
  return n;
}

/** Parses the arguments after `replay`; throws an InputError naming the option and value. */
export function parseReplayArgs(argv: readonly string[]): ReplayArgs {
  const a: Partial<ReplayArgs> & { sweep: boolean; json: boolean } = { sweep: false, json: false };
  const takes = new Set([
    ...TRACE_OPTIONS,
    '--policy',
    '--quantile',
    '--unit-capacity',
    '--lead-time',
    '--unit-cost',
    '--throttle-price',
    '--churn-cost',
    '--forecaster',
    '--timeline',
    '--plot',
    '--rl-load',
    '--rl-save',
    '--rl-pretrain',
  ]);
  for (const [opt, value] of lexOptions(argv, takes, new Set(['--json', '--sweep']), USAGE)) {
    if (value === true) {
      a[opt === '--json' ? 'json' : 'sweep'] = true;
      continue;
    }
    if (traceOption(a, opt, value)) continue;
    const positive = (n: number): boolean => n > 0;
    const nonNeg = (n: number): boolean => n >= 0;
    switch (opt) {
      case '--policy':
        if (!(POLICY_NAMES as readonly string[]).includes(value))
          throw bad(opt, `one of ${POLICY_NAMES.join(', ')}`, value);
        a.policy = value as PolicyName;
        break;
      case '--quantile':
        a.quantile = num(opt, value, (n) => n > 0 && n < 1, 'a number strictly between 0 and 1');
        break;
      case '--unit-capacity':
        a.unitCapacity = num(opt, value, positive, 'a positive number of requests per step');
        break;
      case '--lead-time':
        a.leadTime = num(opt, value, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer (steps)');
        break;
      case '--unit-cost':
        a.unitCost = num(opt, value, positive, 'a positive cost per unit-second');
        break;
      case '--throttle-price':
        a.throttlePrice = num(opt, value, nonNeg, 'a non-negative price per throttled request');
        break;
      case '--churn-cost':
        a.churnCost = num(opt, value, nonNeg, 'a non-negative cost per unit changed');
        break;
      case '--forecaster':
        if (!REPLAY_FORECASTERS.includes(value))
          throw bad(opt, `one of ${REPLAY_FORECASTERS.join(', ')}`, value);
        a.forecaster = value;
        break;
      case '--rl-pretrain':
        a.rlPretrain = num(
          opt,
          value,
          (n) => Number.isInteger(n) && n >= 0,
          'a non-negative integer (episodes)',
        );
        break;
      case '--timeline':
        a.timeline = value;
        break;
      case '--plot':
        a.plot = value;
        break;
      case '--rl-load':
        a.rlLoad = value;
        break;
      case '--rl-save':
        a.rlSave = value;
        break;
    }
  }
  if (a.trace === undefined)
    throw new InputError(ErrorCode.MissingField, `--trace is required\n${USAGE}`, { field: '--trace' });
  if (a.policy === undefined)
    throw new InputError(ErrorCode.MissingField, `--policy is required\n${USAGE}`, { field: '--policy' });
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
    const args = parseReplayArgs(argv);
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
    if (err instanceof InputError) {
      io.stderr.write(`headroom replay: ${err.message}\n`);
      return 2;
    }
    const e = err instanceof HeadroomError ? err : (err as Error);
    io.stderr.write(`headroom replay: ${e.stack ?? e.message}\n`);
    return 1;
  }
}
