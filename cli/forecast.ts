import { writeFile } from 'node:fs/promises';
import { ErrorCode, InputError } from '../lib/index.ts';
import type { TraceFormatOption } from '../lib/index.ts';
import { CliExit, EXIT_CODES_USAGE, UsageError, parseOptions, reportError, stringOption } from './args.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';
import { TRACE_OPTIONS, applyTraceOptions, bad, loadTrace } from './trace-args.ts';
import {
  MODEL_NAMES,
  ModelName,
  PREDICTION_COLUMNS,
  buildMembers,
  predictionRows,
  rollingForecast,
  scoreRun,
  formatMetricsTable,
  createLstmForecaster,
  createBayesForecaster,
} from '../models/index.ts';
import type { LstmForecaster, TfBackendName } from '../models/index.ts';

/** Parsed `headroom forecast` arguments. */
export interface ForecastArgs {
  trace: string;
  format: TraceFormatOption;
  bucketSeconds: number;
  horizons: number[];
  scoreFrom?: number;
  scoreTo?: number;
  models: ModelName[];
  out?: string;
  json: boolean;
  backend: TfBackendName;
}

/** What `headroom forecast --help` prints. */
export const FORECAST_USAGE = `usage: headroom forecast --trace FILE [--format auto|series|long|arrivals] [--bucket-seconds S]
       [--horizons 1,6,12] [--score-from N] [--score-to N]
       [--models ${MODEL_NAMES.join(',')}] [--out predictions.csv] [--json] [--backend wasm|cpu|tensorflow]
${EXIT_CODES_USAGE}`;

function int(option: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min)
    throw bad(option, min > 0 ? 'a positive integer' : 'a non-negative integer', value);
  return n;
}

/** Every option of `headroom forecast` (parseArgs specs; `--help` is added by parseOptions). */
export const FORECAST_OPTIONS = {
  ...TRACE_OPTIONS,
  horizons: { type: 'string' },
  'score-from': { type: 'string' },
  'score-to': { type: 'string' },
  models: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  backend: { type: 'string' },
} as const satisfies OptionSpec;

/**
 * Parses the arguments after `forecast`; throws an InputError naming the
 * option and value. `--help` is handled by {@link forecastCommand}.
 */
export function parseForecastArgs(argv: readonly string[]): ForecastArgs {
  return forecastArgsOf(parseOptions(argv, FORECAST_OPTIONS, FORECAST_USAGE).values);
}

function forecastArgsOf(values: ParsedOptions['values']): ForecastArgs {
  const a: Partial<ForecastArgs> & { json: boolean } = { json: values['json'] === true };
  applyTraceOptions(a, values);
  const horizons = stringOption(values, 'horizons');
  if (horizons !== undefined) {
    const parts = horizons.split(',');
    if (!parts.every((p) => /^\d+$/.test(p.trim()) && Number(p) > 0))
      throw bad('--horizons', 'a comma-separated list of positive integers (steps)', horizons);
    a.horizons = [...new Set(parts.map(Number))].sort((x, y) => x - y);
  }
  const scoreFrom = stringOption(values, 'score-from');
  if (scoreFrom !== undefined) a.scoreFrom = int('--score-from', scoreFrom, 0);
  const scoreTo = stringOption(values, 'score-to');
  if (scoreTo !== undefined) a.scoreTo = int('--score-to', scoreTo, 0);
  const models = stringOption(values, 'models');
  if (models !== undefined) {
    const names = models.split(',').map((s) => s.trim());
    const unknown = names.find((n) => !(MODEL_NAMES as readonly string[]).includes(n));
    if (unknown !== undefined || names.length === 0)
      throw bad('--models', `a comma-separated list of ${MODEL_NAMES.join(', ')}`, unknown ?? models);
    a.models = MODEL_NAMES.filter((m) => names.includes(m));
  }
  const outFile = stringOption(values, 'out');
  if (outFile !== undefined) a.out = outFile;
  const backend = stringOption(values, 'backend');
  if (backend !== undefined) {
    if (!['wasm', 'cpu', 'tensorflow'].includes(backend))
      throw bad('--backend', 'one of wasm, cpu, tensorflow', backend);
    a.backend = backend as TfBackendName;
  }
  if (a.trace === undefined)
    throw new UsageError('--trace is required', FORECAST_USAGE, { field: '--trace' });
  if (a.scoreFrom !== undefined && a.scoreTo !== undefined && a.scoreTo < a.scoreFrom)
    throw bad('--score-to', `at least --score-from (${a.scoreFrom})`, a.scoreTo);
  const out: ForecastArgs = {
    trace: a.trace,
    format: a.format ?? 'auto',
    bucketSeconds: a.bucketSeconds ?? 1,
    horizons: a.horizons ?? [1, 6, 12],
    models: a.models ?? [...MODEL_NAMES],
    json: a.json,
    backend: a.backend ?? 'wasm',
  };
  if (a.scoreFrom !== undefined) out.scoreFrom = a.scoreFrom;
  if (a.scoreTo !== undefined) out.scoreTo = a.scoreTo;
  if (a.out !== undefined) out.out = a.out;
  return out;
}

/** A progress bar on a terminal; a line per 10% otherwise. */
function progress(stderr: NodeJS.WritableStream): (done: number, total: number) => void {
  const tty = (stderr as NodeJS.WriteStream).isTTY === true;
  const t0 = performance.now();
  let lastDecile = -1;
  return (done, total) => {
    const frac = total > 0 ? done / total : 1;
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const bar = `[${'#'.repeat(Math.round(frac * 30)).padEnd(30, '.')}] ${(frac * 100).toFixed(0).padStart(3)}% origins ${done}/${total} ${secs}s`;
    if (tty) stderr.write(`\r${bar}${done >= total ? '\n' : ''}`);
    else if (Math.floor(frac * 10) > lastDecile) {
      lastDecile = Math.floor(frac * 10);
      stderr.write(`${bar}\n`);
    }
  };
}

/**
 * `headroom forecast`: rolling-origin evaluation of the forecasting models on
 * a trace file. Returns the exit code: 0 on success, 2 on bad arguments or
 * input, 1 on any other failure.
 */
export async function forecastCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  try {
    const parsed = parseOptions(argv, FORECAST_OPTIONS, FORECAST_USAGE);
    if (parsed.help) {
      io.stdout.write(`${FORECAST_USAGE}\n`);
      return CliExit.Ok;
    }
    const args = forecastArgsOf(parsed.values);
    const trace = await loadTrace(args, io.stderr);
    const n = trace.timestamps.length;
    const maxH = Math.max(...args.horizons);
    const scoreFrom = args.scoreFrom ?? Math.floor(n / 2);
    const scoreTo = args.scoreTo ?? n - 1;
    if (scoreFrom < 24 || scoreFrom >= n)
      throw new InputError(
        ErrorCode.InvalidOptions,
        `--score-from must be between 24 and ${n - 1} for this trace, got ${scoreFrom}`,
        { field: '--score-from', value: scoreFrom },
      );
    if (scoreTo >= n)
      throw new InputError(
        ErrorCode.InvalidOptions,
        `--score-to must be below ${n} for this trace, got ${scoreTo}`,
        { field: '--score-to', value: scoreTo },
      );
    if (maxH >= n - scoreFrom)
      throw new InputError(
        ErrorCode.InvalidOptions,
        `--horizons must stay below ${n - scoreFrom} steps (the scored span), got ${maxH}`,
        { field: '--horizons', value: maxH },
      );
    let lstm: LstmForecaster | undefined;
    const members = await buildMembers(args.models, {
      horizons: args.horizons,
      intervalMs: trace.intervalMs,
      lstm: async () =>
        (lstm = await createLstmForecaster({ horizons: args.horizons, backend: args.backend })),
      bayes: async () => createBayesForecaster({ horizons: args.horizons }),
    });
    const t0 = performance.now();
    const result = await rollingForecast(members, trace.values, trace.timestamps, {
      horizons: args.horizons,
      scoreFrom,
      scoreTo,
      hybrid: args.models.includes(ModelName.Hybrid),
      onProgress: progress(io.stderr),
    });
    const seconds = (performance.now() - t0) / 1000;
    const backend = lstm?.backend;
    lstm?.dispose();
    if (backend)
      io.stderr.write(`lstm backend: ${backend.active}${backend.note ? ` (${backend.note})` : ''}\n`);
    const metrics = scoreRun(result, trace.values, args.horizons, scoreFrom, scoreTo, args.models);
    if (args.out !== undefined) {
      const multi = trace.tokens.length > 1;
      const rows = [
        ...predictionRows(
          result,
          trace.values,
          trace.timestamps,
          args.horizons,
          scoreFrom,
          scoreTo,
          args.models,
          multi ? trace.tokens : undefined,
        ),
      ];
      await writeFile(args.out, `${PREDICTION_COLUMNS}${multi ? ',token' : ''}\n${rows.join('\n')}\n`);
    }
    const timings = Object.fromEntries(
      Object.entries(result.timings).map(([k, v]) => [
        k,
        { fitMs: Math.round(v.fitMs), predictMs: Math.round(v.predictMs) },
      ]),
    );
    if (args.json) {
      const report = {
        backend: backend?.active,
        trace: args.trace,
        format: trace.format,
        intervalSeconds: trace.intervalMs / 1000,
        slots: n,
        tokens: trace.tokens.length,
        horizons: args.horizons,
        scoreFrom,
        scoreTo,
        seconds: Number(seconds.toFixed(2)),
        metrics,
        hybridWeights: result.hybridWeights,
        timings,
      };
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      io.stdout.write(`${formatMetricsTable(metrics)}\n`);
      io.stderr.write(
        `scored origins ${scoreFrom}..${scoreTo}, ran ${result.runFrom}..${result.runTo - 1} in ${seconds.toFixed(1)} s\n`,
      );
    }
    return 0;
  } catch (err) {
    return reportError(err, io.stderr);
  }
}
