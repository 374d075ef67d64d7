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
 * up to the client's fair share). A slice is used only until `ttlMs` after
 * its ask was sent (the owner keeps it longer, counting from its grant).
 * What is left of an idle slice, and of every slice at close, goes back
 * (`lease.return`; the returns of one turn to one node go in one
 * `lease.return.batch`).
 *
 * A token is checked the ordinary way (the caller's plain check) while its
 * owner grants nothing: the owner is gone or slow, the token just moved
 * (no slice for `ttlMs`), other clients hold its whole burst, or the check
 * matches several rules. An empty bucket is answered here: denied until the
 * owner's `retryAfterMs`, as a plain check would be. A check past a used-up
 * slice waits for its renewal, unless waiting cannot get it a unit the
 * bucket would not give anyway (lease-grant.ts: the bucket was left dry, or
 * this client uses more per round trip than its fair share gives): then it
 * is denied here at memory speed. Replies have the shape of
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
 * Beside this file: lease-slice.ts (a slice's state, sizing, reply, report),
 * lease-grant.ts (a grant applied; when a check past the slice is denied),
 * lease-meters.ts (how often unleased tokens are checked), lease-asks.ts and
 * lease-returns.ts (the asks and returns of one turn, one message per node).
 */
import { randomBytes } from 'node:crypto';
import type { CheckReply, CheckRequest } from '../lib/index.ts';
import { ASK_BYTES, LeaseAskQueue } from './lease-asks.ts';
import { applyGrant, deniedPastSlice, grantOf } from './lease-grant.ts';
import { LeaseMeters } from './lease-meters.ts';
import { LeaseReturnQueue } from './lease-returns.ts';
import {
  newHeld,
  noteRate,
  report,
  runsLow,
  sliceReply,
  tally,
  unitsToWant,
  unreport,
} from './lease-slice.ts';
import type { Held, Meter } from './lease-slice.ts';
import type { LeaseDeps, LeaseSettings, LeaseStats } from './lease-types.ts';

export type { LeaseDeps, LeaseSettings, LeaseStats } from './lease-types.ts';

/** A slice whose token was not checked for this long goes back (its units return to the bucket). */
const IDLE_MS = 1000;
/** A slice this close to its expiry is given back rather than renewed (the ask might land after it). */
const EXPIRY_MARGIN_MS = 300;
/** The code nats.js gives a request no subscriber received. */
const NO_RESPONDERS = '503';

export class ClientLeases {
  readonly #deps: LeaseDeps;
  readonly #settings: LeaseSettings;
  readonly #now: () => number;
  /** This client's name to the owners (slices are shared fairly among names). */
  readonly client = `c-${randomBytes(9).toString('base64url')}`;
  readonly #held = new Map<string, Held>();
  readonly #meters: LeaseMeters;
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
    this.#meters = new LeaseMeters(settings.minRatePerSec);
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
      // Leased on a `{lease: true}` check, or (the `leases` option) once checked often enough.
      const meter = explicit || !this.#settings.all ? undefined : this.#meters.often(token, t);
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
      if (!deniedPastSlice(h, t)) return undefined;
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
    return sliceReply(h, true, 0);
  }

  #deny(h: Held, cost: number, t: number, retryAfterMs: number): CheckReply {
    this.#stats.local++;
    this.#stats.localDenied++;
    tally(h, false, cost, t);
    return sliceReply(h, false, Math.max(1, Math.ceil(retryAfterMs)));
  }

  /** Starts holding `token`; `meter`: its checks so far (the first ask wants their rate). */
  #start(token: string, params: CheckRequest['params'], meter: Meter | undefined, t: number): Held {
    const h = newHeld(token, params, meter, t);
    this.#held.set(token, h);
    this.#meters.delete(token);
    return h;
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
    noteRate(h, t);
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
    const now = this.#now();
    h.rttMs += (Math.max(0, now - sentAt) - h.rttMs) / 4;
    const g = grantOf(reply);
    if (g === undefined) this.#refused(h);
    else applyGrant(h, g, sentAt, now, this.#settings.backoffMs);
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
