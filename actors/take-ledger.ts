/**
 * The owner's record of the takes it may be asked to give back. A gateway
 * refunds the budget an allowed token took when another rule denied the same
 * request; without a record, anyone who can publish to the owner's refund
 * subject could give a token back budget it never spent (a refund loop is a
 * full bypass of the limit). So the owner issues an id for every take that
 * may need a refund, and a refund is applied only against such an id: present,
 * unexpired, unused, for the same token and at most the cost taken. Ids are
 * single use and unguessable (72 random bits from the OS CSPRNG), so a forged
 * or replayed refund finds nothing.
 *
 * Pure apart from the random bytes (injectable): time comes from the Clock,
 * expiry is lazy (checked on use, swept on issue, oldest first), and the size
 * is bounded: when full, the oldest entry goes (its refund is then rejected,
 * which is stricter, never looser).
 */
import { randomBytes } from 'node:crypto';
import { compileOptionsObject, optFunction, optPositiveInt, optPositiveMs } from '../lib/index.ts';
import type { Clock, OptionSchema, Params, TokenKey } from '../lib/index.ts';

/** Options of a {@link TakeLedger}. */
export interface TakeLedgerOptions {
  /** How long an issued id can be refunded (ms). @default 10000 */
  windowMs: number;
  /** Most ids held at once; the oldest goes first. @default 200000 */
  maxEntries: number;
  /** Source of random bytes (a hook for tests). @default crypto.randomBytes */
  randomBytes: (n: number) => Buffer;
}

/** Defaults of {@link TakeLedgerOptions}, as a fresh object. */
export function defaultTakeLedgerOptions(): TakeLedgerOptions {
  return { windowMs: 10_000, maxEntries: 200_000, randomBytes };
}

const SCHEMA: OptionSchema<TakeLedgerOptions> = {
  windowMs: optPositiveMs,
  maxEntries: optPositiveInt,
  randomBytes: optFunction<TakeLedgerOptions['randomBytes']>(),
};

/**
 * Compiles ledger options over the defaults: unknown keys and bad values are
 * one InputError (code InvalidOptions) naming each; the result is frozen.
 */
export function compileTakeLedgerOptions(
  input: Partial<TakeLedgerOptions> = {},
): Readonly<TakeLedgerOptions> {
  return compileOptionsObject('ledger', SCHEMA, defaultTakeLedgerOptions(), input);
}

/** What the ledger remembers of one take. */
export interface TakeEntry {
  token: TokenKey;
  cost: number;
  /** When the owner issued the id (its clock). */
  issuedMs: number;
  /** The request's time as the gateway gave it, for the refund's record. */
  atMs: number | undefined;
  /** The request's parameters, when collection sent them. */
  params: Params | undefined;
}

/** Why a refund was rejected. */
export const RefundRejection = {
  /** No such id: never issued, already used, or evicted. */
  Unknown: 'unknown',
  Expired: 'expired',
  /** The id was issued for another token. */
  OtherToken: 'other-token',
  /** The refund asks for more than the take cost. */
  OverCost: 'over-cost',
} as const;
export type RefundRejection = (typeof RefundRejection)[keyof typeof RefundRejection];

/** Counters of a {@link TakeLedger}. */
export interface TakeLedgerStats {
  issued: number;
  redeemed: number;
  rejected: number;
  expired: number;
  evicted: number;
  size: number;
}

/** Random bytes per id: 72 bits, 12 base64url characters. */
const ID_BYTES = 9;
/** An id on the wire: 12 base64url characters. */
const TAKE_ID = /^[A-Za-z0-9_-]{12}$/;
/** Ids drawn per call to the CSPRNG: one syscall per this many takes. */
const POOL_IDS = 512;

/** Whether `v` has the form of a take id (it says nothing of whether it was issued). */
export function isTakeId(v: unknown): v is string {
  return typeof v === 'string' && TAKE_ID.test(v);
}

export class TakeLedger {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #max: number;
  readonly #random: (n: number) => Buffer;
  /** Insertion order is issue order, so expiry and eviction take from the front. */
  readonly #entries = new Map<string, TakeEntry>();
  #pool: Buffer = Buffer.alloc(0);
  #at = 0;
  readonly #stats = { issued: 0, redeemed: 0, rejected: 0, expired: 0, evicted: 0 };

  /** @throws InputError (code InvalidOptions) for an unknown option or a value out of range, naming each */
  constructor(clock: Clock, options: Partial<TakeLedgerOptions> = {}) {
    const o = compileTakeLedgerOptions(options);
    this.#clock = clock;
    this.#windowMs = o.windowMs;
    this.#max = o.maxEntries;
    this.#random = o.randomBytes;
  }

  /** How long an issued id stays valid (ms). */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Remembers a take of `cost` on `token` and returns its single-use id. */
  issue(token: TokenKey, cost: number, atMs?: number, params?: Params): string {
    const now = this.#clock.now();
    this.#sweep(now);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.#stats.evicted++;
    }
    let id = this.#nextId();
    // 72 random bits: a collision is vanishingly rare, but never overwrite one.
    while (this.#entries.has(id)) id = this.#nextId();
    this.#entries.set(id, { token, cost, issuedMs: now, atMs, params });
    this.#stats.issued++;
    return id;
  }

  /**
   * Uses id `id` for a refund of `cost` on `token`: the take's entry when the
   * refund may be applied, otherwise why not. A present id is spent either
   * way (it has been seen; single use is stricter than a second chance).
   */
  redeem(id: string, token: string, cost: number): TakeEntry | RefundRejection {
    const e = this.#entries.get(id);
    if (e === undefined) return this.#reject(RefundRejection.Unknown);
    this.#entries.delete(id);
    if (this.#clock.now() - e.issuedMs >= this.#windowMs) {
      this.#stats.expired++;
      return this.#reject(RefundRejection.Expired);
    }
    if (e.token !== token) return this.#reject(RefundRejection.OtherToken);
    if (!(cost > 0 && cost <= e.cost)) return this.#reject(RefundRejection.OverCost);
    this.#stats.redeemed++;
    return e;
  }

  get size(): number {
    return this.#entries.size;
  }

  stats(): TakeLedgerStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  #reject(why: RefundRejection): RefundRejection {
    this.#stats.rejected++;
    return why;
  }

  /** Drops expired entries from the front (they were issued first). */
  #sweep(now: number): void {
    for (const [id, e] of this.#entries) {
      if (now - e.issuedMs < this.#windowMs) return;
      this.#entries.delete(id);
      this.#stats.expired++;
    }
  }

  #nextId(): string {
    if (this.#at + ID_BYTES > this.#pool.length) {
      this.#pool = this.#random(ID_BYTES * POOL_IDS);
      this.#at = 0;
    }
    const id = this.#pool.toString('base64url', this.#at, this.#at + ID_BYTES);
    this.#at += ID_BYTES;
    return id;
  }
}
