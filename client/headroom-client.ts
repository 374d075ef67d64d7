/**
 * `HeadroomClient`: checks from an application, sent straight to the node
 * that owns their tokens. A check through `headroom.v1.check` costs four
 * NATS messages when another node owns its token (client, gateway, owner,
 * client, and the owner's acknowledgement); sent to the owner's own subject
 * (`headroom.v1.node.<id>.check`) it costs two, as an echo does. Checks
 * queued for one owner within one turn of the event loop travel in one
 * `check.batch` message (Gubernator batches per peer the same way).
 *
 * The owner comes from the cluster's topology (topology.ts), kept fresh by
 * the nodes' `headroom.v1.topology.changed` notices and a periodic request.
 * Routing is advice only: a node answers a check it does not own through
 * the gateway path, so the owner decides. A check falls back to
 * `headroom.v1.check` (any node) when the topology is stale, when its node
 * is gone ("no responders", at once) or does not answer within
 * `ownerTimeoutMs`. After such a timeout the owner may have taken the check
 * and the fallback takes it again: the cost is counted twice, never
 * granted twice (a deny, not an overrun, is what a lost reply can cause).
 */
import { ErrorCode as NatsErrorCode } from 'nats';
import type { Msg, NatsConnection, Subscription } from 'nats';
import {
  ErrorCode,
  InputError,
  MAX_BATCH,
  StateError,
  isPlainObject,
  parseCheckRequest,
  parseCheckRequests,
  show,
} from '../lib/index.ts';
import type { CheckReply, CheckRequest, Params } from '../lib/index.ts';
import { compileNatsConnect, connectNats } from '../services/nats/index.ts';
import { API_PREFIX, TOPOLOGY_CHANGED, nodeSubject } from '../services/api/topology.ts';
import { compileClientOptions } from './client-options.ts';
import type { HeadroomClientInput, HeadroomClientOptions } from './client-options.ts';
import { ClientTopology, parseTopology } from './topology.ts';
import type { Destination } from './topology.ts';
import { ClientLeases } from './leases.ts';
import { BatchReplies, BatchSlot } from './pending.ts';
import type { Pending } from './pending.ts';
import { badReply, errorOf, isCheckReply, natsError, timedOut } from './reply-errors.ts';
import type { LeaseStats } from './leases.ts';

/** One check of a {@link HeadroomClient.checkBatch}. */
export interface CheckInput {
  params: Params;
  /** @default 1 */
  cost?: number;
}

/** Per-check options of {@link HeadroomClient.check}. */
export interface CheckOptions {
  /**
   * Decide this check from a slice of its token's budget held here (client
   * leases, client/leases.ts), leasing one if none is held. @default the client's `leases` option
   */
  lease?: boolean;
}

/** How a client's checks went, for tests and benchmarks. */
export interface ClientStats {
  /** Messages sent to a node's own subjects. */
  routed: number;
  /** Messages sent through the queue group (no owner, stale topology, or a fallback). */
  anyNode: number;
  /** Messages sent again through the queue group after their node was gone or slow. */
  fallbacks: number;
  /** Checks answered. */
  answered: number;
  /** Topology notices ignored because they were malformed (only nodes and admins may publish them). */
  badNotices: number;
}

const now = (): number => performance.now();

export class HeadroomClient {
  readonly #nc: NatsConnection;
  readonly #options: Readonly<HeadroomClientOptions>;
  #topology: ClientTopology | undefined;
  /** When the current topology was last confirmed (a reply or a notice of its version). */
  #confirmedAtMs = Number.NEGATIVE_INFINITY;
  /** Checks queued this turn, per destination ('' = any node). */
  #lanes = new Map<string, Pending[]>();
  #flushing = false;
  #refreshing: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sub: Subscription | undefined;
  #closed = false;
  /** Requests on the wire (a fallback replaces its first try's). */
  readonly #inflight = new Set<Promise<void>>();
  readonly #stats: ClientStats = { routed: 0, anyNode: 0, fallbacks: 0, answered: 0, badNotices: 0 };
  /** Slices of hot tokens' budgets held here; undefined without routing (leases need the owners). */
  readonly #leases: ClientLeases | undefined;

  private constructor(nc: NatsConnection, options: Readonly<HeadroomClientOptions>) {
    this.#nc = nc;
    this.#options = options;
    this.#leases = options.routing
      ? new ClientLeases(
          {
            tokenOf: (req) => (this.#fresh() ? this.#topology!.leaseToken(req, Date.now()) : undefined),
            ownerOf: (token) => (this.#fresh() ? this.#topology!.ownerOfToken(token, Date.now()) : undefined),
            request: (subject, body, timeout) => this.#ask(subject, body, timeout),
            subject: (node, op) => (node === undefined ? `${API_PREFIX}.${op}` : nodeSubject(node, op)),
          },
          {
            all: options.leases,
            minRatePerSec: options.leaseMinRatePerSec,
            backoffMs: options.leaseBackoffMs,
            timeoutMs: options.ownerTimeoutMs,
          },
        )
      : undefined;
  }

  /**
   * Connects to NATS (with the nodes' authentication options) and reads the
   * topology; resolves once checks can be routed (or, with no node up yet,
   * once they can go through the queue group).
   * @example const hr = await HeadroomClient.connect({ servers: 'nats://127.0.0.1:4222' });
   */
  static async connect(input: HeadroomClientInput = {}): Promise<HeadroomClient> {
    const options = compileClientOptions(input);
    const spec = compileNatsConnect(options.servers, options);
    const nc = await connectNats(spec, {
      name: options.name,
      inboxPrefix: options.inboxPrefix,
      // No stack captured per request: on the check path it costs more than the check.
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
    });
    const client = new HeadroomClient(nc, options);
    client.#start();
    if (options.routing) await client.refreshTopology().catch(() => undefined);
    return client;
  }

  #start(): void {
    if (!this.#options.routing) return;
    this.#sub = this.#nc.subscribe(`${API_PREFIX}.${TOPOLOGY_CHANGED}`, {
      callback: (err, msg) => {
        if (err !== null) return; // A permissions error here only leaves the periodic refresh.
        try {
          this.#adopt(parseTopology(JSON.parse(msg.string())));
        } catch {
          // Counted and otherwise ignored: the next notice or poll brings a good topology.
          this.#stats.badNotices++;
        }
      },
    });
    this.#timer = setInterval(() => {
      this.refreshTopology().catch(() => undefined);
    }, this.#options.topologyRefreshMs);
    this.#timer.unref();
  }

  /** The version of the topology checks are routed by; undefined before the first one. */
  get topologyVersion(): string | undefined {
    return this.#topology?.version;
  }

  /** Counters of how checks travelled (a fresh copy). */
  get stats(): ClientStats {
    return { ...this.#stats };
  }

  /** Counters of the client leases (a fresh copy; zeros without routing). */
  get leaseStats(): LeaseStats {
    return (
      this.#leases?.stats ?? {
        local: 0,
        localDenied: 0,
        asks: 0,
        askMessages: 0,
        refused: 0,
        returned: 0,
        returnMessages: 0,
      }
    );
  }

  /** Asks any node for the topology now (also done every `topologyRefreshMs`). */
  async refreshTopology(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const msg = await this.#nc.request(`${API_PREFIX}.topology`, '{}', {
          timeout: this.#options.timeoutMs,
        });
        const body: unknown = JSON.parse(msg.string());
        const err = errorOf(body);
        if (err !== undefined) throw err;
        this.#adopt(parseTopology(body));
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return await this.#refreshing;
  }

  #adopt(body: ReturnType<typeof parseTopology>): void {
    const t = now();
    this.#confirmedAtMs = t;
    const previous = this.#topology;
    if (previous?.version === body.version) return;
    const next = new ClientTopology(body);
    if (previous !== undefined) next.inherit(previous, Date.now());
    this.#topology = next;
  }

  /**
   * Checks one request; resolves the reply `headroom.v1.check` gives
   * (`allow`, `rule`, `limit`, `remaining`, `retryAfterMs`, `tokens`,
   * `shadowDenied`). Rejects with a HeadroomError: an InputError for a bad
   * request (checked here, as a node would), a StateError (retryable) when
   * no node answered within `timeoutMs`. With `{ lease: true }` (or the
   * `leases` option) a check of a hot token is decided here from a slice
   * of its budget (client/leases.ts), with the same reply.
   * @example const r = await hr.check({ user: 'u1', op: 'GetItem' }, 1);
   */
  check(params: Params, cost?: number, options?: CheckOptions): Promise<CheckReply> {
    let req: CheckRequest;
    try {
      req = parseCheckRequest(cost === undefined ? { params } : { params, cost });
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const lease = options?.lease ?? this.#options.leases;
    const local = lease && !this.#closed ? this.#leases?.decide(req, options?.lease === true) : undefined;
    if (local === undefined) return this.#plain(req);
    if (!(local instanceof Promise)) return Promise.resolve(local);
    return local.then((r) => r ?? this.#plain(req));
  }

  /** A check sent to its owner (or any node). */
  #plain(req: CheckRequest): Promise<CheckReply> {
    return new Promise((resolve, reject) => this.#enqueue({ req, atMs: now(), resolve, reject }));
  }

  /** A request whose reply is JSON; rejects with the reply's error, or when no node answered. */
  async #ask(subject: string, body: unknown, timeout: number): Promise<unknown> {
    const msg = await this.#nc.request(subject, JSON.stringify(body), { timeout });
    const reply: unknown = JSON.parse(msg.string());
    const err = errorOf(reply);
    if (err !== undefined) throw err;
    return reply;
  }

  /** Checks several requests (each routed to its owner); the replies in order. */
  async checkBatch(list: readonly CheckInput[]): Promise<CheckReply[]> {
    if (!Array.isArray(list)) {
      throw new InputError(ErrorCode.InvalidField, `requests must be an array, got ${show(list)}`, {
        field: 'requests',
      });
    }
    const reqs = parseCheckRequests(list, 'requests');
    if (reqs.length === 0) return [];
    const atMs = now();
    // One promise for the batch, not one per check (a batch of 100 spent a quarter of the
    // client's CPU in garbage collection), and no closure per check either: each check is a slot
    // of the batch that fills its place, the first error rejects.
    return await new Promise<CheckReply[]>((resolve, reject) => {
      const batch = new BatchReplies(reqs.length, resolve, reject);
      for (let i = 0; i < reqs.length; i++) this.#enqueue(new BatchSlot(reqs[i]!, atMs, batch, i));
    });
  }

  #enqueue(p: Pending): void {
    if (this.#closed) {
      p.reject(new StateError(ErrorCode.Unavailable, 'the client is closed', { field: 'client' }));
      return;
    }
    const key = this.#destination(p.req) ?? '';
    const lane = this.#lanes.get(key);
    if (lane === undefined) this.#lanes.set(key, [p]);
    else lane.push(p);
    if (!this.#flushing) {
      this.#flushing = true;
      // After this turn's other checks (and the replies that arrived with it) have queued.
      setImmediate(() => this.#flush());
    }
  }

  /** Whether checks may be routed by the topology held (there is one, confirmed recently). */
  #fresh(): boolean {
    return this.#topology !== undefined && now() - this.#confirmedAtMs <= this.#options.topologyMaxAgeMs;
  }

  /** The node to send `req` to, or undefined for any node. */
  #destination(req: CheckRequest): Destination {
    return this.#fresh() ? this.#topology!.ownerOf(req, Date.now()) : undefined;
  }

  #flush(): void {
    this.#flushing = false;
    const lanes = this.#lanes;
    this.#lanes = new Map();
    for (const [key, list] of lanes) {
      for (let i = 0; i < list.length; i += MAX_BATCH) {
        this.#send(key === '' ? undefined : key, list.slice(i, i + MAX_BATCH));
      }
    }
  }

  /** Sends `list` to `dest` (its own subjects) or any node; answers or rejects every check in it. */
  #send(dest: Destination, list: Pending[]): void {
    const one = list.length === 1;
    const op = one ? 'check' : 'check.batch';
    const subject = dest === undefined ? `${API_PREFIX}.${op}` : nodeSubject(dest, op);
    const payload = one ? JSON.stringify(list[0]!.req) : JSON.stringify({ requests: list.map((p) => p.req) });
    let oldest = list[0]!.atMs;
    for (const p of list) if (p.atMs < oldest) oldest = p.atMs;
    const left = this.#options.timeoutMs - (now() - oldest);
    if (left <= 0) {
      this.#fail(list, timedOut(this.#options.timeoutMs));
      return;
    }
    const timeout = dest === undefined ? left : Math.min(left, this.#options.ownerTimeoutMs);
    if (dest === undefined) this.#stats.anyNode++;
    else this.#stats.routed++;
    let sent: Promise<Msg>;
    try {
      sent = this.#nc.request(subject, payload, { timeout });
    } catch (err) {
      // The connection is closed or draining: nothing can be sent any more.
      this.#fail(list, natsError(err as Error));
      return;
    }
    const done = sent.then(
      (msg) => {
        let body: unknown;
        try {
          body = JSON.parse(msg.string());
        } catch {
          body = msg.string();
        }
        const err = errorOf(body);
        if (err !== undefined) {
          // A node that is stopping (or cut off) says so: another node may answer.
          if (dest !== undefined && err.retryable) this.#fallback(list);
          else this.#fail(list, err);
          return;
        }
        const replies = one ? [body] : isPlainObject(body) ? body['results'] : undefined;
        if (!Array.isArray(replies) || replies.length !== list.length || !replies.every(isCheckReply)) {
          this.#fail(list, badReply(subject, body));
          return;
        }
        this.#stats.answered += list.length;
        list.forEach((p, i) => p.resolve(replies[i] as CheckReply));
      },
      (err: { code?: string; message?: string }) => {
        if (dest === undefined) {
          this.#fail(
            list,
            err.code === NatsErrorCode.Timeout ? timedOut(this.#options.timeoutMs) : natsError(err),
          );
          return;
        }
        if (err.code === NatsErrorCode.NoResponders) {
          // The node is gone: route around it and learn the new view.
          this.#topology?.suspect(dest, Date.now() + this.#options.suspectMs, Date.now());
          this.refreshTopology().catch(() => undefined);
        }
        this.#fallback(list);
      },
    );
    this.#inflight.add(done);
    void done.finally(() => this.#inflight.delete(done));
  }

  /** Sends checks whose node was gone or slow through the queue group, in the time they have left. */
  #fallback(list: Pending[]): void {
    this.#stats.fallbacks++;
    this.#send(undefined, list);
  }

  #fail(list: Pending[], err: Error): void {
    for (const p of list) p.reject(err);
  }

  /** Stops routing and closes the connection; checks already asked are answered or rejected first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#sub?.unsubscribe();
    // Slices go back while the connection is open (their units return to the buckets).
    await this.#leases?.close();
    this.#flush();
    // A fallback adds to the set while it is awaited: wait until nothing is left.
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.#nc.drain();
  }
}
