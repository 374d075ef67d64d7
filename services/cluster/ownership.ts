/**
 * Single-writer ownership with a bound: when may a node grant from a token
 * it has just come to hold, and from what state?
 *
 * Placement (rendezvous hashing over the live nodes) says who owns a token,
 * but each node sees the live nodes through its own, slightly late view, and
 * a node that was killed, paused or cut off from NATS loses its tokens'
 * GCRA state or keeps a stale one. The rule here is Doorman's "learning
 * mode" after an election, per token and in GCRA terms: a node that starts
 * serving a token without knowing everything granted from it assumes the
 * bucket was emptied at the last moment another node could still have been
 * granting (a **fence**: TAT >= fence + burst tolerance). Then
 *
 * - a node that died granted nothing after its death, so its tokens cost
 *   nothing extra when another node takes them over (not one burst: none);
 * - two nodes grant from one token only while their views disagree, each at
 *   most at the token's rate (both fenced): the extra is rate x the time the
 *   views disagree, which `settleMs` bounds;
 * - a node that may have been taken for dead (its event loop stalled past
 *   half a heartbeat, see beats.ts, or its NATS connection dropped) fences
 *   every token it holds before it grants again: whatever others granted meanwhile cannot be
 *   granted twice from a state they did not see.
 *
 * A fence covers `learnMs` of a token's burst tolerance at most, so one
 * fault may let a long rule (10 per minute) through twice, once. A second
 * start without state within the tolerance would let it through a third
 * time: when the token moved twice (an unknown owner counting as a move)
 * in the changes a node remembers within its tolerance, the fence covers
 * the whole tolerance instead (`Fence.capMs`). A node whose first join is
 * within the tolerance counts the past it never saw as a move, so what it
 * takes over without state in that time is fenced whole: its previous
 * owner may have started it without state already (before the join).
 *
 * The old owner's state, when it still has it, follows by hand-off
 * (handoff.ts) and is merged: the stricter TAT wins, so a fence only ever
 * makes a token stricter. Pure: a clock, no Moleculer, no NATS.
 */
import type { Clock, TokenKey } from '../../lib/index.ts';

/** Who owns a token under one view (a Placement). */
export interface OwnerView {
  owner(token: TokenKey): string | undefined;
  /** The live nodes of this view. */
  readonly nodes: readonly string[];
}

export interface OwnershipOptions {
  /**
   * How long after a node's view changes the other nodes may still act on
   * the old one (view convergence: heartbeat period plus delivery). A
   * token's previous owner may go on granting until then.
   */
  settleMs: number;
  /**
   * How long others may route around this node after it was cut off or
   * stalled (a gateway's suspicion lasts this long after its last "no
   * responders"): what it holds is fenced this far. @default settleMs
   */
  awayMs?: number;
  /**
   * The deepest fence, in time: a token is taken as emptied at the fence
   * only up to this much of its burst tolerance. Rules whose tolerance is
   * longer (1 per hour) are not shut for their whole period after every
   * membership change; for them a fault may let at most one burst through
   * twice, once per tolerance (see {@link Fence}). @default 2000
   */
  learnMs?: number;
  /**
   * How long a change is remembered, to see a token that moved twice within
   * its tolerance (its second start without state is fenced for the whole
   * tolerance). A rule whose tolerance is longer may be let through twice
   * once per this much time. At most `MAX_CHANGES` are kept. @default 3_600_000
   */
  memoryMs?: number;
}

/** Where a token started without its previous owner's state begins (TokenActor.fence). */
export interface Fence {
  /** Until when another node may have granted from the token (domain ms): the bucket is taken as emptied then. */
  atMs: number;
  /**
   * How much of the burst tolerance the fence covers: `learnMs`, or all of
   * it (Infinity) when the token moved twice within its tolerance as this
   * node remembers it (an unknown owner after a lost contact or a lost
   * hand-off counts as a move, and so does serving it while the view names
   * another owner, or before ever seeing a peer, and the past before this
   * node's first join): a node it passed through may have started it
   * without state and let its burst through already.
   */
  capMs: number;
}

/** Why a node fenced all it holds, or changed its view. */
export type ChangeReason = 'view' | 'join' | 'stall' | 'reconnect' | 'handoff-lost';

interface Change {
  atMs: number;
  /** The view before the change; null when anything may have been served elsewhere. */
  before: OwnerView | null;
  reason: ChangeReason;
  /** A rejoin's view before it (the node alone, its peers back); null for a node's first join. */
  alone?: OwnerView | null;
}

/** Changes kept at most, oldest dropped first (a flapping view must not grow this). */
const MAX_CHANGES = 64;

export class Ownership {
  readonly #self: string;
  readonly #clock: Clock;
  readonly #settleMs: number;
  readonly #awayMs: number;
  readonly #learnMs: number;
  readonly #memoryMs: number;
  #changes: Change[] = [];
  #view: OwnerView | null = null;
  /** Whether any view of this node has had another node in it. */
  #sawPeers = false;

  constructor(self: string, clock: Clock, options: OwnershipOptions) {
    this.#self = self;
    this.#clock = clock;
    this.#settleMs = options.settleMs;
    this.#awayMs = Math.max(options.settleMs, options.awayMs ?? options.settleMs);
    this.#learnMs = options.learnMs ?? 2000;
    this.#memoryMs = Math.max(this.#learnMs, options.memoryMs ?? 3_600_000);
  }

  get settleMs(): number {
    return this.#settleMs;
  }

  /** The deepest fence in time (a token's fence is at most this much of its burst tolerance). */
  get learnMs(): number {
    return this.#learnMs;
  }

  /** This node's view of the live nodes changed to `next`. */
  viewChanged(next: OwnerView): void {
    const before = this.#view;
    const rejoin = this.#sawPeers;
    this.#view = next;
    if (next.nodes.some((id) => id !== this.#self)) this.#sawPeers = true;
    if (before === null || before.nodes.every((id) => id === this.#self)) {
      // A node that saw only itself is joining: the tokens it gains come with their owners' state
      // (handoff.ts), but a peer it has not heard yet (paused, slow to answer) may still be
      // granting, so what it starts without state is fenced as after a lost contact.
      if (next.nodes.some((id) => id !== this.#self)) this.#record(null, 'join', rejoin ? before : null);
      return;
    }
    this.#record(before, 'view');
  }

  /**
   * This node may have been taken for dead (a stall, a lost connection):
   * any token may have been served elsewhere until the others see it again.
   * Returns the fence for what it holds now.
   */
  lostContact(reason: 'stall' | 'reconnect'): number {
    this.#record(null, reason);
    return this.#clock.now() + this.#awayMs;
  }

  /**
   * This node may have started serving tokens without their state (a
   * joining node gave up waiting for a hand-off): tokens it starts from now
   * on for a while are fenced as after a lost contact, those it holds are not.
   */
  stateLost(): void {
    this.#record(null, 'handoff-lost');
  }

  /**
   * The fence for `token` (burst tolerance `toleranceMs`) when this node
   * starts serving it without its previous owner's state (a new actor, or a
   * dormant one waking): until when another node may have granted from it,
   * and how deep the fence reaches; undefined when no node can have (this
   * node owned it through every remembered change within the tolerance).
   * `sinceMs`: when the token's rule came to be (domain ms): no node granted
   * from the token before, so a change whose fence ends by then counts for
   * nothing (a rule put after a node left starts unfenced).
   */
  fenceFor(token: TokenKey, toleranceMs: number, sinceMs = Number.NEGATIVE_INFINITY): Fence | undefined {
    this.#prune();
    // A change older than this fences nothing: its fence plus the whole tolerance is past.
    const horizon = this.#clock.now() - this.#awayMs - Math.max(toleranceMs, this.#learnMs);
    let atMs: number | undefined;
    // Moves within the tolerance, newest first: the token's owner before each change against its
    // owner after it (the next change's before, or this node). An unknown owner (a lost contact, a
    // lost hand-off) counts as a move; a node's first join is not a move of its own (what a joiner
    // starts came by hand-off, or with a view change counted here) but stands for the past before
    // it (below). Two more: a stale gateway's item served here while the view names another owner
    // (two may grant at once), and a node that has never seen a peer (it knows nothing of the
    // token's past).
    const owner = this.#view?.owner(token);
    let after: string | undefined = owner ?? this.#self;
    let moves = (owner !== undefined && owner !== this.#self ? 1 : 0) + (this.#sawPeers ? 0 : 1);
    // Whether this node's first join is within the tolerance.
    let firstJoin = false;
    for (let i = this.#changes.length - 1; i >= 0; i--) {
      const c = this.#changes[i]!;
      if (c.atMs < horizon) break;
      const until = c.atMs + (c.before === null ? this.#awayMs : this.#settleMs);
      // Before the rule existed: no owner, old or new, granted from the token then.
      if (until <= sinceMs) continue;
      const before = c.before === null ? undefined : c.before.owner(token);
      // A node back from seeing only itself (a rejoin) owned the token before it.
      const was = c.reason === 'join' ? c.alone?.owner(token) : before;
      if (c.reason !== 'join' || was !== undefined) {
        if (was === undefined || was !== after) moves++;
        after = was;
      }
      if (c.reason === 'join' && c.alone === null) firstJoin = true;
      if (before === this.#self) continue;
      if (atMs === undefined || until > atMs) atMs = until;
    }
    if (atMs === undefined) return undefined;
    // A node knows a token's past from before its first join only by the hand-offs it got, and no
    // hand-off tells it that the token's last owner had itself started it without state (a node
    // cut off or killed before this one joined): within the tolerance, that past counts as a move,
    // so a takeover is fenced whole (Doorman's learning mode, for a newcomer's first tolerance).
    if (firstJoin) moves++;
    return { atMs, capMs: moves >= 2 ? Number.POSITIVE_INFINITY : this.#learnMs };
  }

  /**
   * Until when tokens this node starts may still be fenced (its last change
   * plus settle and learning time), or null when none can be: the node's
   * "learning" time after a membership change, shown in status.
   */
  learningUntil(): number | null {
    this.#prune();
    const last = this.#changes.at(-1);
    if (last === undefined) return null;
    const until = last.atMs + this.#awayMs + this.#learnMs;
    return until > this.#clock.now() ? until : null;
  }

  #record(before: OwnerView | null, reason: ChangeReason, alone: OwnerView | null = null): void {
    this.#changes.push({ atMs: this.#clock.now(), before, reason, alone });
    if (this.#changes.length > MAX_CHANGES) {
      // Dropping the oldest view change would lose its fence: fold it into an unknown one instead.
      const [a, b] = this.#changes;
      this.#changes.splice(0, 2, {
        atMs: Math.max(a!.atMs, b!.atMs),
        before: null,
        reason: b!.reason === 'join' ? 'view' : b!.reason, // counted as an unknown owner (fenceFor)
      });
    }
  }

  /** A change matters while its fence can (`awayMs + learnMs` after it), or a second start's (`memoryMs`). */
  #prune(): void {
    const oldest = this.#clock.now() - this.#awayMs - this.#memoryMs;
    let drop = 0;
    while (drop < this.#changes.length && this.#changes[drop]!.atMs < oldest) drop++;
    if (drop > 0) this.#changes.splice(0, drop);
  }
}
