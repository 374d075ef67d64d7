/**
 * Traffic shifting: routes a pool's requests to its units by weights set
 * from their spare capacity (lib/allocation `spareWeights`), calling the
 * chosen unit with an explicit `nodeID`.
 */
import type { ServiceBroker } from 'moleculer';
import { ErrorCode, StateError, invalidField, pickWeighted, spareWeights } from '../../lib/index.ts';

export interface TrafficRouterOptions {
  /** Action the units serve, e.g. `backend.work`. */
  action: string;
  /**
   * Requests one unit serves at once at full load: a unit's spare capacity
   * is this minus the requests this router has in flight on it.
   */
  unitConcurrency: number;
  /** Weight floor of a saturated unit, as a fraction of its capacity. @default 0.05 */
  epsilon?: number;
  /** Per-call timeout. @default 10000 */
  timeoutMs?: number;
}

export interface TrafficRouterDeps {
  broker: ServiceBroker;
  /** The pool's ready units (node ids), e.g. `ProcessProvider.readyNodeIDs`. */
  units: () => readonly string[];
  /** Uniform draws in [0, 1). @default Math.random */
  random?: () => number;
}

/** Which unit served a routed call, and its answer. */
export interface Routed<T> {
  nodeID: string;
  result: T;
}

/**
 * Weighted router for one pool. Recent load of a unit is the number of this
 * router's calls in flight on it: a unit that slows down (saturated CPU, a
 * noisy neighbour) holds its calls longer, its spare capacity shrinks, and
 * new calls go elsewhere; when it recovers its calls complete and it wins
 * traffic back. The ε floor keeps probing a saturated unit.
 */
export class TrafficRouter {
  readonly #broker: ServiceBroker;
  readonly #units: () => readonly string[];
  readonly #random: () => number;
  readonly #action: string;
  readonly #capacity: number;
  readonly #epsilon: number;
  readonly #timeoutMs: number;
  readonly #inFlight = new Map<string, number>();
  readonly #served = new Map<string, number>();

  constructor(options: TrafficRouterOptions, deps: TrafficRouterDeps) {
    if (typeof options.action !== 'string' || !/^[^.\s]+\.[^\s]+$/.test(options.action))
      throw invalidField('traffic.action', 'a "service.action" name', options.action);
    if (!(Number.isFinite(options.unitConcurrency) && options.unitConcurrency > 0))
      throw invalidField('traffic.unitConcurrency', 'a positive number', options.unitConcurrency);
    const epsilon = options.epsilon ?? 0.05;
    if (!(epsilon > 0 && epsilon <= 1)) throw invalidField('traffic.epsilon', 'a number in (0, 1]', epsilon);
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!(timeoutMs > 0)) throw invalidField('traffic.timeoutMs', 'a positive number', timeoutMs);
    this.#broker = deps.broker;
    this.#units = deps.units;
    this.#random = deps.random ?? Math.random;
    this.#action = options.action;
    this.#capacity = options.unitConcurrency;
    this.#epsilon = epsilon;
    this.#timeoutMs = timeoutMs;
  }

  /** Current weights of the ready units (summing to 1). */
  weights(): Map<string, number> {
    return spareWeights(
      this.#units().map((id) => ({ id, capacity: this.#capacity, load: this.#inFlight.get(id) ?? 0 })),
      this.#epsilon,
    );
  }

  /** Calls served so far, per unit. */
  served(): Map<string, number> {
    return new Map(this.#served);
  }

  /** Picks a unit by weight and calls the action on it. */
  async call<T = unknown>(params: Record<string, unknown> = {}): Promise<Routed<T>> {
    const nodeID = pickWeighted(this.weights(), this.#random());
    if (nodeID === undefined)
      throw new StateError(ErrorCode.NoOwner, `traffic: no ready unit serves ${this.#action}`);
    this.#inFlight.set(nodeID, (this.#inFlight.get(nodeID) ?? 0) + 1);
    try {
      const result = await this.#broker.call<T, Record<string, unknown>>(this.#action, params, {
        nodeID,
        timeout: this.#timeoutMs,
        retries: 0,
      });
      this.#served.set(nodeID, (this.#served.get(nodeID) ?? 0) + 1);
      return { nodeID, result };
    } finally {
      this.#inFlight.set(nodeID, (this.#inFlight.get(nodeID) ?? 1) - 1);
    }
  }
}
