/**
 * The one option parser of every `headroom` command: `node:util` parseArgs
 * reads the tokens (`--x v`, `--x=v`, `-h`, `--`), and {@link parseOptions}
 * checks them, turning every problem into one {@link UsageError} (code
 * InvalidOptions) that names the option and carries the command's usage.
 * Also here: the exit codes every command shares ({@link CliExit}) and the
 * one line an error prints as ({@link errorLine}).
 */
import { parseArgs } from 'node:util';
import { ErrorCode, HeadroomError, InputError, show, toHeadroomError } from '../lib/index.ts';

/** An option a command takes: a string value or a boolean flag. `help`/`-h` is added to every command. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

/** Bad usage (unknown option, missing value, stray argument): an InputError with the usage to print after it. */
export class UsageError extends InputError {
  readonly usage: string;
  constructor(message: string, usage: string, init: { field: string; value?: unknown }) {
    super(ErrorCode.InvalidOptions, message, init);
    this.usage = usage;
  }
}

export interface ParsedOptions {
  /** `--help` or `-h` was given: print the usage, do nothing else (nothing else was checked). */
  help: boolean;
  /** Option name (no dashes) -> its last value; `true` for a flag given. */
  values: Record<string, string | true>;
  positionals: string[];
}

/**
 * Parses `argv` against `options`. Unknown options, a string option without
 * a value (the end, or a `--x` where its value should be: `--trace --json`),
 * a value given to a flag and, where `maxPositionals` does not allow them,
 * stray arguments are a {@link UsageError} naming the option. A value that
 * starts with a single dash is a value (`--lead-time -1` reaches the
 * option's own check, which names it). The last of a repeated option wins.
 */
export function parseOptions(
  argv: readonly string[],
  options: OptionSpec,
  usage: string,
  maxPositionals = 0,
): ParsedOptions {
  const { tokens } = parseArgs({
    args: [...argv],
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help'))
    return { help: true, values: {}, positionals: [] };
  const values: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      if (positionals.length >= maxPositionals)
        throw new UsageError(`unexpected argument ${show(t.value)}`, usage, {
          field: 'argv',
          value: t.value,
        });
      positionals.push(t.value);
      continue;
    }
    const spec = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (spec === undefined)
      throw new UsageError(`unknown option ${show(t.rawName)}`, usage, { field: t.rawName });
    if (spec.type === 'boolean') {
      if (t.value !== undefined)
        throw new UsageError(`${t.rawName} takes no value, got ${show(t.value)}`, usage, {
          field: t.rawName,
          value: t.value,
        });
      values[t.name] = true;
      continue;
    }
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--')))
      throw new UsageError(`${t.rawName} must be followed by a value, got ${show(t.value ?? null)}`, usage, {
        field: t.rawName,
        value: t.value ?? null,
      });
    values[t.name] = t.value;
  }
  return { help: false, values, positionals };
}

/** A string option's value (undefined when not given). */
export function stringOption(values: ParsedOptions['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * How every `headroom` command exits (`headroom start` adds its own after
 * the node has run, see StartExit in start.ts).
 */
export const CliExit = {
  Ok: 0,
  /** An error reply from the API, or any other failure. */
  Failed: 1,
  /** Bad usage: unknown option or operation, a bad value, a missing argument. */
  Usage: 2,
  /** No server: NATS unreachable, no node answers, or no reply in time. */
  Unreachable: 3,
  /** Refused: the NATS server's permissions (or the API) do not allow this user the operation. */
  Forbidden: 4,
} as const;
export type CliExit = (typeof CliExit)[keyof typeof CliExit];

/** The exit code of a thrown error, by its code (and class: any other InputError is bad usage). */
export function exitCodeOf(err: unknown): CliExit {
  if (!(err instanceof HeadroomError)) return CliExit.Failed;
  switch (err.code) {
    case ErrorCode.Forbidden:
    case ErrorCode.NotPermitted:
    case ErrorCode.Unauthorized:
      return CliExit.Forbidden;
    case ErrorCode.Unavailable:
    case ErrorCode.Timeout:
      return CliExit.Unreachable;
    default:
      return err instanceof InputError ? CliExit.Usage : CliExit.Failed;
  }
}

/** The text an error prints on stderr: `headroom: <code>: <message>`, then the usage for bad usage. */
export function errorLine(err: HeadroomError): string {
  const usage = err instanceof UsageError ? `\n${err.usage}` : '';
  return `headroom: ${err.code}: ${err.message}${usage}`;
}

/**
 * Prints `err` on `stderr` as {@link errorLine} (and, for an error that is
 * not a HeadroomError, a bug, its stack) and returns its exit code.
 */
export function reportError(err: unknown, stderr: NodeJS.WritableStream): CliExit {
  const e = toHeadroomError(err);
  stderr.write(`${errorLine(e)}\n`);
  if (!(err instanceof HeadroomError) && err instanceof Error && err.stack !== undefined)
    stderr.write(`${err.stack}\n`);
  return exitCodeOf(e);
}

/** The exit codes as the usage texts list them. */
export const EXIT_CODES_USAGE = `exit codes: 0 ok, 1 error reply or failure, 2 bad usage or options,
            3 no server (NATS unreachable, no node answers, timeout), 4 permission refused`;
