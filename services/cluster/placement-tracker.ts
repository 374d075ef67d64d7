/**
 * Which live nodes host token actors, and so who owns each token. Placement
 * is rendezvous hashing over those nodes (lib/placement.ts): a join or leave
 * moves about 1/N of the tokens. Moleculer's Shard strategy is not used: it
 * is not consistent hashing and `preferLocal` bypasses it.
 *
 * Live means: listed by Moleculer's registry, not silent on the link's
 * heartbeats (beats.ts), not leaving, and not suspected (a gateway's request
 * found no subscriber). While this node is itself cut off or just back
 * (`blind`), it takes no node out on Moleculer's word: the registry drops
 * every node when NATS restarts, and tokens must not move for that.
 */
import type { ServiceBroker } from 'moleculer';
import { Placement } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';

export const ACTOR_SERVICE = 'throttle';

export class PlacementTracker {
  readonly #broker: ServiceBroker;
  readonly #clock: Clock;
  /** nodeID -> until when (ms) it is left out; Infinity for a node that announced its leave. */
  readonly #excluded = new Map<string, number>();
  readonly #listeners: Array<(p: Placement) => void> = [];
  #placement = new Placement([]);
  #live: string[] = [];
  /** Nodes the link's heartbeats say are gone (beats.ts). */
  #silent: ReadonlySet<string> = new Set();
  /** Whether this node is cut off or just back (beats.ts): it then takes no node out. */
  #blind: () => boolean = () => false;
  #recheck: ReturnType<Clock['setTimeout']> | undefined;

  constructor(broker: ServiceBroker, clock: Clock) {
    this.#broker = broker;
    this.#clock = clock;
  }

  get placement(): Placement {
    // Suspicions expire on their own: a slow node comes back without an event.
    if (this.#excluded.size > 0) this.#expire();
    return this.#placement;
  }

  owner(token: string): string | undefined {
    return this.placement.owner(token);
  }

  /** Live nodes hosting the actor service, leaving and suspected ones included. */
  get liveNodes(): readonly string[] {
    return this.#live;
  }

  onChange(listener: (p: Placement) => void): void {
    this.#listeners.push(listener);
  }

  /** Whether this node is blind now (cut off from NATS or just back); set by the node's heartbeats. */
  setBlind(blind: () => boolean): void {
    this.#blind = blind;
  }

  /** Whether a failed request may take a node out now (not while this node is itself cut off). */
  get judging(): boolean {
    return !this.#blind();
  }

  /** The nodes the heartbeats take as gone (beats.ts). */
  setSilent(nodes: ReadonlySet<string>): void {
    this.#silent = nodes;
    this.#recompute();
  }

  /** Re-reads the registry; call on Moleculer's $node.* and $services.changed events. */
  refresh(): void {
    const nodes = new Set<string>();
    for (const svc of this.#broker.registry.getServiceList({ onlyAvailable: true }) as Array<{
      name: string;
      nodeID: string;
    }>) {
      if (svc.name === ACTOR_SERVICE) nodes.add(svc.nodeID);
    }
    if (this.#blind()) {
      // Cut off or just back: nodes the registry dropped meanwhile stay until this node sees again.
      const held = this.#live.filter((id) => !nodes.has(id));
      for (const id of held) nodes.add(id);
      if (held.length > 0 && this.#recheck === undefined) {
        this.#recheck = this.#clock.setTimeout(() => {
          this.#recheck = undefined;
          this.refresh();
        }, 250);
      }
    }
    this.#live = [...nodes].sort();
    this.#recompute();
  }

  /** A node announced that it is leaving: route nothing to it any more. */
  markLeaving(nodeID: string): void {
    this.#excluded.set(nodeID, Number.POSITIVE_INFINITY);
    this.#recompute();
  }

  /**
   * NATS found no subscriber for `nodeID`: route around it for `forMs`.
   * Returns whether this started a suspicion (false: it was suspected already).
   */
  suspect(nodeID: string, forMs: number, via = 'take'): boolean {
    const until = this.#clock.now() + forMs;
    const was = this.#excluded.get(nodeID);
    if ((was ?? 0) >= until) return false;
    this.#excluded.set(nodeID, until);
    this.#recompute();
    if (was !== undefined) return false;
    this.#broker.logger.info(
      { event: 'suspicion', peer: nodeID, via, forMs },
      `routing around node ${nodeID} for ${forMs} ms: no subscriber on its link`,
    );
    return true;
  }

  /** A node (re)joined: whatever we thought of it before no longer holds. */
  forget(nodeID: string): void {
    if (this.#excluded.delete(nodeID)) this.#recompute();
  }

  #expire(): void {
    const now = this.#clock.now();
    let changed = false;
    for (const [id, until] of this.#excluded) {
      if (until <= now) {
        this.#excluded.delete(id);
        changed = true;
      }
    }
    if (changed) this.#recompute();
  }

  #recompute(): void {
    const next = this.#live.filter((id) => !this.#excluded.has(id) && !this.#silent.has(id));
    const prev = this.#placement.nodes;
    if (next.length === prev.length && next.every((id, i) => id === prev[i])) return;
    this.#placement = new Placement(next);
    for (const l of this.#listeners) l(this.#placement);
  }
}
