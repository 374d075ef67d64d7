/**
 * What the trace commands (`forecast`, `replay`) share on the command line:
 * the error shape, the trace options (`--trace`, `--format`,
 * `--bucket-seconds`) and reading and parsing the trace file. Options are
 * read by the one parser of every command (args.ts).
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, InputError, describeTrace, parseTrace, show } from '../lib/index.ts';
import type { Trace, TraceFormatOption } from '../lib/index.ts';
import { stringOption } from './args.ts';
import type { OptionSpec, ParsedOptions } from './args.ts';

/** `option must be <expected>, got <value>` with code InvalidOptions. */
export function bad(option: string, expected: string, value: unknown): InputError {
  return new InputError(ErrorCode.InvalidOptions, `${option} must be ${expected}, got ${show(value)}`, {
    field: option,
    value,
  });
}

/** The options naming and reading the trace, common to both commands (parseArgs specs). */
export const TRACE_OPTIONS = {
  trace: { type: 'string' },
  format: { type: 'string' },
  'bucket-seconds': { type: 'string' },
} as const satisfies OptionSpec;

export interface TraceArgs {
  trace?: string;
  format?: TraceFormatOption;
  bucketSeconds?: number;
}

/** Applies the {@link TRACE_OPTIONS} among `values` to `a`; an InputError names a bad one. */
export function applyTraceOptions(a: TraceArgs, values: ParsedOptions['values']): void {
  const trace = stringOption(values, 'trace');
  if (trace !== undefined) a.trace = trace;
  const format = stringOption(values, 'format');
  if (format !== undefined) {
    if (!['auto', 'series', 'long', 'arrivals'].includes(format))
      throw bad('--format', 'one of auto, series, long, arrivals', format);
    a.format = format as TraceFormatOption;
  }
  const bucket = stringOption(values, 'bucket-seconds');
  if (bucket !== undefined) {
    const n = Number(bucket);
    if (bucket.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw bad('--bucket-seconds', 'a positive number of seconds', bucket);
    a.bucketSeconds = n;
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
