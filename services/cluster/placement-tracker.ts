/**
 * Which live nodes host token actors, and so who owns each token. Placement
 * is rendezvous hashing over those nodes (lib/placement.ts): a join or leave
 * moves about 1/N of the tokens. Moleculer's Shard strategy is not used: it
 * is not consistent hashing and `preferLocal` bypasses it.
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

  /** Re-reads the registry; call on Moleculer's $node.* and $services.changed events. */
  refresh(): void {
    const nodes = new Set<string>();
    for (const svc of this.#broker.registry.getServiceList({ onlyAvailable: true }) as Array<{
      name: string;
      nodeID: string;
    }>) {
      if (svc.name === ACTOR_SERVICE) nodes.add(svc.nodeID);
    }
    this.#live = [...nodes].sort();
    this.#recompute();
  }

  /** A node announced that it is leaving: route nothing to it any more. */
  markLeaving(nodeID: string): void {
    this.#excluded.set(nodeID, Number.POSITIVE_INFINITY);
    this.#recompute();
  }

  /** A call to `nodeID` failed: route around it for `forMs`. */
  suspect(nodeID: string, forMs: number): void {
    const until = this.#clock.now() + forMs;
    if ((this.#excluded.get(nodeID) ?? 0) >= until) return;
    this.#excluded.set(nodeID, until);
    this.#recompute();
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
    const next = this.#live.filter((id) => !this.#excluded.has(id));
    const prev = this.#placement.nodes;
    if (next.length === prev.length && next.every((id, i) => id === prev[i])) return;
    this.#placement = new Placement(next);
    for (const l of this.#listeners) l(this.#placement);
  }
}
