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
import type { NatsConnection, Subscription } from 'nats';
import { ErrorCode, InputError, parseCheckRequest, parseCheckRequests, show } from '../lib/index.ts';
import type { CheckReply, CheckRequest, Params } from '../lib/index.ts';
import { compileNatsConnect, connectNats } from '../services/nats/index.ts';
import { API_PREFIX, TOPOLOGY_CHANGED, nodeSubject } from '../services/api/topology.ts';
import { compileClientOptions } from './client-options.ts';
import type { HeadroomClientInput, HeadroomClientOptions } from './client-options.ts';
import { ClientTopology, parseTopology } from './topology.ts';
import { ClientLeases } from './leases.ts';
import { CheckLanes } from './check-lanes.ts';
import type { LaneStats } from './check-lanes.ts';
import { BatchReplies, BatchSlot } from './pending.ts';
import type { Pending } from './pending.ts';
import { closedError, errorOf } from './reply-errors.ts';
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
export interface ClientStats extends LaneStats {
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
  /** Plain checks on their way to their nodes. */
  readonly #lanes: CheckLanes;
  #badNotices = 0;
  #refreshing: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sub: Subscription | undefined;
  #closed = false;
  /** Slices of hot tokens' budgets held here; undefined without routing (leases need the owners). */
  readonly #leases: ClientLeases | undefined;

  private constructor(nc: NatsConnection, options: Readonly<HeadroomClientOptions>) {
    this.#nc = nc;
    this.#options = options;
    this.#lanes = new CheckLanes({
      nc,
      timeoutMs: options.timeoutMs,
      ownerTimeoutMs: options.ownerTimeoutMs,
      destination: (req) => (this.#fresh() ? this.#topology!.ownerOf(req, Date.now()) : undefined),
      gone: (node) => {
        this.#topology?.suspect(node, Date.now() + options.suspectMs, Date.now());
        this.refreshTopology().catch(() => undefined);
      },
    });
    this.#leases = options.routing
      ? new ClientLeases(
          {
            // `t` is this client's clock (the leases use performance.now() too): one clock read per
            // leased check; the wall clock only when a rule has effective dates.
            tokenOf: (req, t) => (this.#freshAt(t) ? this.#topology!.leaseToken(req, Date.now) : undefined),
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
          this.#badNotices++;
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
    return { ...this.#lanes.stats, badNotices: this.#badNotices };
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
    if (this.#closed) throw closedError();
    // One look at the topology and the clocks for the batch, not two clock reads per check.
    const topology = this.#freshAt(atMs) ? this.#topology : undefined;
    const wallMs = Date.now();
    // One promise for the batch, not one per check (a batch of 100 spent a quarter of the
    // client's CPU in garbage collection), and no closure per check either: each check is a slot
    // of the batch that fills its place, the first error rejects.
    return await new Promise<CheckReply[]>((resolve, reject) => {
      const batch = new BatchReplies(reqs.length, resolve, reject);
      for (let i = 0; i < reqs.length; i++) {
        const req = reqs[i]!;
        this.#lanes.enqueueTo(new BatchSlot(req, atMs, batch, i), topology?.ownerOf(req, wallMs));
      }
    });
  }

  #enqueue(p: Pending): void {
    if (this.#closed) p.reject(closedError());
    else this.#lanes.enqueue(p);
  }

  /** Whether checks may be routed by the topology held (there is one, confirmed recently). */
  #fresh(): boolean {
    return this.#freshAt(now());
  }

  /** {@link #fresh} at `t` (this client's clock, performance.now()). */
  #freshAt(t: number): boolean {
    return this.#topology !== undefined && t - this.#confirmedAtMs <= this.#options.topologyMaxAgeMs;
  }

  /** Stops routing and closes the connection; checks already asked are answered or rejected first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#sub?.unsubscribe();
    // Slices go back while the connection is open (their units return to the buckets).
    await this.#leases?.close();
    await this.#lanes.settle();
    await this.#nc.drain();
  }
}
