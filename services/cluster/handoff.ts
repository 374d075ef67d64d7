/**
 * Moving token actors between nodes when placement changes. A node that
 * leaves gracefully first tells every node (they stop routing to it and hold
 * its former tokens until the state arrives), then hands every actor to its
 * new owner. A node that joins is handled the same way from the other side:
 * when it first finds the cluster it expects a hand-off from every node it
 * finds (and from any that shows up in its first `JOIN_WINDOW_MS`), and
 * holds the tokens each of them owned until that node says it is done; each
 * node, seeing a node join, hands it the actors it now owns and says done.
 * A receiver that already started a token (a request beat the state) keeps
 * the stricter of the two.
 */
import type { ServiceBroker } from 'moleculer';
import type { ActorHost, DormantTokens, TokenActor } from '../../actors/index.ts';
import { Mailbox } from '../../actors/index.ts';
import { ErrorCode, Placement, sleep } from '../../lib/index.ts';
import type { Clock, TokenKey } from '../../lib/index.ts';
import { ACTOR_SERVICE } from './placement-tracker.ts';
import type { PlacementTracker } from './placement-tracker.ts';
import type { HandoffItem, HandoffParams } from '../wire/index.ts';

/** A hand-off's entry: a released actor (its snapshot is made when its chunk is sent) or a dormant token's item. */
type Outgoing = { actor: TokenActor; item?: undefined } | { actor?: undefined; item: HandoffItem };

/**
 * Most JSON bytes and items in one hand-off message: under NATS's default
 * max_payload (1 MiB) with room for the envelope. A busy token's snapshot
 * (a day of its window) is ~46 KB, a one-off user's ~240 bytes.
 */
const HANDOFF_CHUNK_BYTES = 512 * 1024;
const HANDOFF_CHUNK_ITEMS = 2000;
import { refOf } from '../wire/index.ts';

/** How long a new owner waits for a leaving node's hand-off before it starts a token afresh. */
export const HANDOFF_WAIT_MS = 3000;

/** After a node first finds the cluster, nodes it finds this soon still count as there before it. */
export const JOIN_WINDOW_MS = 2000;

/**
 * How long a check waits for a joining node's expected hand-off (less than
 * an owner timeout, so it does not time out); a token that goes on without
 * its state starts fenced (ownership.ts). The expectation itself lasts
 * {@link HANDOFF_WAIT_MS}; a peer that has not said done by then is given
 * up (`onHandoffLost`).
 */
export const JOIN_WAIT_MS = 750;

export interface HandoffDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  clock: Clock;
  host: ActorHost<TokenKey, TokenActor>;
  dormant: DormantTokens<HandoffItem>;
  /** Brings an actor up to date before its state is handed on (throttle-node.ts: a lost contact's fence). */
  current?: (actor: TokenActor) => void;
  logError: (err: unknown) => void;
  /** A joining node gave up waiting for `from`'s hand-off: what it starts now may be served there too. */
  onHandoffLost?: (from: string) => void;
}

interface PendingHandoff {
  before: Placement;
  done: Promise<void>;
  resolve: () => void;
  /** When the wait is given up. */
  untilMs: number;
  join: boolean;
}

export class Handoff {
  readonly #deps: HandoffDeps;
  readonly #pending = new Map<string, PendingHandoff>();
  /** Nodes whose "done" came before this node expected it (a join race), and when. */
  readonly #doneEarly = new Map<string, number>();
  /** Hand-offs run one at a time so two placement changes never interleave. */
  readonly #queue = new Mailbox();
  #leaving = false;

  /** When this node first saw another node (its join), if it has. */
  #joinedAt: number | undefined;

  constructor(deps: HandoffDeps) {
    this.#deps = deps;
    let before = deps.tracker.placement;
    deps.tracker.onChange((p) => {
      const prev = before;
      before = p;
      this.#expectJoinState(prev, p);
      if (this.#leaving) return;
      const joined = new Set(p.nodes.filter((id) => !prev.nodes.includes(id)));
      void this.#queue.enqueue(() => this.#handOffMoved(p, joined)).catch(deps.logError);
    });
  }

  /**
   * This node is joining (it saw only itself until now, or joined moments
   * ago): the tokens it now owns were the others' until now, so it waits for
   * each newly seen node's hand-off before it serves them.
   */
  #expectJoinState(prev: Placement, next: Placement): void {
    const self = this.#deps.broker.nodeID;
    const peers = next.nodes.filter((id) => id !== self);
    if (peers.length === 0) return;
    const now = this.#deps.clock.now();
    if (this.#joinedAt === undefined) {
      if (!prev.nodes.every((id) => id === self)) return;
      this.#joinedAt = now;
    } else if (now - this.#joinedAt > JOIN_WINDOW_MS) return;
    const without = new Placement(peers);
    for (const peer of peers)
      if (!prev.nodes.includes(peer)) this.#expect(peer, without, HANDOFF_WAIT_MS, true);
  }

  /** Hand-offs this node is waiting for (a leaving node's, or a joining node's peers'). */
  get pending(): number {
    return this.#pending.size;
  }

  /** This node is leaving: it owns nothing any more. */
  get leaving(): boolean {
    return this.#leaving;
  }

  /**
   * While a leaving node hands over, or a joining node's peers do, the
   * tokens they owned wait for their state. Returns true when the wait ran
   * out first: the token then starts without its state, and the caller
   * fences it.
   */
  async awaitState(token: TokenKey): Promise<boolean> {
    let cut = false;
    for (const [from, p] of this.#pending) {
      if (p.before.owner(token) === from) {
        const waitMs = Math.min(p.join ? JOIN_WAIT_MS : HANDOFF_WAIT_MS, p.untilMs - this.#deps.clock.now());
        if (waitMs <= 0) continue;
        let timer: ReturnType<Clock['setTimeout']> | undefined;
        const ranOut = await Promise.race([
          p.done.then(() => false),
          new Promise<boolean>((r) => (timer = this.#deps.clock.setTimeout(() => r(true), waitMs))),
        ]);
        if (timer !== undefined) this.#deps.clock.clearTimeout(timer);
        if (ranOut) cut = true;
      }
    }
    return cut;
  }

  /** Another node announced its leave: stop routing to it and expect its actors. */
  prepareLeave(nodeID: string): void {
    this.#expect(nodeID, this.#deps.tracker.placement, HANDOFF_WAIT_MS * 2);
    this.#deps.tracker.markLeaving(nodeID);
  }

  /** Holds the tokens `from` owned under `before` until it says done (or `giveUpMs` passes). */
  #expect(from: string, before: Placement, giveUpMs: number, join = false): void {
    if (this.#pending.has(from)) return;
    const early = this.#doneEarly.get(from);
    this.#doneEarly.delete(from);
    if (join && early !== undefined && this.#deps.clock.now() - early < JOIN_WINDOW_MS) return;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const untilMs = this.#deps.clock.now() + giveUpMs;
    this.#pending.set(from, { before, done, resolve, untilMs, join });
    // Give up waiting eventually: a node that dies mid-hand-off never says done.
    this.#deps.clock.setTimeout(() => {
      const p = this.#pending.get(from);
      if (p === undefined || p.done !== done) return;
      this.#finishPending(from);
      if (join) this.#deps.onHandoffLost?.(from);
    }, giveUpMs);
  }

  #finishPending(nodeID: string): void {
    const p = this.#pending.get(nodeID);
    if (p === undefined) {
      this.#doneEarly.set(nodeID, this.#deps.clock.now());
      if (this.#doneEarly.size > 1024) this.#doneEarly.clear();
      return;
    }
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
          // A dormant state is dropped only once its actor is made (restore activates at once here).
          const merge = dormant.wake(token, (sleeping) => {
            host.restore(token, sleeping ?? item);
            return sleeping !== undefined;
          });
          if (!merge) return;
        }
        // Requests (or a dormant state) were here before this state: keep the stricter.
        await host.ask(token, (a) => a.merge(item.snapshot));
      }),
    );
    if (params.done) this.#finishPending(params.from);
    return params.items.length;
  }

  /**
   * Hands every actor this node no longer owns under `placement` to its new
   * owner; `doneTo` (every node, when leaving) hears "done" even with nothing to take.
   */
  async #handOffMoved(placement: Placement, doneTo: ReadonlySet<string> | 'all'): Promise<void> {
    const { broker, host, dormant } = this.#deps;
    const self = broker.nodeID;
    const moved = host.keys().filter((k) => placement.owner(k) !== self);
    const released = moved.length > 0 ? await host.release(moved) : new Map<TokenKey, TokenActor>();
    // Per new owner: what it takes, its snapshot made only when its chunk is sent (100,000 actors'
    // snapshots at once held ~200 MB, and one message per owner went past NATS's max_payload).
    const byOwner = new Map<string, Outgoing[]>();
    const send = (token: TokenKey, item: Outgoing): void => {
      const owner = placement.owner(token);
      if (owner === undefined) return; // nobody left to take it: the last node is stopping
      const list = byOwner.get(owner);
      if (list === undefined) byOwner.set(owner, [item]);
      else list.push(item);
    };
    for (const [token, actor] of released) send(token, { actor });
    for (const [token, item] of dormant.takeMoved(placement, self)) send(token, { item });
    const isDone = (n: string): boolean => doneTo === 'all' || doneTo.has(n);
    for (const n of placement.nodes) if (n !== self && isDone(n) && !byOwner.has(n)) byOwner.set(n, []);
    const itemOf = (x: Outgoing): HandoffItem => {
      if (x.actor === undefined) return x.item;
      this.#deps.current?.(x.actor);
      return { rule: refOf(x.actor.rule), snapshot: x.actor.snapshot() };
    };
    // Each owner's chunks in order, "done" with the last; owners in parallel.
    const results = await Promise.allSettled(
      [...byOwner].map(async ([owner, list]) => {
        let items: HandoffItem[] = [];
        let bytes = 0;
        for (const x of list) {
          const item = itemOf(x);
          const size = JSON.stringify(item).length;
          if (
            items.length > 0 &&
            (bytes + size > HANDOFF_CHUNK_BYTES || items.length >= HANDOFF_CHUNK_ITEMS)
          ) {
            await this.#send(owner, { from: self, items, done: false });
            items = [];
            bytes = 0;
          }
          items.push(item);
          bytes += size;
        }
        await this.#send(owner, { from: self, items, done: isDone(owner) });
      }),
    );
    for (const r of results) if (r.status === 'rejected') this.#deps.logError(r.reason);
    const sent = [...byOwner.values()].reduce((n, l) => n + l.length, 0);
    if (sent > 0) {
      const to = Object.fromEntries([...byOwner].map(([owner, items]) => [owner, items.length]));
      broker.logger.info({ event: 'handoff', sent, to }, `handed ${sent} token actors to their new owners`);
    }
  }

  /**
   * Sends one hand-off. A node that has just met this one may not know it yet
   * and refuses (its caller must be a live member): asked again a few times,
   * 100 ms apart, within a joining node's wait.
   */
  async #send(owner: string, params: HandoffParams): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#deps.broker.call<number, HandoffParams>(`${ACTOR_SERVICE}.receive`, params, {
          nodeID: owner,
          timeout: 10_000,
        });
      } catch (err) {
        if (attempt >= 5 || (err as { code?: unknown }).code !== ErrorCode.NotPermitted) throw err;
        await sleep(this.#deps.clock, 100);
      }
    }
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
    await this.#queue.enqueue(() => this.#handOffMoved(tracker.placement, 'all'));
    await this.#deps.host.stop();
  }
}
