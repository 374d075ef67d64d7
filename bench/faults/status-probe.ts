/**
 * Asks `headroom.v1.status` once a second during a run, as an operator's
 * dashboard would: how long the answers take and how many actors the
 * cluster holds (the one-off fault's memory question).
 */
import type { NatsConnection } from 'nats';
import type { Load } from './load.ts';

export interface ProbeStats {
  sent: number;
  answered: number;
  /** The slowest answer, or the timeout for a request that got none. */
  maxMs: number;
  /** Most live actors summed over the nodes in one answer. */
  maxActors: number;
  /**
   * The highest of each memory figure (MB) a node reported in any answer,
   * with the node (services/collection CollectionStats.memory): where its
   * resident set was. Empty when the nodes run without a store.
   */
  memory: Record<string, { node: string; mb: number }>;
}

type Memory = Record<string, number | null>;

export class StatusProbe {
  readonly stats: ProbeStats = { sent: 0, answered: 0, maxMs: 0, maxActors: 0, memory: {} };
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timer: NodeJS.Timeout;

  constructor(nc: NatsConnection, load: Load, everyMs = 1000, timeoutMs = 5000) {
    this.#timer = setInterval(() => {
      const t = load.now();
      this.stats.sent++;
      const p = nc.request('headroom.v1.status', '{}', { timeout: timeoutMs }).then(
        (msg) => {
          this.stats.answered++;
          this.stats.maxMs = Math.max(this.stats.maxMs, load.now() - t);
          try {
            const reply = JSON.parse(msg.string()) as {
              nodes?: Array<{ id: string; actors: number | null; collection?: { memory?: Memory } | null }>;
            };
            const actors = (reply.nodes ?? []).reduce((s, n) => s + (n.actors ?? 0), 0);
            this.stats.maxActors = Math.max(this.stats.maxActors, actors);
            for (const n of reply.nodes ?? []) this.#memory(n.id, n.collection?.memory);
          } catch {
            // Not JSON: answered, but no actor count.
          }
        },
        () => {
          this.stats.maxMs = Math.max(this.stats.maxMs, timeoutMs);
        },
      );
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
    }, everyMs);
  }

  #memory(node: string, memory: Memory | undefined): void {
    for (const [k, v] of Object.entries(memory ?? {})) {
      const top = this.stats.memory[k];
      if (typeof v === 'number' && (top === undefined || v > top.mb)) this.stats.memory[k] = { node, mb: v };
    }
  }

  /** Stops probing and waits for the answers still due. */
  async stop(): Promise<ProbeStats> {
    clearInterval(this.#timer);
    await Promise.all(this.#inFlight);
    return this.stats;
  }
}
