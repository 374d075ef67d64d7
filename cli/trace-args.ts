/**
 * What the trace commands (`forecast`, `replay`) share on the command line:
 * the option lexer (`--x v` and `--x=v`, flags, unknown options), the error
 * shape, the trace options (`--trace`, `--format`, `--bucket-seconds`) and
 * reading and parsing the trace file.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, InputError, describeTrace, parseTrace, show } from '../lib/index.ts';
import type { Trace, TraceFormatOption } from '../lib/index.ts';

/** `option must be <expected>, got <value>` with code InvalidOptions. */
export function bad(option: string, expected: string, value: unknown): InputError {
  return new InputError(ErrorCode.InvalidOptions, `${option} must be ${expected}, got ${show(value)}`, {
    field: option,
    value,
  });
}

/**
 * Splits `argv` into options in order: `[option, value]` for those in
 * `takes`, `[flag, true]` for those in `flags`. Unknown options and a missing
 * value are InputErrors naming the option (the unknown-option message ends
 * with `usage`).
 */
export function lexOptions(
  argv: readonly string[],
  takes: ReadonlySet<string>,
  flags: ReadonlySet<string>,
  usage: string,
): Array<[string, string | true]> {
  const out: Array<[string, string | true]> = [];
  for (let i = 0; i < argv.length; i++) {
    let opt = argv[i]!;
    let value: string | undefined;
    const eq = opt.indexOf('=');
    if (opt.startsWith('--') && eq > 0) {
      value = opt.slice(eq + 1);
      opt = opt.slice(0, eq);
    }
    if (flags.has(opt)) {
      out.push([opt, true]);
      continue;
    }
    if (!takes.has(opt))
      throw new InputError(ErrorCode.UnknownField, `unknown option ${show(opt)}\n${usage}`, { field: opt });
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw bad(opt, 'followed by a value', value ?? null);
    }
    out.push([opt, value]);
  }
  return out;
}

/** The options naming and reading the trace, common to both commands. */
export const TRACE_OPTIONS = ['--trace', '--format', '--bucket-seconds'] as const;

export interface TraceArgs {
  trace?: string;
  format?: TraceFormatOption;
  bucketSeconds?: number;
}

/** Applies one of {@link TRACE_OPTIONS} to `a`; false for any other option. */
export function traceOption(a: TraceArgs, opt: string, value: string): boolean {
  switch (opt) {
    case '--trace':
      a.trace = value;
      return true;
    case '--format':
      if (!['auto', 'series', 'long', 'arrivals'].includes(value))
        throw bad(opt, 'one of auto, series, long, arrivals', value);
      a.format = value as TraceFormatOption;
      return true;
    case '--bucket-seconds': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
        throw bad(opt, 'a positive number of seconds', value);
      a.bucketSeconds = n;
      return true;
    }
    default:
      return false;
  }
}

/** Reads a file named by `option`; a read failure is an InputError naming the option and path. */
export async function readText(option: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${option} must be a readable file, got ${show(path)} (${(err as Error).message})`,
      { field: option, value: path, cause: err },
    );
  }
}

/** Reads and parses the trace, saying on stderr what it found. */
export async function loadTrace(
  args: { trace: string; format: TraceFormatOption; bucketSeconds: number },
  stderr: NodeJS.WritableStream,
): Promise<Trace> {
  const trace = parseTrace(await readText('--trace', args.trace), {
    format: args.format,
    bucketSeconds: args.bucketSeconds,
  });
  stderr.write(`trace: ${describeTrace(trace)}\n`);
  return trace;
}
