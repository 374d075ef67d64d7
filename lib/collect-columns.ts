/**
 * The decisions a CollectionWindow (collect.ts) holds for one second, as
 * columns: one slot per decision, built into records only when the second
 * is written.
 */
import type { Decided, RecordFeatures } from './collect-record.ts';

/** Slots of a fresh Columns. */
const INITIAL = 1024;

/**
 * Decisions held as columns, one slot per decision, and built into records
 * only when their second is written: what is held through the grace is a few
 * arrays per second, not an object graph per request, and the arrays are
 * reused from second to second (numbers in typed arrays, outside the JS
 * heap), so holding a decision allocates nothing the garbage collector has
 * to copy or mark.
 */
export class Columns {
  length = 0;
  seq = new Float64Array(INITIAL);
  atMs = new Float64Array(INITIAL);
  cost = new Float64Array(INITIAL);
  allow = new Uint8Array(INITIAL);
  /**
   * 1 when the decision's record is to be written, 0 when the cap on records
   * left it out, 2 for a decision held for refunds only (CollectionWindow.addShadow).
   */
  keep = new Uint8Array(INITIAL);
  /** Index of the token's next allowed decision not yet refunded, -1 for none: refunds walk it. */
  nextAllowed = new Int32Array(INITIAL);
  /** With a cap on records: index of the token's next decision while it is under the cap. */
  nextOfToken = new Int32Array(INITIAL);
  ruleId: (string | null)[] = [];
  features: (RecordFeatures | undefined)[] = [];

  /** Appends a decision; returns its index. */
  push(seq: number, d: Omit<Decided, 'id'>, features: RecordFeatures | undefined): number {
    const i = this.length++;
    if (i === this.seq.length) this.#grow(2 * i);
    this.seq[i] = seq;
    this.atMs[i] = d.atMs;
    this.cost[i] = d.cost;
    this.allow[i] = d.allow ? 1 : 0;
    this.keep[i] = 1;
    this.nextAllowed[i] = -1;
    this.ruleId[i] = d.ruleId;
    this.features[i] = features;
    return i;
  }

  /** Empties the columns for reuse, dropping what they referenced. */
  clear(): void {
    this.ruleId.fill(null, 0, this.length);
    this.features.fill(undefined, 0, this.length);
    this.length = 0;
  }

  #grow(capacity: number): void {
    const grow = <T extends Float64Array | Uint8Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    this.seq = grow(this.seq, (n) => new Float64Array(n));
    this.atMs = grow(this.atMs, (n) => new Float64Array(n));
    this.cost = grow(this.cost, (n) => new Float64Array(n));
    this.allow = grow(this.allow, (n) => new Uint8Array(n));
    this.keep = grow(this.keep, (n) => new Uint8Array(n));
    this.nextAllowed = grow(this.nextAllowed, (n) => new Int32Array(n));
    this.nextOfToken = grow(this.nextOfToken, (n) => new Int32Array(n));
  }
}
