// Rendezvous, or highest-random-weight, hashing (Thaler and Ravishankar, "Using
// Name-Based Mappings to Increase Hit Rates", IEEE/ACM ToN 6(1), 1998): each key
// goes to the node with the highest hash(key, node). When a node joins it wins
// about 1/(N+1) of the keys, taken evenly from the others; when one leaves only
// its own keys move. No ring, no virtual nodes, O(N) per lookup.
import { fmix32, hash32 } from './hash.ts';

/** Per-node weight of a key: mixes the key hash with the node's seed. */
function weight(keyHash: number, seed: number): number {
  // Multiply-xorshift before the finaliser so that nearby seeds do not give
  // correlated weights for the same key.
  return fmix32(Math.imul(keyHash ^ seed, 0x9e3779b1) ^ seed);
}

/**
 * Assigns keys to nodes by rendezvous hashing. The node list is deduplicated
 * and sorted, so every node that sees the same members computes the same
 * owners, whatever order it learnt them in.
 *
 * @example new Placement(['node-a', 'node-b']).owner('per-user|user=u1')
 */
export class Placement {
  /** The member nodes, sorted and without duplicates. */
  readonly nodes: readonly string[];
  readonly #seeds: Uint32Array;

  constructor(nodes: readonly string[]) {
    this.nodes = Object.freeze([...new Set(nodes)].sort());
    this.#seeds = Uint32Array.from(this.nodes, (n) => hash32(n));
  }

  /** The node that owns `key`, or `undefined` when there are no nodes. */
  owner(key: string): string | undefined {
    const seeds = this.#seeds;
    const h = hash32(key);
    let best = -1;
    let bestWeight = -1;
    for (let i = 0; i < seeds.length; i++) {
      const w = weight(h, seeds[i] as number);
      // Strict '>' breaks a (rare) tie toward the first node in sorted order.
      if (w > bestWeight) {
        bestWeight = w;
        best = i;
      }
    }
    return best < 0 ? undefined : this.nodes[best];
  }

  /** True when both placements have the same members. */
  sameNodes(other: readonly string[]): boolean {
    const sorted = [...new Set(other)].sort();
    return sorted.length === this.nodes.length && sorted.every((n, i) => n === this.nodes[i]);
  }
}

/** The owner of `key` among `nodes`; build a {@link Placement} to look up many keys. */
export function ownerOf(key: string, nodes: readonly string[]): string | undefined {
  return new Placement(nodes).owner(key);
}
