/**
 * Client leases, the owner's side (issue 15 item 2; Doorman's model): a
 * client that checks a token often asks its owner for a slice of the
 * token's budget and decides locally from it (client/leases.ts). Not a
 * pool's capacity lease (lib/allocation/lease.ts), which changes a token's
 * limit: a slice is budget already taken from the token's GCRA.
 *
 * Why the rule still holds across clients:
 * - a slice is a take of its units on the token's actor, at grant time, so
 *   the GCRA counts every unit a client may use, used or not; unused units
 *   come back with the return (a GCRA refund), never more than were taken;
 * - the units held by all clients of a token (its outstanding slices) never
 *   exceed its burst, so in any window the units used are at most what was
 *   outstanding at its start plus what the GCRA granted within it: the
 *   GCRA's bound plus one burst;
 * - a slice is used for `ttlMs` from when the client sent its ask, and held
 *   here for `ttlMs` from the grant (later), so a client never uses a slice
 *   this book has forgotten;
 * - a node grants no slice of a token that another node owned in a view of
 *   the last `ttlMs` (a leave, a join): that node's slices may still be in
 *   use, and this book does not know them.
 *
 * A graceful leave, then: the leaving node grants nothing (refusal), and its
 * slices are not handed over. Their units were taken from the token's
 * bucket, which the hand-off carries to the new owner, so they stay counted
 * there while their holders use them (at most `ttlMs`); the new owner
 * grants no slice until they have expired, and its plain checks are
 * decided by the bucket that counts them. The outstanding units never
 * exceed one burst, so a leave keeps the GCRA bound plus one burst; it
 * costs up to `ttlMs` of plain checks for the moved tokens, and the unused
 * units of the old slices (a return to a node that no longer hosts the
 * token gives nothing back: stricter, never looser).
 *
 * Slices of a token are shared max-min fair (lib/allocation fair-share.ts)
 * among the clients holding one, by what each wants; a renewal keeps the
 * units the client did not use and tops them up to its share. Synchronous:
 * {@link LeaseBook.grant} and {@link LeaseBook.giveBack} run inside the
 * token actor's mailbox (throttle-node.ts), so a token's grants are serial.
 */
import { randomBytes } from 'node:crypto';
import {
  ErrorCode,
  InputError,
  StateError,
  compileOptionsObject,
  maxMinFairShare,
  optPositiveInt,
  optPositiveMs,
} from '../../lib/index.ts';
import type { Claim, Clock, OptionSchema, Params, Placement, TokenKey } from '../../lib/index.ts';
import type { TokenActor } from '../../actors/index.ts';
import type { LeaseAsk, LeaseGrant, LeaseReturn } from './lease-schema.ts';

/** Options of a {@link LeaseBook}. */
export interface LeaseOptions {
  /**
   * How long a slice may be used (ms). Shorter: unused units come back
   * sooner and a leave blocks new slices for less; longer: fewer renewals.
   * @default 2000
   */
  ttlMs: number;
  /** Most slices this node holds at once; asks past it are refused (retryable). @default 100000 */
  maxSlices: number;
}

/** The defaults, as a fresh object. */
export function defaultLeaseOptions(): LeaseOptions {
  return { ttlMs: 2000, maxSlices: 100_000 };
}

const SCHEMA: OptionSchema<LeaseOptions> = { ttlMs: optPositiveMs, maxSlices: optPositiveInt };

/** Compiles lease options over the defaults (one InputError naming every bad key). */
export function compileLeaseOptions(input: Partial<LeaseOptions> = {}): Readonly<LeaseOptions> {
  return compileOptionsObject('leases', SCHEMA, defaultLeaseOptions(), input);
}

/** What one sizing needs to know of a token and its holders. */
export interface SliceSizing {
  /** The token's burst: the most units all its slices together may hold. */
  burst: number;
  /** Units the asking client wants. */
  want: number;
  /** Units it kept of its previous slice (still counted as held). */
  carried: number;
  /** Units the other clients hold. */
  othersHeld: number;
  /** The asking client's max-min fair share of the burst among the holders' wants. */
  share: number;
  /** Whole units the token's bucket would allow now. */
  available: number;
}

/**
 * The units to take for a slice: up to the client's want and fair share,
 * never past the burst with what the others hold, never more than the
 * bucket allows now, less what the client kept. Whole units (checks cost 1
 * mostly); 0 when nothing may be added.
 */
export function sliceTopUp(s: SliceSizing): number {
  const target = Math.min(s.want, s.share, s.burst - s.othersHeld);
  return Math.max(0, Math.floor(Math.min(target - s.carried, s.available)));
}

/** One client's slice of one token, as this owner counts it. */
interface Slice {
  id: string;
  client: string;
  token: TokenKey;
  /** Units taken for it and not given back: the client may hold them (0: only its want counts). */
  units: number;
  want: number;
  expiresMs: number;
  /** The ask's params: the checks reported with the slice's return are filed under them. */
  params: Params | undefined;
}

/** A view this node held until recently, kept while slices granted under it may live. */
interface PastView {
  placement: Placement;
  untilMs: number;
}

/** Random bytes per lease id: 72 bits, 12 base64url characters (a take id's form). */
const ID_BYTES = 9;

export class LeaseBook {
  readonly #node: string;
  readonly #clock: Clock;
  readonly #options: Readonly<LeaseOptions>;
  readonly #random: (n: number) => Buffer;
  readonly #byToken = new Map<TokenKey, Map<string, Slice>>();
  readonly #byId = new Map<string, Slice>();
  #view: Placement;
  #past: PastView[] = [];
  #sweptMs: number;

  constructor(
    node: string,
    clock: Clock,
    view: Placement,
    options: Partial<LeaseOptions> = {},
    random: (n: number) => Buffer = randomBytes,
  ) {
    this.#node = node;
    this.#clock = clock;
    this.#options = compileLeaseOptions(options);
    this.#random = random;
    this.#view = view;
    this.#sweptMs = clock.now();
  }

  get ttlMs(): number {
    return this.#options.ttlMs;
  }

  /** Slices held now (expired ones not yet swept included). */
  get size(): number {
    return this.#byId.size;
  }

  /** The units held by clients of `token` now. */
  held(token: TokenKey): number {
    let n = 0;
    const now = this.#clock.now();
    for (const s of this.#byToken.get(token)?.values() ?? []) if (s.expiresMs > now) n += s.units;
    return n;
  }

  /** The placement view changed: the old one's owners may hold slices for another `ttlMs`. */
  viewChanged(next: Placement): void {
    const now = this.#clock.now();
    this.#past = this.#past.filter((v) => v.untilMs > now);
    this.#past.push({ placement: this.#view, untilMs: now + this.#options.ttlMs });
    this.#view = next;
  }

  /**
   * Throws a retryable StateError unless this node may grant slices of
   * `token` now: it owns it, and owned it in every view of the last `ttlMs`.
   */
  requireGrantable(token: TokenKey, leaving: boolean): void {
    const refused = this.refusal(token, leaving);
    if (refused !== undefined) throw refused.error;
  }

  /**
   * Why this node may not grant a slice of `token` now, if it may not, and
   * whether it owns the token all the same (then a client's report of its
   * checks is still recorded here: the token moved here recently, or this
   * node holds its maximum of slices).
   */
  refusal(token: TokenKey, leaving: boolean): { error: StateError; owner: boolean } | undefined {
    const now = this.#clock.now();
    const owner = !leaving && this.#view.owner(token) === this.#node;
    const why = leaving
      ? 'this node is leaving'
      : !owner
        ? `this node does not own token ${token}`
        : this.#past.some((v) => v.untilMs > now && v.placement.owner(token) !== this.#node)
          ? `token ${token} moved here less than ${this.#options.ttlMs} ms ago (its previous owner's slices may be in use)`
          : this.#byId.size >= this.#options.maxSlices
            ? `this node holds ${this.#byId.size} slices, its maximum`
            : undefined;
    if (why === undefined) return undefined;
    const error = new StateError(ErrorCode.Unavailable, `no lease granted: ${why}; check without one`, {
      field: 'params',
      retryable: true,
    });
    return { error, owner };
  }

  /**
   * Sizes and takes a slice for `ask` on the token's actor (call inside its
   * mailbox, after {@link requireGrantable}).
   */
  grant(actor: TokenActor, ask: LeaseAsk): LeaseGrant {
    const now = this.#clock.now();
    this.#sweep(now);
    const slices = this.#slicesOf(ask.token, now);
    const mine = slices.get(ask.client);
    // A renewal keeps what the client did not use of the slice it names (never more than was taken).
    const kept =
      mine !== undefined && ask.previous !== undefined && ask.previous.lease === mine.id
        ? Math.min(ask.previous.unused, mine.units)
        : 0;
    if (mine !== undefined) this.#drop(mine);
    const claims: Claim[] = [{ id: ask.client, want: ask.want, weight: 1 }];
    let othersHeld = 0;
    for (const s of slices.values()) {
      othersHeld += s.units;
      claims.push({ id: s.client, want: s.want, weight: 1 });
    }
    const burst = actor.rule.limit.burst;
    const available = actor.peek(0).remaining;
    let added = sliceTopUp({
      burst,
      want: ask.want,
      carried: kept,
      othersHeld,
      share: maxMinFairShare(burst, claims).get(ask.client) ?? 0,
      available,
    });
    // Budget, not demand: the checks made from it are recorded as the client reports them (lease-demand.ts).
    if (added > 0 && !actor.takeBudget(added).allow) added = 0; // rounding at the bucket's edge
    const units = kept + added;
    // Held with no units too: the client's want counts in the others' shares until it expires, and
    // the checks it decides under it (denials of an empty bucket) are reported with its return.
    const lease = this.#hold(ask, units, now);
    const grant: LeaseGrant = {
      lease,
      node: this.#node,
      token: ask.token,
      rule: ask.rule.id,
      mode: ask.rule.mode,
      limit: actor.rule.limit.rate,
      units,
      ttlMs: this.#options.ttlMs,
      // With nothing held: an empty bucket says when to ask again; budget held by others says "now, by checks".
      retryAfterMs: units === 0 && available < 1 ? Math.max(0, actor.peek(1).retryAfterMs) : 0,
      holders: this.#byToken.get(ask.token)?.size ?? 1,
      // 0: the bucket gave all it had (the client denies once its slice is used, as this owner would).
      available: Math.max(0, Math.floor(added > 0 ? actor.peek(0).remaining : available)),
    };
    const demand = demandPerSec(actor, now);
    if (demand !== undefined) grant.demandPerSec = demand;
    return grant;
  }

  /**
   * Gives a slice back: its unused units (at most what it holds) return to
   * the token's bucket when the actor is live (`actor` undefined: it has
   * passivated, its bucket has refilled). Returns the units given back.
   * @throws InputError (RefundRejected) when `ret.lease` names no slice of `ret.token` held here.
   */
  giveBack(actor: TokenActor | undefined, ret: LeaseReturn): number {
    const s = this.#byId.get(ret.lease);
    if (s === undefined || s.token !== ret.token) {
      throw new InputError(
        ErrorCode.RefundRejected,
        `lease must name a slice of ${JSON.stringify(ret.token)} that node ${this.#node} holds, got ${JSON.stringify(ret.lease)} (unknown, returned, renewed or expired)`,
        { field: 'lease', value: ret.lease },
      );
    }
    this.#drop(s);
    // An expired slice's units count as used: the client stopped using them before this book forgot them.
    const units = s.expiresMs > this.#clock.now() ? Math.min(ret.unused, s.units) : 0;
    if (units > 0 && actor !== undefined) actor.returnBudget(units);
    return units;
  }

  /** The params a live slice was asked with (its reported checks are filed under them). */
  paramsOf(lease: string): Params | undefined {
    return this.#byId.get(lease)?.params;
  }

  /** The live slices of `token` (expired ones dropped). */
  #slicesOf(token: TokenKey, now: number): Map<string, Slice> {
    let slices = this.#byToken.get(token);
    if (slices === undefined) {
      slices = new Map();
      this.#byToken.set(token, slices);
    }
    for (const s of slices.values()) if (s.expiresMs <= now) this.#drop(s);
    return slices;
  }

  #hold(ask: LeaseAsk, units: number, now: number): string {
    let id = this.#random(ID_BYTES).toString('base64url');
    while (this.#byId.has(id)) id = this.#random(ID_BYTES).toString('base64url');
    const s: Slice = {
      id,
      client: ask.client,
      token: ask.token,
      units,
      want: ask.want,
      expiresMs: now + this.#options.ttlMs,
      params: ask.params,
    };
    this.#byId.set(id, s);
    let slices = this.#byToken.get(ask.token);
    if (slices === undefined) this.#byToken.set(ask.token, (slices = new Map()));
    slices.set(ask.client, s);
    return id;
  }

  #drop(s: Slice): void {
    this.#byId.delete(s.id);
    const slices = this.#byToken.get(s.token);
    if (slices?.get(s.client) === s) slices.delete(s.client);
    if (slices?.size === 0) this.#byToken.delete(s.token);
  }

  /** Forgets expired slices of every token, at most once per `ttlMs` (a token's own are dropped as it is asked). */
  #sweep(now: number): void {
    if (now - this.#sweptMs < this.#options.ttlMs) return;
    this.#sweptMs = now;
    for (const s of this.#byId.values()) if (s.expiresMs <= now) this.#drop(s);
  }
}

/** The token's forecast demand at the nearest horizon still ahead (p90, requests per second). */
function demandPerSec(actor: TokenActor, now: number): number | undefined {
  const f = actor.forecast;
  if (f === undefined) return undefined;
  const i = f.horizonsMs.findIndex((h) => f.madeMs + h >= now);
  const v = i < 0 ? undefined : f.p90[i];
  return v === undefined || !Number.isFinite(v) ? undefined : Math.max(0, v);
}
