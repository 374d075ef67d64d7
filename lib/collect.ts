/**
 * Behavioural records and per-token buckets, as the token's owner collects
 * them: building one record per decided request, and aggregating a token's
 * requests into 1-second and 1-minute buckets (requests, allowed, denied,
 * cost).
 *
 * Refunds: a request that another rule denied is refunded to this token
 * after the decision, so records and buckets are held until their bucket has
 * closed plus a grace period (`graceMs`), and a refund that arrives in time
 * turns the held record and its counts from allowed into denied. The record
 * then says what happened to the request (it did not proceed and took
 * nothing from this token); its `ruleId` stays this token's rule. A refund
 * that comes after the second was written (beyond the grace) still corrects
 * the minute bucket while that is open and is counted as late.
 *
 * A decision whose second was already written (the gateway's clock behind
 * the grace) keeps its record time but is counted in the oldest open bucket,
 * so a written bucket row is never replaced by a partial one. `cost` is the
 * cost asked (demand), allowed or not. Pure: no timers, no I/O.
 */
import type { CalendarFeatures } from './calendar.ts';

/** One decided request, anonymised: the shape of the store's RequestRecord. */
export interface CollectedRecord extends CalendarFeatures {
  id: string;
  timeMs: number;
  token: string;
  op?: string;
  params: Record<string, string>;
  allow: boolean;
  ruleId: string | null;
  cost: number;
  profile: Record<string, string>;
  region?: string;
  events: Record<string, number>;
}

/** A token's counts in one bucket: the shape of the store's BucketRow. */
export interface CollectedBucket {
  token: string;
  resolution: '1s' | '1m';
  startMs: number;
  requests: number;
  allowed: number;
  denied: number;
  cost: number;
}

/** The anonymised parts of a request (PrivacyPipeline's output). */
export interface AnonymisedParts {
  token: string;
  params: Record<string, string>;
  profile: Record<string, string>;
  region?: string;
}

/** What the owner knows of one decision. */
export interface Decided {
  id: string;
  atMs: number;
  allow: boolean;
  ruleId: string | null;
  cost: number;
}

/** Builds the record of one decided request. `op` is the anonymised `op` parameter, when kept. */
export function buildRecord(
  decided: Decided,
  parts: AnonymisedParts,
  calendar: CalendarFeatures,
  events: Record<string, number>,
): CollectedRecord {
  // Written out, not spread: this runs once per request.
  const r: CollectedRecord = {
    id: decided.id,
    timeMs: decided.atMs,
    token: parts.token,
    params: parts.params,
    allow: decided.allow,
    ruleId: decided.ruleId,
    cost: decided.cost,
    secondOfMinute: calendar.secondOfMinute,
    minuteOfHour: calendar.minuteOfHour,
    hourOfDay: calendar.hourOfDay,
    dayOfWeek: calendar.dayOfWeek,
    dayOfYear: calendar.dayOfYear,
    holiday: calendar.holiday,
    profile: parts.profile,
    events,
  };
  const op = parts.params['op'];
  if (op !== undefined) r.op = op;
  if (parts.region !== undefined) r.region = parts.region;
  return r;
}

/** What refund() did. */
export const RefundOutcome = {
  /** The held record and its buckets now count the request as denied. */
  Applied: 'applied',
  /** The second was already written; the minute bucket was corrected if still open. */
  Late: 'late',
  /** No allowed decision of this token at that time and cost is known. */
  Unmatched: 'unmatched',
} as const;
export type RefundOutcome = (typeof RefundOutcome)[keyof typeof RefundOutcome];

interface Counts {
  token: string;
  requests: number;
  allowed: number;
  denied: number;
  cost: number;
}

interface Bucket {
  startMs: number;
  /** Raw token key (memory only) -> counts. */
  byKey: Map<string, Counts>;
}

interface Second extends Bucket {
  records: CollectedRecord[];
  /** Raw token key -> its allowed records not yet refunded, for refund matching. */
  allowedByKey: Map<string, CollectedRecord[]>;
}

/** What is ready to be written. */
export interface CollectedBatch {
  records: CollectedRecord[];
  buckets: CollectedBucket[];
}

const SECOND = 1000;
const MINUTE = 60_000;

export class CollectionWindow {
  readonly #graceMs: number;
  readonly #seconds = new Map<number, Second>();
  readonly #minutes = new Map<number, Bucket>();
  /** Start of the first second (and minute) not yet written. */
  #secondFloor = Number.NEGATIVE_INFINITY;
  #minuteFloor = Number.NEGATIVE_INFINITY;

  /** @param graceMs how long after a bucket closes refunds are still awaited. */
  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** Rows held, for stats. */
  get heldRecords(): number {
    let n = 0;
    for (const s of this.#seconds.values()) n += s.records.length;
    return n;
  }

  /** Holds `record` of the token `tokenKey` (raw key: kept in memory only, for refunds). */
  add(tokenKey: string, record: CollectedRecord): void {
    const sStart = Math.max(floorTo(record.timeMs, SECOND), this.#secondFloor);
    const mStart = Math.max(floorTo(record.timeMs, MINUTE), this.#minuteFloor);
    let second = this.#seconds.get(sStart);
    if (second === undefined) {
      second = { startMs: sStart, byKey: new Map(), records: [], allowedByKey: new Map() };
      this.#seconds.set(sStart, second);
    }
    second.records.push(record);
    if (record.allow) {
      const list = second.allowedByKey.get(tokenKey);
      if (list === undefined) second.allowedByKey.set(tokenKey, [record]);
      else list.push(record);
    }
    count(second, tokenKey, record);
    let minute = this.#minutes.get(mStart);
    if (minute === undefined) this.#minutes.set(mStart, (minute = { startMs: mStart, byKey: new Map() }));
    count(minute, tokenKey, record);
  }

  /** The request decided at `atMs` with `cost` for `tokenKey` was denied by another rule. */
  refund(tokenKey: string, atMs: number, cost: number): RefundOutcome {
    const sStart = Math.max(floorTo(atMs, SECOND), this.#secondFloor);
    const second = this.#seconds.get(sStart);
    const list = second?.allowedByKey.get(tokenKey);
    const i = list?.findIndex((r) => r.timeMs === atMs && r.cost === cost) ?? -1;
    if (second !== undefined && list !== undefined && i >= 0) {
      const rec = list[i]!;
      list.splice(i, 1);
      rec.allow = false;
      deny(second.byKey.get(tokenKey));
      const minute = this.#minutes.get(Math.max(floorTo(atMs, MINUTE), this.#minuteFloor));
      deny(minute?.byKey.get(tokenKey));
      return RefundOutcome.Applied;
    }
    if (floorTo(atMs, SECOND) < this.#secondFloor) {
      const minute = this.#minutes.get(Math.max(floorTo(atMs, MINUTE), this.#minuteFloor));
      deny(minute?.byKey.get(tokenKey));
      return RefundOutcome.Late;
    }
    return RefundOutcome.Unmatched;
  }

  /** Takes what is ready at `nowMs`: seconds and minutes that closed at least `graceMs` ago. */
  due(nowMs: number): CollectedBatch {
    return this.#take(nowMs - this.#graceMs);
  }

  /** Takes everything, open buckets included (on stop); later decisions count after them. */
  all(): CollectedBatch {
    return this.#take(Number.POSITIVE_INFINITY);
  }

  #take(closedBy: number): CollectedBatch {
    const out: CollectedBatch = { records: [], buckets: [] };
    const seconds = [...this.#seconds.keys()].filter((s) => s + SECOND <= closedBy);
    for (const start of seconds.sort((a, b) => a - b)) {
      const s = this.#seconds.get(start)!;
      this.#seconds.delete(start);
      out.records.push(...s.records);
      rows(s, '1s', out.buckets);
      this.#secondFloor = Math.max(this.#secondFloor, start + SECOND);
    }
    const minutes = [...this.#minutes.keys()].filter((m) => m + MINUTE <= closedBy);
    for (const start of minutes.sort((a, b) => a - b)) {
      const m = this.#minutes.get(start)!;
      this.#minutes.delete(start);
      rows(m, '1m', out.buckets);
      this.#minuteFloor = Math.max(this.#minuteFloor, start + MINUTE);
    }
    return out;
  }
}

function floorTo(ms: number, step: number): number {
  return Math.floor(ms / step) * step;
}

function count(b: Bucket, key: string, r: CollectedRecord): void {
  let c = b.byKey.get(key);
  if (c === undefined)
    b.byKey.set(key, (c = { token: r.token, requests: 0, allowed: 0, denied: 0, cost: 0 }));
  c.token = r.token; // after a key rotation, the latest hash names the bucket
  c.requests++;
  if (r.allow) c.allowed++;
  else c.denied++;
  c.cost += r.cost;
}

function deny(c: Counts | undefined): void {
  if (c === undefined || c.allowed === 0) return;
  c.allowed--;
  c.denied++;
}

function rows(b: Bucket, resolution: '1s' | '1m', out: CollectedBucket[]): void {
  for (const c of b.byKey.values()) {
    out.push({
      token: c.token,
      resolution,
      startMs: b.startMs,
      requests: c.requests,
      allowed: c.allowed,
      denied: c.denied,
      cost: c.cost,
    });
  }
}
