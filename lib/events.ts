/**
 * External event feeds: validation of `events.publish` and `events.list`
 * bodies and of file-feed lines (JSON lines or CSV), and the stable id of an
 * event. Every bad input is an InputError naming the field and the value;
 * unknown fields are rejected.
 */
import { createHash } from 'node:crypto';
import { rejectUnknown } from './api-schema.ts';
import { DAY_MS, isoDateTimeMs, parseDurationMs } from './duration.ts';
import { ErrorCode, InputError, invalidField } from './errors.ts';
import { isPlainObject } from './guards.ts';

/** A validated event, before storage (`tokens` are still the caller's token keys). */
export interface EventInput {
  source: string;
  topic: string;
  timeMs: number;
  value: number;
  tokens: string[];
}

/**
 * An `events.list` query: `[fromMs, toMs)`, optionally of one topic. With
 * `stepMs`, the answer is the events summed per topic into steps aligned to
 * `floor(t / stepMs) * stepMs` (as token buckets are), not the events.
 */
export interface EventQuery {
  fromMs: number;
  toMs: number;
  topic?: string;
  /** A whole number of seconds, in ms. */
  stepMs?: number;
}

/** Longest source or topic name. */
export const MAX_EVENT_NAME = 128;
/** Most tokens one event may name. */
export const MAX_EVENT_TOKENS = 100;
/** Longest token key an event may name. */
export const MAX_EVENT_TOKEN_LENGTH = 1024;
/** Widest `events.list` range: 31 days. */
export const MAX_EVENT_RANGE_MS = 31 * DAY_MS;
/**
 * Oldest event time accepted, before now: 366 days. Older events would be
 * past any retention and say nothing about demand to come.
 */
export const MAX_EVENT_AGE_MS = 366 * DAY_MS;
/**
 * Latest event time accepted, after now: 31 days, room for a scheduled
 * launch announced ahead (an event in the future counts from its time).
 */
export const MAX_EVENT_LEAD_MS = 31 * DAY_MS;
/** Most steps an aligned `events.list` (with `step`) may span. */
const MAX_EVENT_STEPS = 10_000;

const FIELDS = ['source', 'topic', 'time', 'value', 'tokens'];
const NAME = /^[A-Za-z0-9_.:/-]+$/;

function missing(field: string): InputError {
  return new InputError(ErrorCode.MissingField, `${field} is required`, { field });
}

function name(obj: Record<string, unknown>, key: string, at: (k: string) => string): string {
  const v = obj[key];
  if (v === undefined) throw missing(at(key));
  if (typeof v !== 'string' || v.length > MAX_EVENT_NAME || !NAME.test(v)) {
    throw invalidField(at(key), `1-${MAX_EVENT_NAME} characters of [A-Za-z0-9_.:/-]`, v);
  }
  return v;
}

function time(v: unknown, field: string): number {
  if (v === undefined) throw missing(field);
  const ms = typeof v === 'string' ? isoDateTimeMs(v) : undefined;
  if (ms === undefined)
    throw invalidField(field, 'an ISO-8601 date-time with a zone, like "2026-12-01T08:00:00Z"', v);
  return ms;
}

/**
 * Validates one event: `{"source", "topic", "time" (ISO-8601), "value",
 * "tokens"?: [...]}`. `time` must lie within [`nowMs` - 366 days, `nowMs` +
 * 31 days] ({@link MAX_EVENT_AGE_MS}, {@link MAX_EVENT_LEAD_MS}); `nowMs`
 * comes from the caller's Clock. `prefix` names the fields (e.g. `line 3`).
 */
export function parseEvent(body: unknown, nowMs: number, prefix = ''): EventInput {
  const at = (k: string): string => (prefix ? `${prefix}.${k}` : k);
  if (!isPlainObject(body)) throw invalidField(prefix || 'event', 'a JSON object', body);
  rejectUnknown(body, FIELDS, prefix);
  const source = name(body, 'source', at);
  const topic = name(body, 'topic', at);
  const timeMs = time(body['time'], at('time'));
  if (timeMs < nowMs - MAX_EVENT_AGE_MS || timeMs > nowMs + MAX_EVENT_LEAD_MS) {
    throw invalidField(
      at('time'),
      `a time from 366 days before now to 31 days after (now is ${new Date(nowMs).toISOString()})`,
      body['time'],
    );
  }
  const value = body['value'];
  if (value === undefined) throw missing(at('value'));
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalidField(at('value'), 'a finite number', value);
  const tokens = body['tokens'] === undefined ? [] : body['tokens'];
  if (!Array.isArray(tokens) || tokens.length > MAX_EVENT_TOKENS) {
    throw invalidField(at('tokens'), `an array of at most ${MAX_EVENT_TOKENS} token keys`, tokens);
  }
  tokens.forEach((t: unknown, i) => {
    if (typeof t !== 'string' || t === '' || t.length > MAX_EVENT_TOKEN_LENGTH) {
      throw invalidField(`${at('tokens')}[${i}]`, `a token key of 1-${MAX_EVENT_TOKEN_LENGTH} characters`, t);
    }
  });
  return { source, topic, timeMs, value, tokens: [...new Set(tokens as string[])].sort() };
}

/**
 * Validates `{"from", "to", "topic"?, "step"?}` (ISO-8601 times; `from`
 * before `to`, at most 31 days apart; `step` a duration of whole seconds,
 * like "1s" or "1m", or a number of ms, for at most MAX_EVENT_STEPS steps).
 */
export function parseEventQuery(body: unknown): EventQuery {
  if (!isPlainObject(body)) throw invalidField('request', 'a JSON object', body);
  rejectUnknown(body, ['from', 'to', 'topic', 'step'], '');
  const fromMs = time(body['from'], 'from');
  const toMs = time(body['to'], 'to');
  if (toMs <= fromMs) throw invalidField('to', `a time after from (${String(body['from'])})`, body['to']);
  if (toMs - fromMs > MAX_EVENT_RANGE_MS) throw invalidField('to', 'at most 31 days after from', body['to']);
  const q: EventQuery = { fromMs, toMs };
  if (body['topic'] !== undefined) q.topic = name(body, 'topic', (k) => k);
  if (body['step'] !== undefined) q.stepMs = step(body['step'], fromMs, toMs);
  return q;
}

function step(v: unknown, fromMs: number, toMs: number): number {
  const ms = parseDurationMs('step', v);
  if (!Number.isSafeInteger(ms) || ms % 1000 !== 0)
    throw invalidField('step', 'a whole number of seconds, like "1s", "30s" or "1m"', v);
  const first = Math.floor(fromMs / ms) * ms;
  if (Math.ceil((toMs - first) / ms) > MAX_EVENT_STEPS)
    throw invalidField('step', `long enough for at most ${MAX_EVENT_STEPS} steps from from to to`, v);
  return ms;
}

/**
 * Parses one line of an events file: a JSON object (as `events.publish`
 * takes), or CSV `source,topic,time,value[,tokens]` with tokens separated by
 * `;`. Returns `undefined` for a blank line, a `#` comment or the CSV header
 * (`source,topic,...`). `lineNo` (1-based) names the fields of a bad line;
 * `nowMs` bounds the event's time as {@link parseEvent} does.
 */
export function parseEventLine(line: string, lineNo: number, nowMs: number): EventInput | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#') || /^source\s*,\s*topic\b/i.test(text)) return undefined;
  const prefix = `line ${lineNo}`;
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new InputError(ErrorCode.InvalidJson, `${prefix} is not valid JSON: ${text.slice(0, 80)}`, {
        field: prefix,
        cause: err,
      });
    }
    return parseEvent(parsed, nowMs, prefix);
  }
  const cells = text.split(',').map((c) => c.trim());
  if (cells.length < 4 || cells.length > 5) {
    throw invalidField(prefix, 'CSV "source,topic,time,value[,token;token...]" or a JSON object', text);
  }
  const [source, topic, t, v, tokens] = cells as [string, string, string, string, string | undefined];
  const value = v === '' ? NaN : Number(v);
  const body: Record<string, unknown> = { source, topic, time: t, value: Number.isFinite(value) ? value : v };
  if (tokens !== undefined && tokens !== '') body['tokens'] = tokens.split(';').map((s) => s.trim());
  return parseEvent(body, nowMs, prefix);
}

/**
 * The stable id of an event: the same event published twice (a feed re-read
 * after a restart, two nodes following one file) is stored once.
 */
export function eventId(e: EventInput): string {
  const canon = JSON.stringify([e.source, e.topic, e.timeMs, e.value, e.tokens]);
  return createHash('sha256').update(canon).digest('hex').slice(0, 32);
}
