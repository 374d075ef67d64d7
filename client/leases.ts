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
 * (`lease.return`).
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
 */
import { randomBytes } from 'node:crypto';
import { MAX_LEASE_BATCH, combineDecisions, isPlainObject } from '../lib/index.ts';
import type { CheckReply, CheckRequest, RuleMode } from '../lib/index.ts';

/** What the leases need of the client: its topology and the wire. */
export interface LeaseDeps {
  /** The token of the one rule `req` matches; undefined when several or none match, or no topology is fresh. */
  tokenOf: (req: CheckRequest) => string | undefined;
  /** The owner of `token`, or undefined to ask any node. */
  ownerOf: (token: string) => string | undefined;
  /** Sends a request (JSON) and resolves the parsed reply; rejects when no node answered. */
  request: (subject: string, body: unknown, timeoutMs: number) => Promise<unknown>;
  /** Subject of `op` on node `node`, or of any node when undefined. */
  subject: (node: string | undefined, op: 'lease' | 'lease.batch' | 'lease.return') => string;
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
}

/** An ask waiting for its turn's message to its owner. */
interface QueuedAsk {
  body: Record<string, unknown>;
  /** About how many bytes it takes in a batch. */
  bytes: number;
  resolve: (reply: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Most bytes of asks in one `lease.batch`: under the nodes' default
 * `--max-payload-bytes` (64 KiB) with room to spare (a renewal with its
 * report is about 165 bytes besides its params).
 */
const LEASE_BATCH_BYTES = 48 * 1024;
/** An ask's bytes besides its params (client id, want, previous, report), at most. */
const ASK_BYTES = 240;

/** One token's slice as this client holds it. */
interface Held {
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
  unreported: { allowed: number; denied: number; cost: number; since: number };
}

/** A token checked without a lease yet: how often (the `leases` option leases it past the minimum rate). */
interface Meter {
  since: number;
  count: number;
}

/** Most tokens metered at once (the meters start over when full). */
const MAX_METERS = 10_000;
/** Renew once this fraction of the lease's time has passed, or below this fraction of its units. */
const RENEW_AT = 0.6;
const LOW_WATER = 0.25;
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
  /** Asks waiting for the end of this turn, per owner (undefined: any node). */
  #queued = new Map<string | undefined, QueuedAsk[]>();
  #sending = false;
  readonly #stats: LeaseStats = {
    local: 0,
    localDenied: 0,
    asks: 0,
    askMessages: 0,
    refused: 0,
    returned: 0,
  };
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(deps: LeaseDeps, settings: LeaseSettings) {
    this.#deps = deps;
    this.#settings = settings;
    this.#now = deps.now ?? ((): number => performance.now());
    // Idle and expiring slices go back without waiting for a check of their token.
    this.#timer = setInterval(() => this.#sweep(), 250);
    this.#timer.unref();
  }

  get stats(): LeaseStats {
    return { ...this.#stats };
  }

  /**
   * Decides `req` from its token's slice: a reply (at once, or after the
   * slice's ask), or undefined when it must be checked the ordinary way.
   * `explicit`: the caller asked for a lease (`{lease: true}`).
   */
  decide(req: CheckRequest, explicit: boolean): CheckReply | undefined | Promise<CheckReply | undefined> {
    if (this.#closed) return undefined;
    const token = this.#deps.tokenOf(req);
    if (token === undefined) return undefined;
    let h = this.#held.get(token);
    if (h === undefined) {
      const meter = explicit ? undefined : this.#often(token);
      if (!explicit && meter === undefined) return undefined;
      h = this.#start(token, req.params, meter);
    }
    const t = this.#now();
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
    else if ((t >= h.renewAt || this.#low(h, t)) && this.#mayAsk(h, t)) void this.#ask(h, cost);
    this.#stats.local++;
    return this.#reply(h, true, 0);
  }

  /**
   * Whether `h` runs low: below a quarter of its grant, or below what this
   * client uses in two of its asks' round trips (the renewal is answered
   * before the slice is used up, as long as the owner can top it up).
   */
  #low(h: Held, t: number): boolean {
    if (h.units < h.granted * LOW_WATER) return true;
    const perMs = h.usedSinceAsk / Math.max(50, t - h.askedAt);
    return h.units < perMs * 2 * h.rttMs;
  }

  #deny(h: Held, cost: number, t: number, retryAfterMs: number): CheckReply {
    this.#stats.local++;
    this.#stats.localDenied++;
    tally(h, false, cost, t);
    return this.#reply(h, false, Math.max(1, Math.ceil(retryAfterMs)));
  }

  #reply(h: Held, allow: boolean, retryAfterMs: number): CheckReply {
    return combineDecisions([
      {
        token: h.token,
        ruleId: h.rule,
        mode: h.mode,
        allow,
        limit: h.limit,
        remaining: Math.floor(h.units),
        retryAfterMs,
      },
    ]).reply;
  }

  /** Starts holding `token`; `meter`: its checks so far (the first ask wants their rate). */
  #start(token: string, params: CheckRequest['params'], meter: Meter | undefined): Held {
    const h: Held = {
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
      askedAt: meter?.since ?? this.#now(),
      lastUsed: this.#now(),
      demandPerSec: undefined,
      holders: 1,
      unreported: { allowed: 0, denied: 0, cost: 0, since: Number.NaN },
    };
    this.#held.set(token, h);
    this.#meters.delete(token);
    return h;
  }

  /** `token`'s meter once it has been checked at least the minimum rate within the last second. */
  #often(token: string): Meter | undefined {
    if (!this.#settings.all) return undefined;
    const t = this.#now();
    let m = this.#meters.get(token);
    if (m === undefined || t - m.since > 1000) {
      if (m === undefined && this.#meters.size >= MAX_METERS) this.#meters.clear();
      m = { since: t, count: 0 };
      this.#meters.set(token, m);
    }
    return ++m.count >= this.#settings.minRatePerSec ? m : undefined;
  }

  /** Units to want: this client's recent rate (or its share of the forecast demand) over the lease's time. */
  #want(h: Held, cost: number, ttlMs: number, t: number): number {
    const elapsed = Math.max(t - h.askedAt, 50);
    const own = (h.usedSinceAsk + h.deniedSinceAsk) / elapsed; // per ms
    const forecast = h.demandPerSec === undefined ? 0 : h.demandPerSec / 1000 / Math.max(1, h.holders);
    return Math.min(1e9, Math.max(2 * cost, Math.ceil(Math.max(own, forecast) * ttlMs * 1.5)));
  }

  /** Asks the owner for a slice (or a renewal of the one held); settles when it is applied. */
  #ask(h: Held, cost: number): Promise<void> {
    const t = this.#now();
    // The owner's last ttl (2 s until the first grant says otherwise).
    const ttlMs = h.usableUntil > 0 ? Math.max(1, h.usableUntil - h.askedAt) : 2000;
    const want = this.#want(h, cost, ttlMs, t);
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
    const asking = new Promise<unknown>((resolve, reject) => {
      const queued = this.#queued.get(owner);
      const ask: QueuedAsk = { body, bytes: h.paramsBytes + ASK_BYTES, resolve, reject };
      if (queued === undefined) this.#queued.set(owner, [ask]);
      else queued.push(ask);
      if (!this.#sending) {
        this.#sending = true;
        // After this turn's other asks (a sweep renews many slices in one turn): one message per owner.
        setImmediate(this.#sendQueued);
      }
    })
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

  /**
   * Sends the asks queued this turn: one message per owner, `lease` for a
   * single ask and `lease.batch` for several (the reply's results in their
   * order, each a grant or an error of its own).
   */
  readonly #sendQueued = (): void => {
    this.#sending = false;
    const queued = this.#queued;
    this.#queued = new Map();
    for (const [owner, asks] of queued) {
      for (let i = 0; i < asks.length;) {
        let end = i + 1;
        let bytes = asks[i]!.bytes;
        while (
          end < asks.length &&
          end - i < MAX_LEASE_BATCH &&
          bytes + asks[end]!.bytes <= LEASE_BATCH_BYTES
        )
          bytes += asks[end++]!.bytes;
        const part = asks.slice(i, end);
        i = end;
        this.#stats.askMessages++;
        if (part.length === 1) {
          const { body, resolve, reject } = part[0]!;
          this.#deps
            .request(this.#deps.subject(owner, 'lease'), body, this.#settings.timeoutMs)
            .then(resolve, reject);
          continue;
        }
        const bodies = part.map((a) => a.body);
        this.#deps
          .request(this.#deps.subject(owner, 'lease.batch'), { asks: bodies }, this.#settings.timeoutMs)
          .then(
            (reply) => {
              const results = isPlainObject(reply) ? reply['results'] : undefined;
              part.forEach((a, k) => {
                const r: unknown =
                  Array.isArray(results) && results.length === part.length ? results[k] : undefined;
                // An ask's own error (its owner grants none now, say) refuses that ask only.
                if (isPlainObject(r) && r['error'] !== undefined) a.reject(r['error']);
                else a.resolve(r);
              });
            },
            (err: unknown) => {
              for (const a of part) a.reject(err);
            },
          );
      }
    }
  };

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

  /** Returns `h`'s unused units to the node that granted them; the slice is not used again. */
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
    const sent = this.#deps
      .request(this.#deps.subject(h.node, 'lease.return'), body, this.#settings.timeoutMs)
      .then(
        (reply) => {
          if (isPlainObject(reply) && typeof reply['returned'] === 'number')
            this.#stats.returned += reply['returned'];
        },
        // The node is gone: its units stay taken (stricter, never looser).
        () => undefined,
      );
    this.#inflight.add(sent);
    void sent.finally(() => this.#inflight.delete(sent));
  }

  /** Stops leasing and gives every slice back (waits for the asks and returns in flight). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#held.values()].map((h) => h.asking));
    for (const h of this.#held.values()) this.#giveBack(h);
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }
}

/** Counts a check decided here, for the next report. */
function tally(h: Held, allow: boolean, cost: number, t: number): void {
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
function report(h: Held, body: Record<string, unknown>, t: number): Held['unreported'] | undefined {
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
function unreport(h: Held, sent: Held['unreported']): void {
  const u = h.unreported;
  u.allowed += sent.allowed;
  u.denied += sent.denied;
  u.cost += sent.cost;
  u.since = Number.isNaN(u.since) ? sent.since : Math.min(u.since, sent.since);
}

/** A grant as the client uses it. */
interface Grant {
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
function grantOf(r: unknown): Grant | undefined {
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
