import { invalidField } from './errors.ts';

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;
/** One (UTC, leap-second-free) day in milliseconds: the one definition every folder imports. */
export const DAY_MS = 24 * HOUR_MS;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: HOUR_MS, d: DAY_MS } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a duration into milliseconds: a number with a unit (`"250ms"`,
 * `"1.5s"`, `"5m"`, `"1h"`, `"1d"`) or a positive finite number of
 * milliseconds. Zero, negative, non-finite and unit-less strings are refused.
 *
 * @throws InputError (HEADROOM_ERR_INVALID_FIELD) naming `field` and the value.
 * @example parseDurationMs('rule.period', '1m') // 60000
 */
export function parseDurationMs(field: string, value: unknown): number {
  let ms = Number.NaN;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const m = DURATION.exec(value);
    if (m !== null) ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw invalidField(field, 'a duration like "1s", "1m" or "1h"', value);
  }
  return ms;
}

/** Shortest rule period: 1 ms. */
export const MIN_RULE_PERIOD_MS = 1;
/** Longest rule period: 7 days (a weekly quota is the longest window a token's state is meant to span). */
export const MAX_RULE_PERIOD_MS = 7 * UNIT_MS.d;
const RULE_PERIOD = /^(\d{1,12})(ms|s|m|h|d)$/;

/**
 * Parses a rule's period, stricter than {@link parseDurationMs}: a string of
 * a whole count and a unit (`"250ms"`, `"1s"`, `"5m"`, `"1h"`, `"7d"`), from
 * 1 ms to 7 days. Numbers (`1000`), fractions (`"1.5s"`, write `"1500ms"`)
 * and longer periods (`"8d"`) are refused: a rule's period is part of what an
 * operator reads back, so it has one spelling and a bounded size.
 *
 * @throws InputError (HEADROOM_ERR_INVALID_FIELD) naming `field` and the value.
 * @example parseRulePeriodMs('rule.period', '250ms') // 250
 */
export function parseRulePeriodMs(field: string, value: unknown): number {
  const m = typeof value === 'string' ? RULE_PERIOD.exec(value) : null;
  const ms = m === null ? Number.NaN : Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (!(ms >= MIN_RULE_PERIOD_MS && ms <= MAX_RULE_PERIOD_MS)) {
    throw invalidField(
      field,
      'a string of a whole number and a unit (ms, s, m, h, d) from "1ms" to "7d", like "1s"',
      value,
    );
  }
  return ms;
}

// RFC 3339 profile of ISO-8601: a full date and time with a zone, so that the
// instant never depends on the machine's local time zone.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses an ISO-8601 date-time with a zone (`"2026-12-01T08:00:00Z"`,
 * `"2026-12-01T09:00+01:00"`) into ms since the epoch, or `undefined` when it
 * is not one or names an impossible date ("2026-13-01", "2026-02-30").
 */
export function isoDateTimeMs(value: string): number | undefined {
  const m = DATE_TIME.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Math.floor(Number(`0.${m[7] ?? '0'}`) * 1000);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // not Date.UTC: it maps years 0-99 to 1900-1999
  if (date.getUTCDate() !== d) return undefined; // day past the end of its month
  date.setUTCHours(h, mi, s, ms);
  const zone = m[8] as string;
  let offsetMin = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  return date.getTime() - offsetMin * 60_000;
}
