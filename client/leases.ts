/**
 * Client leases, the client's side (docs/protocol.md "Leases"): for a token
 * this client checks often, its owner grants a slice of the token's budget
 * (`headroom.v1.node.<owner>.lease`; the asks of one turn of the event loop
 * to one owner go in one `lease.batch`), and checks of that token are decided
 * here from the slice, with no message at all, until it runs low or nears
 * its expiry; then it is renewed in the background (by the check that finds
 * it due, or by a sweep every 250 ms while the token is still checked, so a
 * token checked a few times a second keeps its slice), telling the owner
 * what was not used (the owner keeps those units in the slice and tops it
 * up to the client's fair share). A slice is used only until `ttlMs` after its ask
 * was sent (the owner keeps it longer, counting from its grant). What is
 * left of an idle slice, and of every slice at close, goes back
 * (`lease.return`; the returns of one turn to one node go in one
 * `lease.return.batch`).
 *
 * A token is checked the ordinary way (the caller's plain check) while its
 * owner grants nothing: the owner is gone or slow, the token just moved
 * (no slice for `ttlMs`), other clients hold its whole burst, or the check
 * matches several rules. An empty bucket is answered here: denied until the
 * owner's `retryAfterMs`, as a plain check would be. A slice used up when
 * its last grant gave less than was wanted and left the bucket dry (the
 * grant's `available` 0) is answered here too: denied until its renewal, which
 * goes out about every {@link LIMITED_ASK_MS} and takes what the bucket
 * refilled meanwhile (units left in the bucket wait there, up to its burst),
 * so the allowed count is the owner's and the excess is denied at memory
 * speed instead of waiting a round trip. Replies have the shape of
 * `headroom.v1.check`'s (lib combineDecisions), `remaining` counting the
 * slice's units.
 *
 * Every check decided here is reported to the owner (lease-demand.ts): it is
 * decided only under a slice the owner knows (an id: one of 0 units too),
 * counted in the slice's report, and the report goes with the slice's
 * renewal or its return, whichever comes first (an idle slice, one near its
 * expiry and every slice at close are returned). A report is sent once: one
 * whose ask found no node ("no responders": delivered nowhere) is kept for
 * the next message; one whose message timed out or whose node is gone
 * before its return is lost (the owner may have recorded it: never counted
 * twice), as are the checks of a process that dies.
 *
 * Beside this file: lease-slice.ts (a held slice's state, sizing, reports
 * and the grant as read here), lease-asks.ts (the asks of one turn, one
 * message per owner) and lease-returns.ts (the returns of one turn, one
 * message per node).
 */
import { randomBytes } from 'node:crypto';
import type { CheckReply, CheckRequest } from '../lib/index.ts';
import { ASK_BYTES, LeaseAskQueue } from './lease-asks.ts';
import { LeaseReturnQueue } from './lease-returns.ts';
import { RENEW_AT, grantOf, newHeld, report, runsLow, tally, unitsToWant, unreport } from './lease-slice.ts';
import type { Held, Meter } from './lease-slice.ts';

/** What the leases need of the client: its topology and the wire. */
export interface LeaseDeps {
  /**
   * The token of the one rule `req` matches; undefined when several or none
   * match, or no topology is fresh. `t`: the leases' clock now ({@link now}),
   * read once per check.
   */
  tokenOf: (req: CheckRequest, t: number) => string | undefined;
  /** The owner of `token`, or undefined to ask any node. */
  ownerOf: (token: string) => string | undefined;
  /** Sends a request (JSON) and resolves the parsed reply; rejects when no node answered. */
  request: (subject: string, body: unknown, timeoutMs: number) => Promise<unknown>;
  /** Subject of `op` on node `node`, or of any node when undefined. */
  subject: (
    node: string | undefined,
    op: 'lease' | 'lease.batch' | 'lease.return' | 'lease.return.batch',
  ) => string;
  /** The clock (ms): performance.now() unless given (tests). */
  now?: () => number;
}

/** The lease options of the client (client-options.ts). */
export interface LeaseSettings {
  /** Lease every token checked at least `minRatePerSec` times a second (not only `{lease: true}` checks). */
  all: boolean;
  minRatePerSec: number;
  /** How long a token whose lease failed is checked without one. */
  backoffMs: number;
  /** How long an ask may take. */
  timeoutMs: number;
}

/** Lease counters, for tests and benchmarks. */
export interface LeaseStats {
  /** Checks decided here from a slice (allowed or denied). */
  local: number;
  /** Of them, denied here (an empty bucket, or a slice used up past what the owner could give). */
  localDenied: number;
  /** Asks sent (first leases and renewals). */
  asks: number;
  /** Messages they went in (the asks of one turn to one owner go in one `lease.batch`). */
  askMessages: number;
  /** Asks that failed or were refused (the token was then checked without a lease for a while). */
  refused: number;
  /** Units given back. */
  returned: number;
  /** Messages the returns went in (the returns of one turn to one node go in one `lease.return.batch`). */
  returnMessages: number;
}

/** Most tokens metered at once (the meters start over when full). */
const MAX_METERS = 10_000;
/** A slice whose token was not checked for this long goes back (its units return to the bucket). */
const IDLE_MS = 1000;
/** A slice this close to its expiry is given back rather than renewed (the ask might land after it). */
const EXPIRY_MARGIN_MS = 300;
/** How soon a client whose share the others hold asks again (they renew about every 0.6 ttl). */
const SHARE_RETRY_MS = 100;
/**
 * Time between asks of a slice whose last grant gave less than it wanted,
 * on average: the bucket refills meanwhile and the next ask takes it (what
 * the bucket gains up to its burst is not lost, so with a burst of at least
 * rate x 1.5 this span the allowed count is the rule's rate). The asks fall
 * due on a grid of this span (at least half of it after the last one), so
 * the paced asks of several dry tokens of one owner become due together and
 * go in one `lease.batch`.
 */
export const LIMITED_ASK_MS = 10;
/** The code nats.js gives a request no subscriber received. */
const NO_RESPONDERS = '503';

export class ClientLeases {
  readonly #deps: LeaseDeps;
  readonly #settings: LeaseSettings;
  readonly #now: () => number;
  /** This client's name to the owners (slices are shared fairly among names). */
  readonly client = `c-${randomBytes(9).toString('base64url')}`;
  readonly #held = new Map<string, Held>();
  readonly #meters = new Map<string, Meter>();
  readonly #inflight = new Set<Promise<unknown>>();
  /** The asks of this turn, one message per owner. */
  readonly #asks: LeaseAskQueue;
  /** The returns of this turn, one message per node. */
  readonly #returns: LeaseReturnQueue;
  readonly #stats: Omit<LeaseStats, 'askMessages' | 'returnMessages'> = {
    local: 0,
    localDenied: 0,
    asks: 0,
    refused: 0,
    returned: 0,
  };
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(deps: LeaseDeps, settings: LeaseSettings) {
    this.#deps = deps;
    this.#settings = settings;
    this.#now = deps.now ?? ((): number => performance.now());
    this.#asks = new LeaseAskQueue({
      request: deps.request,
      subject: deps.subject,
      timeoutMs: settings.timeoutMs,
    });
    this.#returns = new LeaseReturnQueue({
      request: deps.request,
      subject: deps.subject,
      timeoutMs: settings.timeoutMs,
      now: this.#now,
    });
    // Idle and expiring slices go back without waiting for a check of their token.
    this.#timer = setInterval(() => this.#sweep(), 250);
    this.#timer.unref();
  }

  get stats(): LeaseStats {
    return { ...this.#stats, askMessages: this.#asks.messages, returnMessages: this.#returns.messages };
  }

  /**
   * Decides `req` from its token's slice: a reply (at once, or after the
   * slice's ask), or undefined when it must be checked the ordinary way.
   * `explicit`: the caller asked for a lease (`{lease: true}`).
   */
  decide(req: CheckRequest, explicit: boolean): CheckReply | undefined | Promise<CheckReply | undefined> {
    if (this.#closed) return undefined;
    const t = this.#now();
    const token = this.#deps.tokenOf(req, t);
    if (token === undefined) return undefined;
    let h = this.#held.get(token);
    if (h === undefined) {
      const meter = explicit ? undefined : this.#often(token, t);
      if (!explicit && meter === undefined) return undefined;
      h = this.#start(token, req.params, meter, t);
    }
    const local = this.#fromSlice(h, req.cost, t);
    if (local !== undefined) return local;
    if (t < h.plainUntil) return undefined;
    // Nothing usable: wait for a (new) slice, then decide once more.
    const asking = h.asking ?? this.#ask(h, req.cost);
    const held = h;
    return asking.then(() => this.#fromSlice(held, req.cost, this.#now()));
  }

  /**
   * A reply from `h`'s slice, renewing it in the background when due;
   * undefined when it cannot decide. Only under a slice the owner knows (an
   * id), whose report carries every check decided here.
   */
  #fromSlice(h: Held, cost: number, t: number): CheckReply | undefined {
    if (h.id === null || t >= h.usableUntil) return undefined;
    if (t < h.denyUntil) return this.#deny(h, cost, t, h.denyUntil - t);
    if (h.units < cost) {
      // Used up. The owner gave all it could at the last ask: deny until the (paced) renewal adds more.
      if (!h.limited || t < h.plainUntil) return undefined;
      h.deniedSinceAsk += cost;
      h.lastUsed = t;
      if (h.asking === undefined && t >= h.nextAskAt) void this.#ask(h, cost);
      return this.#deny(h, cost, t, h.nextAskAt - t);
    }
    tally(h, true, cost, t);
    h.units -= cost;
    h.usedSinceAsk += cost;
    h.lastUsed = t;
    if (h.asking !== undefined) h.usedInFlight += cost;
    else if ((t >= h.renewAt || runsLow(h, t)) && this.#mayAsk(h, t)) void this.#ask(h, cost);
    this.#stats.local++;
    return this.#reply(h, true, 0);
  }

  #deny(h: Held, cost: number, t: number, retryAfterMs: number): CheckReply {
    this.#stats.local++;
    this.#stats.localDenied++;
    tally(h, false, cost, t);
    return this.#reply(h, false, Math.max(1, Math.ceil(retryAfterMs)));
  }

  /**
   * The reply lib's combineDecisions gives for this one rule's decision,
   * built here without its lists and wrapper (a check decided here is a
   * few hundred ns: they were a tenth of it, and of its garbage). The
   * client unit tests check it against combineDecisions.
   */
  #reply(h: Held, allow: boolean, retryAfterMs: number): CheckReply {
    if (h.mode === 'shadow') {
      return {
        allow: true,
        rule: null,
        limit: null,
        remaining: null,
        retryAfterMs: 0,
        tokens: [h.token],
        shadowDenied: allow ? [] : [h.rule],
      };
    }
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

  /** Starts holding `token`; `meter`: its checks so far (the first ask wants their rate). */
  #start(token: string, params: CheckRequest['params'], meter: Meter | undefined, t: number): Held {
    const h = newHeld(token, params, meter, t);
    this.#held.set(token, h);
    this.#meters.delete(token);
    return h;
  }

  /** `token`'s meter once it has been checked at least the minimum rate within the last second. */
  #often(token: string, t: number): Meter | undefined {
    if (!this.#settings.all) return undefined;
    let m = this.#meters.get(token);
    if (m === undefined || t - m.since > 1000) {
      if (m === undefined && this.#meters.size >= MAX_METERS) this.#meters.clear();
      m = { since: t, count: 0 };
      this.#meters.set(token, m);
    }
    return ++m.count >= this.#settings.minRatePerSec ? m : undefined;
  }

  /** Asks the owner for a slice (or a renewal of the one held); settles when it is applied. */
  #ask(h: Held, cost: number): Promise<void> {
    const t = this.#now();
    // The owner's last ttl (2 s until the first grant says otherwise).
    const ttlMs = h.usableUntil > 0 ? Math.max(1, h.usableUntil - h.askedAt) : 2000;
    const want = unitsToWant(h, cost, ttlMs, t);
    const body: Record<string, unknown> = { client: this.client, params: h.params, want };
    if (h.id !== null) body['previous'] = { lease: h.id, unused: h.units };
    const sentReport = report(h, body, t);
    h.asked = want;
    h.askedAt = t;
    h.usedSinceAsk = 0;
    h.deniedSinceAsk = 0;
    h.usedInFlight = 0;
    this.#stats.asks++;
    // Its owner now (the topology may have moved it since the last ask).
    const owner = this.#deps.ownerOf(h.token);
    const asking = this.#asks
      .ask(owner, body, h.paramsBytes + ASK_BYTES)
      .then(
        (reply) => this.#apply(h, reply, t),
        (err: { code?: unknown }) => {
          // Delivered nowhere: its report goes with the next message instead.
          if (err.code === NO_RESPONDERS && sentReport !== undefined) unreport(h, sentReport);
          this.#refused(h);
        },
      )
      .finally(() => {
        h.asking = undefined;
      });
    h.asking = asking;
    return asking;
  }

  #apply(h: Held, reply: unknown, sentAt: number): void {
    h.rttMs += (Math.max(0, this.#now() - sentAt) - h.rttMs) / 4;
    const g = grantOf(reply);
    if (g === undefined) {
      this.#refused(h);
      return;
    }
    h.id = g.lease;
    h.node = g.node;
    h.rule = g.rule;
    h.mode = g.mode;
    h.limit = g.limit;
    h.holders = g.holders;
    h.demandPerSec = g.demandPerSec;
    // What was used while the ask travelled came out of the units it reported unused.
    h.units = Math.max(0, g.units - h.usedInFlight);
    h.granted = g.units;
    h.usableUntil = sentAt + g.ttlMs;
    h.renewAt = sentAt + g.ttlMs * RENEW_AT;
    // Less than wanted and the bucket dry: checks past the slice would be denied there too (until it
    // refills; paced asks take what it gains). Short by the share alone: the next ask may add more.
    h.limited = g.units < h.asked && g.available !== undefined && g.available < 1;
    h.nextAskAt = h.limited ? Math.ceil((sentAt + LIMITED_ASK_MS / 2) / LIMITED_ASK_MS) * LIMITED_ASK_MS : 0;
    if (g.units === 0) {
      // An empty bucket: denied here until it refills. Budget the other clients hold: plain checks
      // (the bucket may still allow them) until their renewals share the burst with this client.
      if (g.retryAfterMs > 0) h.denyUntil = sentAt + g.retryAfterMs;
      else h.plainUntil = this.#now() + Math.min(this.#settings.backoffMs, SHARE_RETRY_MS);
    }
    // A slice of no units (an old node's form): nothing is decided under it, nothing to return.
    if (g.lease === null) h.node = null;
  }

  /** The owner granted nothing (gone, slow, the token moved, a bad ask): plain checks for a while. */
  #refused(h: Held): void {
    this.#stats.refused++;
    h.plainUntil = this.#now() + this.#settings.backoffMs;
  }

  /**
   * Renews in the background the slices of tokens still checked that no
   * check renewed (a token checked a few times a second may see no check
   * between its renewal time and its expiry: its next check would wait a
   * round trip for a new slice, as Doorman's clients refresh what they
   * still want); gives back idle slices and those about to expire that
   * cannot be renewed; forgets tokens no longer checked.
   */
  #sweep(): void {
    const t = this.#now();
    for (const [token, h] of this.#held) {
      if (h.asking !== undefined) continue;
      const idle = t - h.lastUsed > IDLE_MS;
      if (
        !idle &&
        h.id !== null &&
        t >= h.renewAt &&
        t < h.usableUntil - EXPIRY_MARGIN_MS &&
        this.#mayAsk(h, t)
      )
        void this.#ask(h, 1);
      else if (t >= h.usableUntil - EXPIRY_MARGIN_MS || idle) this.#giveBack(h);
      if (idle && h.id === null) this.#held.delete(token);
    }
  }

  /** Whether an ask of `h` may go out now (not while the owner grants nothing, nor before a limited slice's pace). */
  #mayAsk(h: Held, t: number): boolean {
    return t >= h.plainUntil && t >= h.nextAskAt;
  }

  /**
   * Returns `h`'s unused units to the node that granted them, with this
   * turn's other returns to that node; the slice is not used again.
   */
  #giveBack(h: Held): void {
    if (h.id === null || h.node === null) {
      h.id = null;
      return;
    }
    const body: Record<string, unknown> = { node: h.node, lease: h.id, token: h.token, unused: h.units };
    report(h, body, this.#now());
    h.id = null;
    h.units = 0;
    h.usableUntil = 0;
    // Lost (the node is gone, say): its units stay taken (stricter, never looser).
    const sent = this.#returns.giveBack(h.node, body).then((returned) => {
      this.#stats.returned += returned;
    });
    this.#inflight.add(sent);
    void sent.finally(() => this.#inflight.delete(sent));
  }

  /** Stops leasing and gives every slice back (waits for the asks and returns in flight). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#held.values()].map((h) => h.asking));
    for (const h of this.#held.values()) this.#giveBack(h);
    // Now, not at the end of the turn: every slice's return is queued.
    this.#returns.flush();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }
}
