/**
 * One trainer per cluster, elected on a JetStream KV key. The key `leader`
 * of a bucket whose TTL is the lease (`trainerLeaseMs`) names the node that
 * trains. A node takes it with `create` (refused while someone holds it)
 * and holds it by `update` on the revision it last wrote, every third of
 * the lease, so each write restarts the TTL. A leader that cannot renew (the
 * key changed under it, or two renewals in a row failed) stops training at
 * once, before its key can expire and another node take it; when a leader
 * dies its key expires and the next node to try `create` leads, within the
 * lease plus one third. A leader that stops gracefully deletes the key, so
 * the next one leads within a third of the lease.
 *
 * The bucket is JetStream's, so only the `node` role may touch it
 * (ops/nats/secure.conf: `$JS.>` and `$KV.>` are not in the admin's or the
 * client's lists).
 */
import type { KV, NatsConnection } from 'nats';
import type { Clock, TimerHandle } from '../../lib/index.ts';
import { logEvent } from '../runtime/index.ts';
import type { EventLogger } from '../runtime/index.ts';

/** The key in the election bucket naming the trainer. */
export const LEADER_KEY = 'leader';

/** JetStream's "wrong last sequence": the key changed since we read it. */
const WRONG_LAST_SEQUENCE = 10071;

/** Where the election stands on this node. */
export interface ElectionView {
  /** The node that trains; null while none holds the key (or it is unknown). */
  leader: string | null;
  /** Whether that is this node. */
  self: boolean;
}

/** Deps of a {@link TrainerElection}. */
export interface TrainerElectionDeps {
  nc: NatsConnection;
  nodeId: string;
  clock: Clock;
  /** The KV bucket (its TTL is the lease). */
  bucket: string;
  /** Lease: the bucket's TTL when this node creates it. */
  leaseMs: number;
  log: EventLogger & { warn(...a: unknown[]): void };
  /** Hears every change of the view (leader gained, lost, or another node leading). */
  onChange: (view: ElectionView) => void;
}

/** One node's part in the trainer election. */
export class TrainerElection {
  readonly #d: TrainerElectionDeps;
  #kv: KV | undefined;
  #leaseMs: number;
  #timer: TimerHandle | undefined;
  /** The revision this node last wrote to the key while it leads; undefined when it does not. */
  #revision: number | undefined;
  #renewedMs = 0;
  #view: ElectionView = { leader: null, self: false };
  #ticking: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(deps: TrainerElectionDeps) {
    this.#d = deps;
    this.#leaseMs = deps.leaseMs;
  }

  /** The view now. */
  get view(): ElectionView {
    return this.#view;
  }

  /** The lease in force: the bucket's TTL (the first node to create the bucket set it). */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** Opens the bucket and takes part: the first round runs before this resolves. */
  async start(): Promise<void> {
    // A renewal that has not answered within a third of the lease counts as failed.
    const js = this.#d.nc.jetstream({ timeout: Math.max(500, Math.round(this.#d.leaseMs / 3)) });
    const kv = await js.views.kv(this.#d.bucket, { ttl: this.#d.leaseMs, history: 1 });
    this.#kv = kv;
    const ttl = (await kv.status()).ttl;
    if (ttl > 0 && ttl !== this.#d.leaseMs) {
      this.#d.log.warn(
        `trainer lease is the bucket ${this.#d.bucket}'s TTL ${ttl} ms, not trainerLeaseMs ${this.#d.leaseMs} ms (set by the node that created it)`,
      );
      this.#leaseMs = ttl;
    }
    await this.#round();
    this.#next();
  }

  #next(): void {
    if (this.#stopped) return;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#ticking = this.#round().finally(() => this.#next());
    }, this.#leaseMs / 3);
  }

  /** One round: renew while leading, else try to take the key, else read who holds it. */
  async #round(): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#stopped) return;
    const me = this.#d.nodeId;
    const value = JSON.stringify({ node: me });
    if (this.#revision !== undefined) {
      try {
        this.#revision = await kv.update(LEADER_KEY, value, this.#revision);
        this.#renewedMs = this.#d.clock.now();
      } catch (err) {
        if (apiCode(err) === WRONG_LAST_SEQUENCE) {
          this.#lose('the key changed under this node (its lease had expired)');
        } else if (this.#d.clock.now() - this.#renewedMs >= (2 * this.#leaseMs) / 3) {
          // Its key may expire before the next round: stop training now, before another node can lead.
          this.#lose(
            `could not renew for ${this.#d.clock.now() - this.#renewedMs} ms: ${(err as Error).message}`,
          );
        }
      }
      return;
    }
    try {
      this.#revision = await kv.create(LEADER_KEY, value);
      this.#renewedMs = this.#d.clock.now();
      this.#set({ leader: me, self: true });
      logEvent(
        this.#d.log,
        'trainer-elected',
        { leader: me, leaseMs: this.#leaseMs, revision: this.#revision },
        `${me} is the cluster's trainer (lease ${this.#leaseMs} ms)`,
      );
      return;
    } catch (err) {
      if (apiCode(err) !== WRONG_LAST_SEQUENCE) {
        this.#d.log.warn(`trainer election: ${(err as Error).message}`);
        return;
      }
    }
    try {
      const e = await kv.get(LEADER_KEY);
      const leader = e?.operation === 'PUT' ? leaderOf(e.string()) : null;
      this.#set({ leader, self: false });
    } catch (err) {
      this.#d.log.warn(`trainer election: reading the leader failed: ${(err as Error).message}`);
    }
  }

  #lose(reason: string): void {
    this.#revision = undefined;
    this.#set({ leader: null, self: false });
    logEvent(
      this.#d.log,
      'trainer-lost',
      { trainer: this.#d.nodeId, reason },
      `${this.#d.nodeId} is no longer the cluster's trainer: ${reason}`,
    );
  }

  #set(view: ElectionView): void {
    if (view.leader === this.#view.leader && view.self === this.#view.self) return;
    this.#view = view;
    this.#d.onChange(view);
  }

  /** Leaves the election; a leader gives the key up so that another node leads at its next round. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    const rev = this.#revision;
    if (rev === undefined || this.#kv === undefined) return;
    this.#revision = undefined;
    try {
      await this.#kv.delete(LEADER_KEY, { previousSeq: rev });
      logEvent(
        this.#d.log,
        'trainer-lost',
        { trainer: this.#d.nodeId, reason: 'stopping' },
        `${this.#d.nodeId} is no longer the cluster's trainer: stopping`,
      );
    } catch (err) {
      // Lost already, or NATS is gone: the key expires by itself.
      this.#d.log.warn(`trainer election: giving up the key failed: ${(err as Error).message}`);
    }
    this.#set({ leader: null, self: false });
  }
}

function apiCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } }).api_error?.err_code;
}

/** The node id in the key's value; null when it is not ours (written behind our back). */
function leaderOf(text: string): string | null {
  try {
    const v = JSON.parse(text) as unknown;
    const node = typeof v === 'object' && v !== null ? (v as { node?: unknown }).node : undefined;
    return typeof node === 'string' && node !== '' ? node : null;
  } catch {
    return null;
  }
}
