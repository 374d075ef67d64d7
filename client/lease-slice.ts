/**
 * One token's slice as the client holds it (client/leases.ts decides from
 * it): its state, how much a renewal wants and when it runs low, the reply
 * of a check decided under it, and the report of those checks. The owner's
 * grant as the client reads it is lease-grant.ts. Pure: no wire, no timers.
 */
import { shadowReply } from '../lib/index.ts';
import type { CheckReply, CheckRequest, RuleMode } from '../lib/index.ts';

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
  /**
   * This client's checks of the token over its last asks (allowed and
   * denied units, and ms), each ask halving what came before: a window of
   * about its last two asks' spans ({@link ratePerMs}).
   */
  rateUnits: number;
  rateMs: number;
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
    rateUnits: 0,
    rateMs: 0,
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
 * before the slice is used up, as long as the owner can top it up). The
 * rate is the larger of the one over the asks before and the one since the
 * last (over at least 50 ms): a hot token renewed every few ms is used much
 * faster than its uses since the ask over 50 ms say.
 */
export function runsLow(h: Held, t: number): boolean {
  if (h.units < h.granted * LOW_WATER) return true;
  const perMs = Math.max(ratePerMs(h), h.usedSinceAsk / Math.max(50, t - h.askedAt));
  return h.units < perMs * 2 * h.rttMs;
}

/** Folds the checks since the last ask into `h`'s rate (an ask is going out at `t`). */
export function noteRate(h: Held, t: number): void {
  h.rateUnits = h.rateUnits / 2 + h.usedSinceAsk + h.deniedSinceAsk;
  h.rateMs = h.rateMs / 2 + Math.max(0, t - h.askedAt);
}

/**
 * Units this client checks of the token per ms over about its last two
 * asks' spans, at least 50 ms of them (a few checks at once are no rate): a
 * hot token renewed every few tens of ms is measured over its recent asks.
 */
export function ratePerMs(h: Held): number {
  return h.rateUnits / Math.max(50, h.rateMs);
}

/**
 * The reply lib's combineDecisions gives for this one rule's decision,
 * built here without its lists and wrapper (a check decided here is a few
 * hundred ns: they were a tenth of it, and of its garbage). The client
 * unit tests check it against combineDecisions.
 */
export function sliceReply(h: Held, allow: boolean, retryAfterMs: number): CheckReply {
  if (h.mode === 'shadow') return shadowReply(h.token, allow ? undefined : h.rule);
  return {
    allow,
    rule: h.rule,
    limit: h.limit,
    remaining: Math.floor(h.units),
    retryAfterMs: allow ? 0 : retryAfterMs,
    tokens: [h.token],
    shadowDenied: [],
  };
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
