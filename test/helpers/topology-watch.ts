// Watches the nodes' `headroom.v1.topology.changed` notices (services/api/
// nats-api.ts) on a plain NATS connection: the latest topology each node
// announced, and a latch for "every node announced the same version".
import type { NatsConnection, Subscription } from 'nats';
import { waitUntil } from './node-process.ts';

export interface AnnouncedTopology {
  version: string;
  node: string;
  nodes: string[];
  rules: Array<{ id: string }>;
}

export class TopologyWatch {
  readonly latest = new Map<string, AnnouncedTopology>();
  readonly #sub: Subscription;

  constructor(nc: NatsConnection) {
    this.#sub = nc.subscribe('headroom.v1.topology.changed', {
      callback: (err, msg) => {
        if (err !== null) return;
        // Tests publish malformed notices too: only a node's (a string `node`) is kept.
        let t: AnnouncedTopology;
        try {
          t = JSON.parse(msg.string()) as AnnouncedTopology;
        } catch {
          return;
        }
        if (typeof t?.node === 'string') this.latest.set(t.node, t);
      },
    });
  }

  /**
   * Waits until every node of `ids` last announced one version that lists
   * exactly `ids` and every rule of `ruleIds`; resolves that version.
   */
  async agreed(ids: readonly string[], ruleIds: readonly string[], timeoutMs = 10_000): Promise<string> {
    let version = '';
    await waitUntil(
      () => {
        const seen = ids.map((id) => this.latest.get(id));
        const first = seen[0];
        if (first === undefined || seen.some((t) => t?.version !== first.version)) return false;
        if (first.nodes.join(',') !== [...ids].sort().join(',')) return false;
        if (!ruleIds.every((r) => first.rules.some((x) => x.id === r))) return false;
        version = first.version;
        return true;
      },
      timeoutMs,
      `nodes ${ids.join(',')} to announce one topology with rules ${ruleIds.join(',')}`,
    );
    return version;
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}
