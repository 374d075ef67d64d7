/**
 * `headroom loadgen --trace FILE ...`: drives a running node or cluster at a
 * trace's rate (the core is loadgen-run.ts, {@link runLoadgen}) and prints
 * what came back: a short summary, or with `--json` the counts in total and
 * per step. NATS options and authentication are `headroom call`'s.
 *   headroom loadgen --trace data/traces/worldcup98/requests_per_minute.csv \
 *     --speedup 60 --scale 0.01 --from 1440 --steps 60 --params '{"user":"u1"}' --json
 */
import { parseDurationMs, show } from '../lib/index.ts';
import { compileNatsConnect, natsAuthFromEnv } from '../services/index.ts';
import { CliExit, EXIT_CODES_USAGE, UsageError, parseOptions, stringOption } from './args.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';
import { CALL_OPTIONS } from './call.ts';
import { runLoadgen } from './loadgen-run.ts';
import type { LoadgenInput, LoadgenResult, LoadgenTarget } from './loadgen-run.ts';
import { TRACE_OPTIONS, applyTraceOptions, bad, loadTrace, readText } from './trace-args.ts';
import type { TraceArgs } from './trace-args.ts';

export { runLoadgen, stepCounts } from './loadgen-run.ts';
export type { LoadgenInput, LoadgenResult, LoadgenStep, LoadgenTarget } from './loadgen-run.ts';

/** What `headroom loadgen --help` prints. */
export const LOADGEN_USAGE = `usage: headroom loadgen --trace FILE [--format auto|series|long|arrivals] [--bucket-seconds S]
       [--token NAME] [--speedup N] [--scale X] [--from STEP] [--steps N]
       [--params '{"user":"u1"}'] [--nats URL | --http URL [--http-token-file FILE]]
       [--concurrency 256] [--timeout 5s] [--json]
       [--nats-user U --nats-password P] [--nats-token T] [--nats-nkey-seed FILE] [--nats-creds FILE]
       [--nats-tls-ca FILE] [--nats-tls-cert FILE --nats-tls-key FILE]  (as headroom call)
  Plays the trace's demand as checks (headroom.v1.check over NATS, or POST /v1/check over HTTP):
  one step of the trace lasts step/speedup seconds; its count x scale requests are spread
  evenly over it, open loop, at most --concurrency in flight (late, never dropped, when the
  cluster cannot keep up). --from/--steps play a slice (step indexes); --token picks one of a
  long trace's tokens (default the first). Default target: --nats (HEADROOM_NATS_URL or
  nats://127.0.0.1:4222).
  Prints a summary, or with --json {"sent","allowed","denied","errors","seconds","lagMs",
  "steps":[{"t","sent","allowed","denied","errors"}]} (t: the step's start, trace seconds).
  Ctrl-C stops early and prints what was sent. Exit 3 when every check failed (nothing answers).
${EXIT_CODES_USAGE}`;

/** Every option of `headroom loadgen` (parseArgs specs; `--help` is added by parseOptions). */
export const LOADGEN_OPTIONS = {
  ...TRACE_OPTIONS,
  ...CALL_OPTIONS,
  token: { type: 'string' },
  speedup: { type: 'string' },
  scale: { type: 'string' },
  from: { type: 'string' },
  steps: { type: 'string' },
  params: { type: 'string' },
  http: { type: 'string' },
  'http-token-file': { type: 'string' },
  concurrency: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

/** A number option's value (its range is checked by runLoadgen, naming the same flag). */
function numberOption(values: ParsedOptions['values'], name: string): number | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw bad(`--${name}`, 'a number', v);
  return n;
}

function paramsOption(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw bad('--params', 'a JSON object such as {"user":"u1"}', text);
  }
}

/** The target: `--http URL`, else NATS from `--nats`/HEADROOM_NATS_URL with `headroom call`'s auth. */
async function targetOf(values: ParsedOptions['values']): Promise<LoadgenTarget> {
  const http = stringOption(values, 'http');
  const nats = stringOption(values, 'nats');
  const tokenFile = stringOption(values, 'http-token-file');
  if (http !== undefined) {
    if (nats !== undefined) throw bad('--http', 'given without --nats (one target)', http);
    if (!/^https?:\/\/[^/]/.test(http)) throw bad('--http', 'an http:// or https:// URL', http);
    const token = tokenFile === undefined ? null : (await readText('--http-token-file', tokenFile)).trim();
    return { kind: 'http', url: http, token };
  }
  if (tokenFile !== undefined) throw bad('--http-token-file', 'given with --http', tokenFile);
  const url = nats ?? process.env['HEADROOM_NATS_URL'] ?? 'nats://127.0.0.1:4222';
  return { kind: 'nats', spec: compileNatsConnect(url, natsAuthFromEnv(process.env, values)) };
}

/** The parsed arguments after `loadgen` (all but the trace file's content); `--help` is loadgenCommand's. */
export async function loadgenArgsOf(
  values: ParsedOptions['values'],
): Promise<{ json: boolean; trace: Required<TraceArgs>; input: Omit<LoadgenInput, 'trace'> }> {
  const trace: TraceArgs = {};
  applyTraceOptions(trace, values);
  if (trace.trace === undefined)
    throw new UsageError('--trace is required', LOADGEN_USAGE, { field: '--trace' });
  const input: Omit<LoadgenInput, 'trace'> = { target: await targetOf(values) };
  const token = stringOption(values, 'token');
  if (token !== undefined) input.token = token;
  const params = stringOption(values, 'params');
  if (params !== undefined) input.params = paramsOption(params) as LoadgenInput['params'];
  const timeout = stringOption(values, 'timeout');
  if (timeout !== undefined) input.timeoutMs = parseDurationMs('--timeout', timeout);
  for (const name of ['speedup', 'scale', 'from', 'steps', 'concurrency'] as const) {
    const n = numberOption(values, name);
    if (n !== undefined) input[name] = n;
  }
  return {
    json: values['json'] === true,
    trace: { trace: trace.trace, format: trace.format ?? 'auto', bucketSeconds: trace.bucketSeconds ?? 1 },
    input,
  };
}

/** The human summary of a run. */
export function loadgenSummary(r: LoadgenResult): string {
  const pct = (n: number): string => (r.sent === 0 ? '0' : ((100 * n) / r.sent).toFixed(1));
  const busiest = r.steps.reduce((a, b) => (b.sent > a.sent ? b : a), r.steps[0] ?? { t: 0, sent: 0 });
  return [
    `sent ${r.sent} checks over ${r.steps.length} steps in ${r.seconds.toFixed(1)} s (at most ${r.lagMs} ms behind schedule)`,
    `allowed ${r.allowed} (${pct(r.allowed)} %), denied ${r.denied} (${pct(r.denied)} %), errors ${r.errors} (${pct(r.errors)} %)`,
    `busiest step: t=${show(busiest.t)} s, ${busiest.sent} checks`,
  ].join('\n');
}

/** Runs `headroom loadgen ARGV`; Ctrl-C stops the run and prints what it sent so far. */
export async function loadgenCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const parsed = parseOptions(argv, LOADGEN_OPTIONS, LOADGEN_USAGE);
  if (parsed.help) {
    io.stdout.write(`${LOADGEN_USAGE}\n`);
    return CliExit.Ok;
  }
  const args = await loadgenArgsOf(parsed.values);
  const trace = await loadTrace(args.trace, io.stderr);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  try {
    const result = await runLoadgen({ ...args.input, trace }, { signal: stop.signal });
    io.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${loadgenSummary(result)}\n`);
    // Every check failing means nothing serves the API there; some errors are a finding, not a failure.
    return result.sent > 0 && result.errors === result.sent ? CliExit.Unreachable : CliExit.Ok;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
