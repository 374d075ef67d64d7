/**
 * One token's slice as the client holds it (client/leases.ts decides from
 * it): its state, how much a renewal wants and when it runs low, the report
 * of the checks decided under it, and the owner's grant as the client reads
 * it. Pure: no wire, no timers.
 */
import { isPlainObject } from '../lib/index.ts';
import type { CheckRequest, RuleMode } from '../lib/index.ts';

/** Renew once this fraction of the lease's time has passed, or below this fraction of its units. */
export const RENEW_AT = 0.6;
const LOW_WATER = 0.25;

/** Checks decided under a slice since its last report, and when the first of them was (NaN: none). */
export interface Unreported {
  allowed: number;
  denied: number;
  cost: number;
  since: number;
}

/** One token's slice as this client holds it. */
export interface Held {
  token: string;
  /** The params of its first check: the owner derives the same token from them. */
  params: CheckRequest['params'];
  /** Their length as JSON (an ask's size in a batch). */
  paramsBytes: number;
  /** The slice id; null while none is held (then nothing is decided here). */
  id: string | null;
  /** The node that granted it (returns go there). */
  node: string | null;
  rule: string;
  mode: RuleMode;
  limit: number;
  /** Units left to use. */
  units: number;
  /** Units of the last grant (renewal starts below a quarter of it). */
  granted: number;
  /** Units the last ask wanted, and whether its grant gave fewer with the bucket dry. */
  asked: number;
  limited: boolean;
  /** No ask before then (asks of a limited slice are paced). */
  nextAskAt: number;
  /** How long this token's asks take to be answered (ms, a moving average). */
  rttMs: number;
  /** Until when (performance.now()) the slice may be used: its ask's send time plus ttlMs. */
  usableUntil: number;
  /** When to renew ahead of expiry. */
  renewAt: number;
  /** Checks are denied here until then (the bucket was empty). */
  denyUntil: number;
  /** Checks go the ordinary way until then (the owner granted nothing). */
  plainUntil: number;
  /** The ask in flight, if any. */
  asking: Promise<void> | undefined;
  /** Units used since the ask in flight was sent (they came out of what it reported unused). */
  usedInFlight: number;
  /** Units used since the last ask was sent, and when that was: the client's rate of this token. */
  usedSinceAsk: number;
  /** Units of the checks denied here past a dry slice since then (the want counts them too). */
  deniedSinceAsk: number;
  askedAt: number;
  lastUsed: number;
  /** The token's forecast demand per second and its holders, from the last grant. */
  demandPerSec: number | undefined;
  holders: number;
  /** Checks decided here since the last report, and when the first of them was (NaN: none). */
  unreported: Unreported;
}

/** A token checked without a lease yet: how often (the `leases` option leases it past the minimum rate). */
export interface Meter {
  since: number;
  count: number;
}

/** A new holding of `token`, no slice yet; `meter`: its checks so far (the first ask wants their rate). */
export function newHeld(
  token: string,
  params: CheckRequest['params'],
  meter: Meter | undefined,
  now: number,
): Held {
  return {
    token,
    params,
    paramsBytes: Buffer.byteLength(JSON.stringify(params)),
    id: null,
    node: null,
    rule: '',
    mode: 'enforce',
    limit: 0,
    units: 0,
    granted: 0,
    asked: 0,
    limited: false,
    nextAskAt: 0,
    rttMs: 1,
    usableUntil: 0,
    renewAt: 0,
    denyUntil: 0,
    plainUntil: 0,
    asking: undefined,
    usedInFlight: 0,
    usedSinceAsk: meter?.count ?? 0,
    deniedSinceAsk: 0,
    askedAt: meter?.since ?? now,
    lastUsed: now,
    demandPerSec: undefined,
    holders: 1,
    unreported: { allowed: 0, denied: 0, cost: 0, since: Number.NaN },
  };
}

/**
 * Whether `h` runs low: below a quarter of its grant, or below what this
 * client uses in two of its asks' round trips (the renewal is answered
 * before the slice is used up, as long as the owner can top it up).
 */
export function runsLow(h: Held, t: number): boolean {
  if (h.units < h.granted * LOW_WATER) return true;
  const perMs = h.usedSinceAsk / Math.max(50, t - h.askedAt);
  return h.units < perMs * 2 * h.rttMs;
}

/** Units to want: this client's recent rate (or its share of the forecast demand) over the lease's time. */
export function unitsToWant(h: Held, cost: number, ttlMs: number, t: number): number {
  const elapsed = Math.max(t - h.askedAt, 50);
  const own = (h.usedSinceAsk + h.deniedSinceAsk) / elapsed; // per ms
  const forecast = h.demandPerSec === undefined ? 0 : h.demandPerSec / 1000 / Math.max(1, h.holders);
  return Math.min(1e9, Math.max(2 * cost, Math.ceil(Math.max(own, forecast) * ttlMs * 1.5)));
}

/** Counts a check decided here, for the next report. */
export function tally(h: Held, allow: boolean, cost: number, t: number): void {
  const u = h.unreported;
  if (allow) u.allowed++;
  else u.denied++;
  u.cost += cost;
  if (Number.isNaN(u.since)) u.since = t;
}

/** Most checks one report counts (the owner's limit, lease-schema.ts); a longest span (ms). */
const MAX_REPORTED = 1_000_000;
const MAX_SPAN_MS = 600_000;

/**
 * Adds the checks decided here since the last report to an ask or a return
 * (`body.report`), so the owner counts them as the token's demand, and
 * starts a new count. Sent once: a report whose message gets no answer is
 * not sent again (the owner may have recorded it; never counted twice).
 */
export function report(h: Held, body: Record<string, unknown>, t: number): Unreported | undefined {
  const u = h.unreported;
  if (u.allowed + u.denied === 0) return undefined;
  const allowed = Math.min(u.allowed, MAX_REPORTED);
  const denied = Math.min(u.denied, MAX_REPORTED - allowed);
  const spanMs = Math.min(MAX_SPAN_MS, Math.max(0, Math.round(t - u.since)));
  body['report'] = { allowed, denied, cost: u.cost, spanMs };
  h.unreported = { allowed: 0, denied: 0, cost: 0, since: Number.NaN };
  return u;
}

/** Puts a report that reached no node back into `h`'s count (it goes with the next message). */
export function unreport(h: Held, sent: Unreported): void {
  const u = h.unreported;
  u.allowed += sent.allowed;
  u.denied += sent.denied;
  u.cost += sent.cost;
  u.since = Number.isNaN(u.since) ? sent.since : Math.min(u.since, sent.since);
}

/** A grant as the client uses it. */
export interface Grant {
  lease: string | null;
  node: string;
  rule: string;
  mode: RuleMode;
  limit: number;
  units: number;
  ttlMs: number;
  retryAfterMs: number;
  holders: number;
  demandPerSec: number | undefined;
  /** Units the bucket allows after the grant (undefined from a node that does not say). */
  available: number | undefined;
}

/** A `headroom.v1.lease` reply, checked; undefined for an error or anything malformed. */
export function grantOf(r: unknown): Grant | undefined {
  if (!isPlainObject(r)) return undefined;
  const { lease, node, rule, mode, limit, units, ttlMs, retryAfterMs, holders, demandPerSec, available } = r;
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (
    !(lease === null || typeof lease === 'string') ||
    typeof node !== 'string' ||
    typeof rule !== 'string' ||
    (mode !== 'enforce' && mode !== 'shadow') ||
    !num(limit) ||
    !num(units) ||
    !(num(ttlMs) && ttlMs > 0) ||
    !num(retryAfterMs) ||
    !num(holders) ||
    (demandPerSec !== undefined && !num(demandPerSec)) ||
    (available !== undefined && !num(available))
  )
    return undefined;
  return { lease, node, rule, mode, limit, units, ttlMs, retryAfterMs, holders, demandPerSec, available };
}
