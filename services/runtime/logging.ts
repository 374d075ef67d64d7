/**
 * A node's logs: one pino logger per node, and Moleculer's logger bridged to
 * it (Moleculer's `Pino` logger type with our `createLogger`), so every line
 * the node writes (Moleculer's own, ours, the audit lines) goes through one
 * place and comes out on stdout in one of two formats:
 *
 * - `json`: one JSON object per line, `{"level":30,"time":<epoch ms>,
 *   "node":"n1","mod":"pools",<fields>,"msg":"..."}` (pino's numeric levels:
 *   10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal). A logged
 *   object's fields become the line's fields; an Error argument becomes
 *   `err` (`type`, `message`, `stack`); a message that is itself a JSON
 *   object's text (the rule audit line) also has its fields lifted onto the
 *   line, the text kept as `msg`.
 * - `pretty`: one readable line per entry, `<ISO time> INFO  n1/pools: msg
 *   key=value ...`, an error's stack indented below it; the message verbatim.
 *
 * `logger.info(fields, msg)` and `logger.info(msg, fields)` both give the
 * fields as the line's; other Moleculer-style calls (`logger.error('check
 * failed:', err)`, several values) are folded into one message, as a
 * console would print them, so nothing passed is lost. {@link logEvent}
 * writes the event lines operators look for (`scale-up`, `rule-change`,
 * ...): an `event` field and the event's own fields, at info.
 *
 * Writes are synchronous (pino's sonic-boom on fd 1 with `sync`), so a line
 * logged just before `process.exit` (the shutdown deadline) is not lost and
 * lines keep their order with `console.log` (the `{"ready":true}` line).
 */
import { format as formatValues } from 'node:util';
import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';
import type { LoggerConfig } from 'moleculer';

/** How a node's log lines look: `json` (one object per line) or `pretty` (text). */
export const LogFormat = ['json', 'pretty'] as const;
export type LogFormat = (typeof LogFormat)[number];

/** pino's and Moleculer's levels (the node option `logLevel`'s values). */
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** The default format: `pretty` for a person at a terminal, `json` for everything else (files, pipes, collectors). */
export function defaultLogFormat(stdoutIsTTY: boolean | undefined): LogFormat {
  return stdoutIsTTY === true ? 'pretty' : 'json';
}

/** Where lines go: anything with a `write(string)` (stdout, a test's collector). */
export interface LogSink {
  write(chunk: string): unknown;
}

/** A node's logging; the node id comes from Moleculer's bindings (`node`). */
export interface NodeLogOptions {
  level: Level;
  format: LogFormat;
  /** Where the lines go. @default stdout */
  sink?: LogSink;
}

/** The logger every part of a node logs through (Moleculer's, as `broker.logger` and `getLogger` return it). */
export interface EventLogger {
  info(...args: unknown[]): void;
}

/**
 * Writes one event line at info: `{"event": event, ...fields, "msg": msg}`.
 * The events a node logs, and their fields, are listed in the README (Logs):
 * `rule-change`, `scale-up`, `scale-down`, `promotion`, `rejection`,
 * `handoff`, `suspicion`. Keep `fields` flat and small (ids, counts,
 * revisions); `level`, `time`, `msg`, `node` and `mod` are the line's own
 * (a field so named is renamed with a trailing `_`, or dropped when it
 * repeats the line's own value). Example:
 *
 *     logEvent(log, 'scale-up', { pool: 'db', from: 2, to: 3 }, 'pool db scaled up from 2 to 3 units');
 */
export function logEvent(
  logger: EventLogger,
  event: string,
  fields: Readonly<Record<string, unknown>>,
  msg: string,
): void {
  logger.info({ ...fields, event }, msg);
}

/** Moleculer's logger bindings, as its LoggerFactory passes them. */
interface MoleculerBindings {
  nodeID: string;
  ns?: string;
  mod?: string;
  svc?: string;
  ver?: string | number;
}

/**
 * The `logger` broker option of a node: Moleculer's `Pino` logger type
 * whose every module logger is a child of one pino logger built from `opts`,
 * bound to `node` (the node id), `mod` (Moleculer's module: `broker`,
 * `transit`, `api`, a service's name) and, where Moleculer gives them and
 * they differ from `mod`, `svc` and `ver`.
 */
export function nodeLoggerConfig(opts: NodeLogOptions): LoggerConfig {
  const root = createRootLogger(opts);
  const lift = opts.format === 'json';
  return {
    type: 'Pino',
    options: {
      level: opts.level,
      // Moleculer builds its own pino too; give it nothing to write to or open.
      pino: { options: { enabled: false }, destination: NULL_SINK },
      createLogger: (level: Level, b: MoleculerBindings) => bridge(root, level, b, lift),
    },
  };
}

/** The root pino logger of a node (no `pid`/`hostname`: the node id says where). */
export function createRootLogger(opts: NodeLogOptions): PinoLogger {
  const destination =
    opts.sink === undefined
      ? stdoutSink(opts.format)
      : opts.format === 'pretty'
        ? new PrettyLines(opts.sink)
        : opts.sink;
  return pino({ level: opts.level, base: null }, destination);
}

const NULL_SINK: DestinationStream = { write: () => undefined };
let stdoutJson: DestinationStream | undefined;
let stdoutPretty: DestinationStream | undefined;

/** One synchronous stdout destination per format and process, shared by its brokers. */
function stdoutSink(format: LogFormat): DestinationStream {
  if (format === 'pretty') return (stdoutPretty ??= new PrettyLines(process.stdout));
  return (stdoutJson ??= pino.destination({ dest: 1, sync: true }));
}

/** A Moleculer log call made a call of `child`, a child of `root`. */
function bridge(
  root: PinoLogger,
  level: Level,
  b: MoleculerBindings,
  lift: boolean,
): { [L in Level]: (...args: unknown[]) => void } {
  const bound: Record<string, unknown> = { node: b.nodeID };
  if (b.mod !== undefined) bound['mod'] = b.mod;
  if (b.svc !== undefined && b.svc !== b.mod) bound['svc'] = b.svc;
  if (b.ver !== undefined) bound['ver'] = b.ver;
  const child = root.child(bound, { level });
  const at =
    (l: Level) =>
    (...args: unknown[]): void => {
      if (!child.isLevelEnabled(l)) return;
      const [fields, msg] = toEntry(args, bound, lift);
      if (msg === undefined) child[l](fields);
      else child[l](fields, msg);
    };
  return {
    fatal: at('fatal'),
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    trace: at('trace'),
  };
}

/** Names a line has of its own: a field so named would repeat the key in the JSON object. */
const OWN_KEYS = ['level', 'time', 'msg', 'node', 'mod', 'svc', 'ver'];

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Error);

/**
 * A log call's arguments as one pino entry, fields and message:
 * `(fields, msg?)` and `(err)` are pino's own, `(msg, fields)` is taken the
 * same way; anything else (Moleculer's and a console's `('text', value,
 * err)`) is one message formatted as `util.format` would, its first Error as
 * `err`.
 */
export function toEntry(
  args: readonly unknown[],
  bound: Readonly<Record<string, unknown>>,
  lift: boolean,
): [Record<string, unknown>, string | undefined] {
  const [first, second] = args;
  if (args.length === 0) return [{}, undefined];
  if (isPlainObject(first) && (args.length === 1 || (args.length === 2 && typeof second === 'string')))
    return [ownFields(first, bound), second as string | undefined];
  if (typeof first === 'string' && args.length === 2 && isPlainObject(second))
    return [ownFields(second, bound), first];
  if (first instanceof Error && args.length === 1) return [{ err: first }, first.message];
  const err = args.find((a) => a instanceof Error);
  const rest = args.filter((a) => !(a instanceof Error));
  const msg =
    rest.length === 0
      ? (err as Error).message
      : rest.length === 1 && typeof rest[0] === 'string'
        ? rest[0]
        : formatValues(...rest);
  const fields: Record<string, unknown> = lift && rest.length === 1 ? liftedJson(msg, bound) : {};
  if (err !== undefined) fields['err'] = err;
  return [fields, msg];
}

/** The fields of a message that is a JSON object's text (`{"audit":"rule",...}`), else none. */
function liftedJson(msg: string, bound: Readonly<Record<string, unknown>>): Record<string, unknown> {
  if (!msg.startsWith('{') || !msg.endsWith('}')) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(msg);
  } catch {
    return {};
  }
  return isPlainObject(parsed) ? ownFields(parsed, bound) : {};
}

/** `fields` without a key the line has of its own: dropped when it repeats the line's value, else renamed `<key>_`. */
function ownFields(
  fields: Record<string, unknown>,
  bound: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  let out = fields;
  for (const key of OWN_KEYS) {
    if (!Object.hasOwn(fields, key)) continue;
    if (out === fields) out = { ...fields };
    const v = out[key];
    delete out[key];
    if (bound[key] !== v) out[`${key}_`] = v;
  }
  return out;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const LEVEL_COLOURS: Readonly<Record<number, string>> = {
  10: '90',
  20: '36',
  30: '32',
  40: '33',
  50: '31',
  60: '35',
};
const LINE_KEYS = new Set(['level', 'time', 'node', 'mod', 'svc', 'ver', 'msg', 'err']);

/** pino's JSON lines as {@link prettyLine}s, written on to `out` (colours when `out` is a terminal). */
export class PrettyLines implements DestinationStream {
  readonly #out: LogSink;
  readonly #colours: boolean;

  constructor(out: LogSink & { isTTY?: boolean }) {
    this.#out = out;
    this.#colours = out.isTTY === true;
  }

  write(line: string): void {
    this.#out.write(prettyLine(line, this.#colours));
  }
}

/**
 * One of pino's JSON lines as readable text: `<ISO time> LEVEL node/mod:
 * msg key=value ...`, then an error's stack indented on the lines below.
 * A line that is not pino's JSON is passed through as it is.
 */
export function prettyLine(json: string, colours = false): string {
  let e: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (!isPlainObject(parsed) || typeof parsed['level'] !== 'number') return json;
    e = parsed;
  } catch {
    return json;
  }
  const level = e['level'] as number;
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const time = typeof e['time'] === 'number' ? new Date(e['time']).toISOString() : '';
  const where = [e['node'], e['mod']].filter((p) => p !== undefined).join('/');
  const parts = [
    time,
    colours ? `\x1b[${LEVEL_COLOURS[level] ?? '0'}m${name}\x1b[0m` : name,
    where === '' ? '' : `${where}:`,
  ];
  let text = parts.filter((p) => p !== '').join(' ');
  if (typeof e['msg'] === 'string' && e['msg'] !== '') text += ` ${e['msg']}`;
  for (const [k, v] of Object.entries(e)) if (!LINE_KEYS.has(k)) text += ` ${k}=${showValue(v)}`;
  const err = e['err'];
  if (isPlainObject(err)) {
    if (typeof err['stack'] === 'string') text += `\n    ${err['stack'].split('\n').join('\n    ')}`;
    else text += ` err=${showValue(err['message'] ?? err)}`;
  }
  return `${text}\n`;
}

/** A field's value in a pretty line: a plain word as it is, anything else as JSON. */
function showValue(v: unknown): string {
  if (typeof v === 'string' && /^[^\s"=]+$/.test(v)) return v;
  return JSON.stringify(v) ?? String(v);
}
