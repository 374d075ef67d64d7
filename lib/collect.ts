/**
 * Per-token buckets as the token's owner collects them: a token's requests
 * aggregated into 1-second and 1-minute buckets (requests, allowed, denied,
 * cost), and its decisions held until they are built into records
 * (collect-record.ts).
 *
 * Refunds: a request that another rule denied is refunded to this token
 * after the decision, so decisions and buckets are held until their bucket
 * has closed plus a grace period (`graceMs`), and a refund that arrives in
 * time turns the held decision and its counts from allowed into denied. Its
 * record is built only when written (see collect-columns.ts). The record
 * then says what happened to the request (it did not proceed and took
 * nothing from this token); its `ruleId` stays this token's rule. A refund
 * that comes after the second was written (beyond the grace) still corrects
 * the minute bucket while that is open and is counted as late.
 *
 * A decision whose second was already written (the gateway's clock behind
 * the grace) keeps its record time but is counted in the oldest open bucket,
 * so a written bucket row is never replaced by a partial one. `cost` is the
 * cost asked (demand), allowed or not.
 *
 * Records may be capped per token and second (`recordsPerTokenSecond`): the
 * buckets still count every decision, and every decision is still held (so a
 * refund finds it and corrects the counts as without a cap), but only a
 * uniform sample of the token's decisions in the second becomes records
 * (reservoir sampling, see #sample), so that a busy token's records are not
 * biased toward the start of each second.
 *
 * On a node the sample is drawn at arrival, on the check path's thread
 * (collection/collector-sample.ts), and only the decisions that enter it
 * cross to the collection worker: they are added with the reservoir slot
 * they take (`addSampled`), the others only as counts (`addCounts`) and, if
 * allowed and refundable, as a time and cost with no record (`addShadow`),
 * so that buckets, refunds and `sampledOut` come out as if every decision
 * had been added. A refund matches an allowed decision of its token, second,
 * time and cost, as always; when the matches are both kept and not, it
 * picks one of them uniformly (k kept of m matches: a kept record turns
 * denied with probability k/m, which is the chance that the refunded
 * decision is one of the kept, the sample being uniform), so records stay an
 * unbiased sample. Pure: no timers, no I/O; the sample's randomness is a
 * function given in.
 */
import { buildRecord } from './collect-record.ts';
import type { CollectedBucket, CollectedRecord, Decided, RecordFeatures } from './collect-record.ts';
import { Columns } from './collect-columns.ts';

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

/** A token's counts in one second, its allowed decisions not yet refunded, and those it keeps records of. */
interface SecondCounts extends Counts {
  /** Index of the token's first and last allowed decision not yet refunded, -1 for none. */
  first: number;
  last: number;
  /**
   * With a cap on records, while the token has at most the cap in the
   * second: its first and last decision, linked by Columns.nextOfToken (all
   * kept). -1 for none.
   */
  head: number;
  tail: number;
  /**
   * Indices of the decisions whose records are kept (the reservoir): built
   * from the list above when the token first goes past the cap, so that a
   * token under the cap (most of them) allocates nothing for the sample.
   */
  kept: number[] | null;
}

/** Columns.keep of a decision that crossed only for refunds (addShadow): no record, not a decision of its own. */
const SHADOW = 2;

interface Bucket<C extends Counts = Counts> {
  startMs: number;
  /** Raw token key (memory only) -> counts. */
  byKey: Map<string, C>;
}

interface Second extends Bucket<SecondCounts> {
  decisions: Columns;
  /** Decisions added as counts only (addCounts). */
  counted: number;
}

/** What is ready to be written. */
export interface CollectedBatch {
  records: CollectedRecord[];
  buckets: CollectedBucket[];
}

const SECOND = 1000;
const MINUTE = 60_000;

/** How a {@link CollectionWindow} samples records. */
interface RecordSampling {
  /** Most records per token and second; 0 keeps every decision's record. @default 0 */
  recordsPerTokenSecond?: number;
  /** Uniform numbers in [0, 1) that choose the sample. @default Math.random */
  random?: () => number;
}

export class CollectionWindow {
  readonly #graceMs: number;
  readonly #idPrefix: string;
  readonly #cap: number;
  readonly #random: () => number;
  #seq = 0;
  #held = 0;
  #sampledOut = 0;
  readonly #seconds = new Map<number, Second>();
  /** Columns of written seconds, for the next seconds to reuse. */
  readonly #free: Columns[] = [];
  readonly #minutes = new Map<number, Bucket>();
  /** Start of the first second (and minute) not yet written. */
  #secondFloor = Number.NEGATIVE_INFINITY;
  #minuteFloor = Number.NEGATIVE_INFINITY;

  /**
   * @param graceMs how long after a bucket closes refunds are still awaited.
   * @param idPrefix records are named this, then their number in order of `add`, base 36
   *   (a decision left out of the sample uses its number too: ids have gaps, never repeats).
   * @param sampling the cap on records per token and second, and the randomness that samples them.
   */
  constructor(graceMs: number, idPrefix = '', sampling: RecordSampling = {}) {
    this.#graceMs = graceMs;
    this.#idPrefix = idPrefix;
    this.#cap = sampling.recordsPerTokenSecond ?? 0;
    this.#random = sampling.random ?? Math.random;
  }

  /** Decisions held (each counted; with a cap, not each written as a record), for stats. */
  get heldRecords(): number {
    return this.#held;
  }

  /** Decisions written without a record because of the cap on records, since start. */
  get sampledOut(): number {
    return this.#sampledOut;
  }

  /**
   * Holds the decision `d` of the token `tokenKey` (raw key: kept in memory
   * only, for refunds); its record is built from `d` and `features` when its
   * second is written.
   */
  add(tokenKey: string, d: Omit<Decided, 'id'>, features: RecordFeatures): void {
    this.#hold(tokenKey, d, features, NaN);
  }

  /**
   * Holds a decision that the port's sample (collection/collector-sample.ts)
   * let in: it takes reservoir slot `slot` of its token-second (replacing
   * the decision there, whose record is then left out), or, for a negative
   * slot (its second was no longer open on the port, or this one's second
   * was already written), a free slot if the token-second has one, else it
   * is left out. Counted in the buckets as `add` counts.
   */
  addSampled(tokenKey: string, d: Omit<Decided, 'id'>, features: RecordFeatures, slot: number): void {
    this.#hold(tokenKey, d, features, floorTo(d.atMs, SECOND) < this.#secondFloor ? -1 : slot);
  }

  /**
   * Counts `n` decisions of `tokenKey` at `atMs` (allowed or denied, `cost`
   * in all) that the port's sample left out: in the buckets as `add` would,
   * and as sampled out when their second is written. `name` gives the
   * token's anonymised name when neither its second nor its minute has it.
   */
  addCounts(
    tokenKey: string,
    atMs: number,
    allow: boolean,
    n: number,
    cost: number,
    name: () => string,
  ): void {
    const second = this.#second(atMs);
    second.counted += n;
    this.#held += n;
    let c = second.byKey.get(tokenKey);
    const mc = this.#minuteOf(tokenKey, atMs, c?.token ?? name);
    c ??= this.#countsOf(second, tokenKey, mc.token);
    add(c, allow, n, cost);
    add(mc, allow, n, cost);
  }

  /**
   * An allowed, refundable decision that the port's sample left out (and
   * `addCounts` counted): held as its time and cost only, so that a refund
   * can still match it. Ignored when its token has nothing in that second.
   */
  addShadow(tokenKey: string, atMs: number, cost: number): void {
    const second = this.#second(atMs);
    const c = second.byKey.get(tokenKey);
    if (c === undefined) return;
    const cols = second.decisions;
    const i = cols.push(-1, { atMs, allow: true, ruleId: null, cost }, undefined);
    cols.keep[i] = SHADOW;
    this.#linkAllowed(c, cols, i);
  }

  /** Holds a decision; `slot` NaN: sampled here (#sample), else as addSampled says. */
  #hold(tokenKey: string, d: Omit<Decided, 'id'>, features: RecordFeatures, slot: number): void {
    const { atMs, allow, cost } = d;
    const token = features.parts.token;
    const second = this.#second(atMs);
    const cols = second.decisions;
    const i = cols.push(this.#seq++, d, features);
    this.#held++;
    const c = second.byKey.get(tokenKey) ?? this.#countsOf(second, tokenKey, token);
    count(c, token, allow, cost);
    if (this.#cap > 0) {
      if (Number.isNaN(slot)) this.#sample(c, cols, i);
      else this.#keepAt(c, cols, i, slot);
    }
    if (allow) this.#linkAllowed(c, cols, i);
    count(this.#minuteOf(tokenKey, atMs, token), token, allow, cost);
  }

  /** The open second `atMs` counts in (the oldest open one if its own was written). */
  #second(atMs: number): Second {
    const sStart = Math.max(floorTo(atMs, SECOND), this.#secondFloor);
    let second = this.#seconds.get(sStart);
    if (second === undefined) {
      second = {
        startMs: sStart,
        byKey: new Map(),
        decisions: this.#free.pop() ?? new Columns(),
        counted: 0,
      };
      this.#seconds.set(sStart, second);
    }
    return second;
  }

  #countsOf(second: Second, tokenKey: string, token: string): SecondCounts {
    const c: SecondCounts = {
      token,
      requests: 0,
      allowed: 0,
      denied: 0,
      cost: 0,
      first: -1,
      last: -1,
      head: -1,
      tail: -1,
      kept: null,
    };
    second.byKey.set(tokenKey, c);
    return c;
  }

  /** The token's counts in the open minute of `atMs`; a new entry is named `token`. */
  #minuteOf(tokenKey: string, atMs: number, token: string | (() => string)): Counts {
    const mStart = Math.max(floorTo(atMs, MINUTE), this.#minuteFloor);
    let minute = this.#minutes.get(mStart);
    if (minute === undefined) this.#minutes.set(mStart, (minute = { startMs: mStart, byKey: new Map() }));
    let mc = minute.byKey.get(tokenKey);
    if (mc === undefined) {
      const name = typeof token === 'string' ? token : token();
      mc = { token: name, requests: 0, allowed: 0, denied: 0, cost: 0 };
      minute.byKey.set(tokenKey, mc);
    }
    return mc;
  }

  /** Appends decision `i` to the token's list of allowed decisions not yet refunded. */
  #linkAllowed(c: SecondCounts, cols: Columns, i: number): void {
    if (c.last < 0) c.first = i;
    else cols.nextAllowed[c.last] = i;
    c.last = i;
  }

  /**
   * The port chose: decision `i` takes reservoir slot `slot` (replacing its
   * holder, if any: slots may fill in any order, the port holding some of
   * its kept decisions until their second ends), or, for a negative slot, a
   * free one if any (else it is left out). `c.kept[j]` is slot j's decision,
   * -1 for none.
   */
  #keepAt(c: SecondCounts, cols: Columns, i: number, slot: number): void {
    const kept = (c.kept ??= []);
    let j = slot;
    if (j < 0 || j >= this.#cap) {
      j = kept.indexOf(-1);
      if (j < 0) j = kept.length < this.#cap ? kept.length : -1;
      if (j < 0) {
        cols.keep[i] = 0;
        return;
      }
    }
    while (kept.length <= j) kept.push(-1);
    const old = kept[j]!;
    if (old >= 0) cols.keep[old] = 0;
    kept[j] = i;
  }

  /**
   * Decides whether the decision at index `i`, the token's `c.requests`-th
   * in the second, is kept, and which kept one it replaces: reservoir
   * sampling (Vitter's Algorithm R, "Random sampling with a reservoir", ACM
   * TOMS 11(1), 1985). The first `cap` are kept; the n-th after them
   * replaces a uniformly chosen kept one with probability cap/n. After any n
   * decisions each has been kept with the same probability cap/n, whatever
   * its place in the second, and the kept set is a uniform cap-subset: the
   * second need not be over to choose.
   */
  #sample(c: SecondCounts, cols: Columns, i: number): void {
    const n = c.requests;
    const cap = this.#cap;
    if (n <= cap) {
      if (c.tail < 0) c.head = i;
      else cols.nextOfToken[c.tail] = i;
      c.tail = i;
      return;
    }
    let kept = c.kept;
    if (kept === null) {
      kept = c.kept = new Array<number>(cap);
      for (let k = 0, x = c.head; k < cap; k++, x = cols.nextOfToken[x]!) kept[k] = x;
    }
    const j = Math.floor(this.#random() * n);
    if (j < cap) {
      cols.keep[kept[j]!] = 0;
      kept[j] = i;
    } else cols.keep[i] = 0;
  }

  /** The request decided at `atMs` with `cost` for `tokenKey` was denied by another rule. */
  refund(tokenKey: string, atMs: number, cost: number): RefundOutcome {
    const sStart = Math.max(floorTo(atMs, SECOND), this.#secondFloor);
    const second = this.#seconds.get(sStart);
    const c = second?.byKey.get(tokenKey);
    if (second !== undefined && c !== undefined) {
      // The token's allowed decisions at that time and cost: the first, or, when some have
      // records and some not, one of them uniformly (see the file's comment); unlinked from its list.
      const cols = second.decisions;
      let kept = 0;
      let other = 0;
      for (let i = c.first; i >= 0; i = cols.nextAllowed[i]!) {
        if (cols.atMs[i] !== atMs || cols.cost[i] !== cost) continue;
        if (cols.keep[i] === 1) kept++;
        else other++;
      }
      let pick = kept > 0 && other > 0 ? Math.floor(this.#random() * (kept + other)) : 0;
      let prev = -1;
      for (let i = c.first; i >= 0; prev = i, i = cols.nextAllowed[i]!) {
        if (cols.atMs[i] !== atMs || cols.cost[i] !== cost || pick-- > 0) continue;
        const next = cols.nextAllowed[i]!;
        if (prev < 0) c.first = next;
        else cols.nextAllowed[prev] = next;
        if (c.last === i) c.last = prev;
        cols.allow[i] = 0;
        deny(c);
        const minute = this.#minutes.get(Math.max(floorTo(atMs, MINUTE), this.#minuteFloor));
        deny(minute?.byKey.get(tokenKey));
        return RefundOutcome.Applied;
      }
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
      this.#records(s, out.records);
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

  /**
   * Builds the records of a second's kept decisions, in the order they were
   * added, counts the others as sampled out, and frees its columns.
   */
  #records(s: Second, out: CollectedRecord[]): void {
    const prefix = this.#idPrefix;
    const cols = s.decisions;
    let left = 0;
    let shadows = 0;
    for (let i = 0; i < cols.length; i++) {
      if (cols.keep[i] !== 1) {
        if (cols.keep[i] === SHADOW) shadows++;
        else left++;
        continue;
      }
      const f = cols.features[i]!;
      out.push(
        buildRecord(
          {
            id: prefix + cols.seq[i]!.toString(36),
            atMs: cols.atMs[i]!,
            allow: cols.allow[i] === 1,
            ruleId: cols.ruleId[i]!,
            cost: cols.cost[i]!,
          },
          f.parts,
          f.calendar,
          f.events,
        ),
      );
    }
    this.#held -= cols.length - shadows + s.counted;
    this.#sampledOut += left + s.counted;
    cols.clear();
    this.#free.push(cols);
  }
}

function floorTo(ms: number, step: number): number {
  return Math.floor(ms / step) * step;
}

function count(c: Counts, token: string, allow: boolean, cost: number): void {
  c.token = token; // after a key rotation, the latest hash names the bucket
  c.requests++;
  if (allow) c.allowed++;
  else c.denied++;
  c.cost += cost;
}

function add(c: Counts, allow: boolean, n: number, cost: number): void {
  c.requests += n;
  if (allow) c.allowed += n;
  else c.denied += n;
  c.cost += cost;
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
