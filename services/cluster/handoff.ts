/**
 * Moving token actors between nodes when placement changes. A node that
 * leaves gracefully first tells every node (they stop routing to it and hold
 * its former tokens until the state arrives), then hands every actor to its
 * new owner. A node that joins receives the actors it now owns the same way.
 * A receiver that already started a token (a request beat the state) keeps
 * the stricter of the two.
 */
import type { ServiceBroker } from 'moleculer';
import type { ActorHost, DormantTokens, TokenActor } from '../../actors/index.ts';
import { Mailbox } from '../../actors/index.ts';
import type { Clock, Placement, TokenKey } from '../../lib/index.ts';
import { ACTOR_SERVICE } from './placement-tracker.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import type { HandoffItem, HandoffParams } from '../wire/index.ts';
import { refOf } from '../wire/index.ts';

/** How long a new owner waits for a leaving node's hand-off before it starts a token afresh. */
export const HANDOFF_WAIT_MS = 3000;

export interface HandoffDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  clock: Clock;
  host: ActorHost<TokenKey, TokenActor>;
  dormant: DormantTokens<HandoffItem>;
  logError: (err: unknown) => void;
}

interface PendingHandoff {
  before: Placement;
  done: Promise<void>;
  resolve: () => void;
}

export class Handoff {
  readonly #deps: HandoffDeps;
  readonly #pending = new Map<string, PendingHandoff>();
  /** Hand-offs run one at a time so two placement changes never interleave. */
  readonly #queue = new Mailbox();
  #leaving = false;

  constructor(deps: HandoffDeps) {
    this.#deps = deps;
    deps.tracker.onChange((p) => {
      if (!this.#leaving) void this.#queue.enqueue(() => this.#handOffMoved(p)).catch(deps.logError);
    });
  }

  /** This node is leaving: it owns nothing any more. */
  get leaving(): boolean {
    return this.#leaving;
  }

  /** While a leaving node hands over, its former tokens wait for their state. */
  async awaitState(token: TokenKey): Promise<void> {
    for (const [from, p] of this.#pending) {
      if (p.before.owner(token) === from) {
        let timer: ReturnType<Clock['setTimeout']> | undefined;
        await Promise.race([
          p.done,
          new Promise<void>((r) => (timer = this.#deps.clock.setTimeout(r, HANDOFF_WAIT_MS))),
        ]);
        if (timer !== undefined) this.#deps.clock.clearTimeout(timer);
      }
    }
  }

  /** Another node announced its leave: stop routing to it and expect its actors. */
  prepareLeave(nodeID: string): void {
    if (this.#pending.has(nodeID)) return;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.#pending.set(nodeID, { before: this.#deps.tracker.placement, done, resolve });
    // Give up waiting eventually: a node that dies mid-leave never says done.
    this.#deps.clock.setTimeout(() => this.#finishPending(nodeID), HANDOFF_WAIT_MS * 2);
    this.#deps.tracker.markLeaving(nodeID);
  }

  #finishPending(nodeID: string): void {
    const p = this.#pending.get(nodeID);
    if (p === undefined) return;
    this.#pending.delete(nodeID);
    p.resolve();
  }

  /**
   * Receives actors from a node that no longer owns them (the caller checked
   * that `params.from` is the calling node and a live member). A hand-off
   * never loosens a token this node knows: a live or dormant one keeps the
   * stricter of the two states.
   */
  async receive(params: HandoffParams): Promise<number> {
    const { host, dormant } = this.#deps;
    await Promise.all(
      params.items.map(async (item) => {
        const token = item.snapshot.token;
        if (!host.has(token)) {
          const sleeping = dormant.wake(token);
          if (sleeping === undefined) {
            host.restore(token, item);
            return;
          }
          host.restore(token, sleeping);
        }
        // Requests (or a dormant state) were here before this state: keep the stricter.
        await host.ask(token, (a) => a.merge(item.snapshot));
      }),
    );
    if (params.done) this.#finishPending(params.from);
    return params.items.length;
  }

  /** Hands every actor this node no longer owns under `placement` to its new owner. */
  async #handOffMoved(placement: Placement, done = false): Promise<void> {
    const { broker, host, dormant } = this.#deps;
    const self = broker.nodeID;
    const moved = host.keys().filter((k) => placement.owner(k) !== self);
    const released = moved.length > 0 ? await host.release(moved) : new Map<TokenKey, TokenActor>();
    const byOwner = new Map<string, HandoffItem[]>();
    const send = (token: TokenKey, item: HandoffItem): void => {
      const owner = placement.owner(token);
      if (owner === undefined) return; // nobody left to take it: the last node is stopping
      const list = byOwner.get(owner);
      if (list === undefined) byOwner.set(owner, [item]);
      else list.push(item);
    };
    for (const [token, actor] of released)
      send(token, { rule: refOf(actor.rule), snapshot: actor.snapshot() });
    for (const [token, item] of dormant.takeMoved(placement, self)) send(token, item);
    if (done) for (const n of placement.nodes) if (n !== self && !byOwner.has(n)) byOwner.set(n, []);
    const results = await Promise.allSettled(
      [...byOwner].map(([owner, items]) =>
        broker.call<number, HandoffParams>(
          `${ACTOR_SERVICE}.receive`,
          { from: self, items, done },
          { nodeID: owner, timeout: 10_000 },
        ),
      ),
    );
    for (const r of results) if (r.status === 'rejected') this.#deps.logError(r.reason);
    const sent = [...byOwner.values()].reduce((n, l) => n + l.length, 0);
    if (sent > 0) broker.logger.info(`handed ${sent} token actors to their new owners`);
  }

  /** Graceful leave: tell every node, then hand all actors over, then stop the host. */
  async leave(): Promise<void> {
    const { broker, tracker } = this.#deps;
    this.#leaving = true;
    const self = broker.nodeID;
    const others = tracker.liveNodes.filter((n) => n !== self);
    const acks = await Promise.allSettled(
      others.map((n) =>
        broker.call(`${ACTOR_SERVICE}.prepareLeave`, { nodeID: self }, { nodeID: n, timeout: 2000 }),
      ),
    );
    for (const a of acks) if (a.status === 'rejected') this.#deps.logError(a.reason);
    tracker.markLeaving(self);
    await this.#queue.enqueue(() => this.#handOffMoved(tracker.placement, true));
    await this.#deps.host.stop();
  }
}
