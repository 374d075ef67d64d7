/**
 * A discrete-event simulation of the token ownership protocol on a
 * SimulatedClock, for test/unit/ownership-protocol.test.ts (issue 11: never
 * two grantors beyond the bound, over random interleavings of faults).
 *
 * What is real: Ownership (services/cluster/ownership.ts) decides every
 * fence, TokenActor (actors/token-actor.ts) decides every grant and merges
 * every hand-off, Placement (lib/placement.ts) says who owns a token under a
 * view, all on one SimulatedClock. What is modelled, because the real parts
 * need NATS, Moleculer and Node's own timers, each after the file named:
 *
 * - the transport: messages with a delay, queued while the receiver is
 *   paused, lost while the sender is cut off; a request to a node that is
 *   dead or cut off gets NATS's "no responders" back (a paused one's waits);
 * - the heartbeats and their judging (beats.ts): silence after
 *   `deadAfterMs`; blind (no one new taken out) while cut off and for
 *   `deadAfterMs + beatMs` after a reconnect; a late beat timer or a late
 *   take is a stall, which counts everyone's silence afresh; a node cut off
 *   for over `deadAfterMs / 2` grants nothing (`checkContact`); a lost
 *   contact fences what the node holds until now + `awayMs` (Ownership);
 * - the view (placement-tracker.ts): the registry's nodes minus the silent
 *   and the suspected ones; a joining node reaches each registry, and each
 *   registry's answer reaches it, after a delay; its beats start with it;
 * - a complete view (beats.ts `completeView`): the node has listened to the
 *   beats for 1.5 beat periods and its registry lists every node it heard
 *   beating within `deadAfterMs`. Until then other nodes' takes and passed-on
 *   items wait (node.ts around the link's take, ThrottleNode
 *   `awaitCompleteView`), each at most `JOIN_WAIT_MS`; past that the node
 *   calls `Ownership.stateLost` (once) and they go on;
 * - the start of a node (node.ts `foundPeers`): it answers clients only once
 *   its view has another node and is complete, or 1.5 x heartbeat after it
 *   starts; until then its clients go to other nodes;
 * - the hand-off (handoff.ts): on every view change a node hands the actors
 *   it no longer owns to their new owners and says done to every node new
 *   in its view (also with nothing to hand); a joining node, at its first
 *   view with peers and for `JOIN_WINDOW_MS` after, holds the tokens each
 *   newly seen peer owned without it until that peer's done (at most
 *   `JOIN_WAIT_MS`; then `Ownership.stateLost`, and a token whose wait ran
 *   out starts fenced at now + `settleMs` at least, throttle-node.ts
 *   `#withoutState`); a done that came first is remembered; a hand-off
 *   from a node the receiver does not know yet waits until it does
 *   (throttle-service.ts `becomesLive`), and an item it restores is kept
 *   even when its token has moved on meanwhile (handoff.ts receive);
 * - the check path (gateway.ts, router.ts, throttle-node.ts): every serving
 *   node's gateway gets a request for every hot token every few ms (HTTP:
 *   even while the node is cut off from NATS) and sends each item to the
 *   owner in its view; that node serves it if it holds the actor or owns the
 *   token in its own view, else passes it on once, and a passed-on item is
 *   served where it lands (fresh, it starts fenced at now + settleMs when
 *   the node's view names another owner). "No responders" makes a gateway
 *   (or a node passing items on) suspect the owner for `deadAfterMs` and
 *   route again, unless it is blind: then it asks again 150 ms later, for up
 *   to 2 x `ownerTimeoutMs`. A timeout never re-routes. A take allowed
 *   after its client gave up (`ownerTimeoutMs`) is spent but lets no one
 *   through: it is counted apart.
 *
 * A paused node (SIGSTOP) runs nothing; on resume it first handles what
 * waited in its socket (beats, requests, hand-offs, in arrival order; each
 * request checks for a stall first, as ThrottleNode.take does), then its
 * late timers, as Node's event loop does after SIGCONT. Not modelled:
 * nats-server dropping a paused node's connection (ping timeout), Moleculer's
 * registry dropping nodes, refunds, passivation, graceful leaves.
 */
import { TokenActor } from '../../actors/index.ts';
import type { TokenActorSnapshot } from '../../actors/index.ts';
import {
  compileRule,
  gcraToleranceMs,
  mulberry32,
  ownerOf,
  parseRule,
  Placement,
  SimulatedClock,
  tokenKeyOf,
} from '../../lib/index.ts';
import type { CompiledRule, TokenKey } from '../../lib/index.ts';
import { Ownership } from '../../services/cluster/index.ts';
import { HANDOFF_WAIT_MS, JOIN_WAIT_MS, JOIN_WINDOW_MS } from '../../services/cluster/handoff.ts';

/** The protocol's timing, as a node derives it from `heartbeatMs: 1000` (services/node/node.ts). */
export interface ProtocolParams {
  beatMs: number;
  deadAfterMs: number;
  settleMs: number;
  /** Ownership `awayMs`: how far a lost contact fences (node.ts passes heartbeatMs, the suspicion's length). */
  awayMs: number;
  stallMs: number;
  learnMs: number;
}

export const NODE_DEFAULTS: Readonly<ProtocolParams> = Object.freeze({
  beatMs: 200,
  deadAfterMs: 1000,
  settleMs: 500,
  awayMs: 1000,
  stallMs: 500,
  learnMs: 2000,
});

export type Fault =
  /** The node's process dies: it sends and serves nothing more. */
  | { kind: 'kill'; node: string; atMs: number }
  /** SIGSTOP for `forMs`, then SIGCONT. */
  | { kind: 'pause'; node: string; atMs: number; forMs: number }
  /** A new node starts: it finds the others, waits for their hand-offs, then serves (node.ts, handoff.ts). */
  | { kind: 'join'; node: string; atMs: number }
  /** NATS restarts: every node is cut off for `forMs`, each back within `reconnectSkewMs`. */
  | { kind: 'blackout'; atMs: number; forMs: number }
  /** One node is cut off from NATS for `forMs`; its HTTP clients still reach it. */
  | { kind: 'cut'; node: string; atMs: number; forMs: number };

/** Message delays, each drawn uniformly from [0, max] per message. */
export interface NetOptions {
  beatDelayMaxMs: number;
  handoffDelayMaxMs: number;
  /** How long a joining node takes to reach each registry (and each to reach its), at most. */
  discoveryDelayMaxMs: number;
  /** How late a beat timer fires, at most (timer jitter). */
  beatJitterMs: number;
  /** After a blackout, nodes reconnect within this of each other. */
  reconnectSkewMs: number;
}

export interface Scenario {
  durationMs: number;
  /** The nodes up at the start (they see each other from the start). */
  nodes: readonly string[];
  faults: readonly Fault[];
  net: NetOptions;
  /** Each node gets a request for every hot token every this many ms. */
  clientEveryMs: number;
  /** Seeds the per-message delays, beat phases and client offsets. */
  seed: number;
  params?: ProtocolParams;
}

/** The hot tokens: a short tolerance (100/s burst 100, 1 s) and a long one (10/min burst 10, 60 s > learnMs). */
export const RULES: readonly CompiledRule[] = [
  compileRule(parseRule({ id: 'fast', key: ['user'], rate: 100, period: '1s', burst: 100 })),
  compileRule(parseRule({ id: 'slow', key: ['user'], rate: 10, period: '1m', burst: 10 })),
];

export const T0 = 1_764_000_000_000;

export interface Grant {
  atMs: number;
  node: string;
}

export interface TokenResult {
  token: TokenKey;
  rule: CompiledRule;
  grants: Grant[];
  /** Takes allowed after their client had given up (a request that waited in a paused node): not counted in grants. */
  late: number;
  /** Actors started without their previous owner's state, after the token's first start. */
  statelessStarts: number;
  /** Starts fenced for the rule's whole tolerance (the token had two other owners within it, Ownership.fenceFor). */
  fullFences: number;
  /** How far the grants went past one GCRA's (see {@link excessOf}). */
  excess: Excess;
}

export interface SimResult {
  tokens: TokenResult[];
  /** Views, fences, stalls, hand-offs and faults, in time order (ms since the start). */
  log: string[];
}

/**
 * How many grants went past what one GCRA of `limit` allows (burst +
 * rate x elapsed): over the whole run, in the worst 1 s window, and in the
 * worst interval of any length (the strictest; 0 or less means the grants
 * together conform to one bucket).
 */
export interface Excess {
  wholeRun: number;
  window1s: number;
  anyInterval: number;
}

export function excessOf(times: readonly number[], rule: CompiledRule, durationMs: number): Excess {
  const { burst } = rule.limit;
  const t = rule.limit.periodMs / rule.limit.rate;
  const wholeRun = times.length - (burst + durationMs / t);
  let window1s = -burst - 1000 / t;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= 1000) lo++;
    window1s = Math.max(window1s, hi - lo + 1 - (burst + 1000 / t));
  }
  // max over i <= j of (j - i + 1) - burst - (t_j - t_i) / T, in one pass.
  let anyInterval = times.length === 0 ? -burst : Number.NEGATIVE_INFINITY;
  let minStart = Number.POSITIVE_INFINITY;
  for (let j = 0; j < times.length; j++) {
    minStart = Math.min(minStart, j - times[j]! / t);
    anyInterval = Math.max(anyInterval, j - times[j]! / t - minStart + 1 - burst);
  }
  return { wholeRun, window1s, anyInterval };
}

/** The nodes a scenario may add (join faults): hot tokens are picked so that a join moves some. */
export const JOINERS: readonly string[] = ['n4', 'n5'];

/**
 * Hot tokens: `perRule` tokens of each rule whose first owners differ, the
 * first of them moving to `joiners[0]` when it joins `nodes`, the second to
 * `joiners[1]` (so a join hands tokens over), the rest any.
 */
export function hotTokens(
  nodes: readonly string[],
  perRule: number,
  joiners: readonly string[] = JOINERS,
): Array<{ token: TokenKey; rule: CompiledRule }> {
  const out: Array<{ token: TokenKey; rule: CompiledRule }> = [];
  for (const rule of RULES) {
    const owners = new Set<string>();
    const want = Math.min(perRule, nodes.length);
    for (let k = 0; owners.size < want; k++) {
      const joiner = joiners[k];
      let found = false;
      for (let u = 0; u < 10_000 && !found; u++) {
        const token = tokenKeyOf(rule, { user: `u${u}` });
        const owner = ownerOf(token, nodes)!;
        if (owners.has(owner)) continue;
        if (joiner !== undefined && ownerOf(token, [...nodes, joiner]) !== joiner) continue;
        owners.add(owner);
        out.push({ token, rule });
        found = true;
      }
      if (!found) throw new Error(`no hot token of ${rule.id} for ${joiner ?? 'any node'}`);
    }
  }
  return out;
}

type Work = { kind: 'io' | 'timer'; fn: () => void };

/**
 * The simulation's events in time order (a binary heap; ties in the order
 * they were scheduled). The SimulatedClock is set to each event's time
 * before it runs, so Ownership and TokenActor read the simulated now.
 */
class Agenda {
  #heap: Array<{ at: number; seq: number; fn: () => void }> = [];
  #seq = 0;

  push(at: number, fn: () => void): void {
    const h = this.#heap;
    h.push({ at, seq: this.#seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.#before(h[i]!, h[up]!)) break;
      const e = h[i]!;
      h[i] = h[up]!;
      h[up] = e;
      i = up;
    }
  }

  /** Runs every event due up to `untilMs`, in order, on `clock`. */
  run(clock: SimulatedClock, untilMs: number): void {
    const h = this.#heap;
    while (h.length > 0 && h[0]!.at <= untilMs) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && this.#before(h[l]!, h[m]!)) m = l;
          if (r < h.length && this.#before(h[r]!, h[m]!)) m = r;
          if (m === i) break;
          const e = h[i]!;
          h[i] = h[m]!;
          h[m] = e;
          i = m;
        }
      }
      clock.set(top.at);
      top.fn();
    }
    clock.set(untilMs);
  }

  #before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

interface Token {
  token: TokenKey;
  rule: CompiledRule;
  grants: Grant[];
  late: number;
  starts: number;
  fullFences: number;
}

/** A client's (and a gateway's) timeout for a check (node-options.ts `ownerTimeoutMs`). */
export const OWNER_TIMEOUT_MS = 1000;

class Sim {
  readonly clock = new SimulatedClock(T0);
  readonly agenda = new Agenda();
  readonly p: ProtocolParams;
  readonly net: NetOptions;
  readonly rnd: () => number;
  readonly nodes = new Map<string, SimNode>();
  readonly tokens: Token[];
  readonly log: string[] = [];
  readonly scenario: Scenario;
  /** Until when nats-server is down (a blackout). */
  #natsDownUntil = 0;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.p = scenario.params ?? NODE_DEFAULTS;
    this.net = scenario.net;
    this.rnd = mulberry32(scenario.seed);
    this.tokens = hotTokens(scenario.nodes, 2).map(({ token, rule }) => ({
      token,
      rule,
      grants: [],
      late: 0,
      starts: 0,
      fullFences: 0,
    }));
  }

  now(): number {
    return this.clock.now() - T0;
  }

  note(node: string, what: string): void {
    this.log.push(`${this.now()} ${node} ${what}`);
  }

  delay(maxMs: number): number {
    return Math.round(this.rnd() * maxMs);
  }

  /** Runs `fn` at `ms` since the start. */
  at(ms: number, fn: () => void): void {
    this.agenda.push(T0 + ms, fn);
  }

  /** Runs `fn` `ms` from now. */
  after(fn: () => void, ms: number): void {
    this.agenda.push(this.clock.now() + ms, fn);
  }

  run(): SimResult {
    const s = this.scenario;
    for (const id of s.nodes) this.nodes.set(id, new SimNode(this, id, s.nodes, true));
    for (const n of this.nodes.values()) n.start();
    for (const f of s.faults) this.at(f.atMs, () => this.#apply(f));
    this.agenda.run(this.clock, T0 + s.durationMs);
    return {
      tokens: this.tokens.map((tk) => ({
        token: tk.token,
        rule: tk.rule,
        grants: tk.grants,
        late: tk.late,
        statelessStarts: Math.max(0, tk.starts - 1),
        fullFences: tk.fullFences,
        excess: excessOf(
          tk.grants.map((g) => g.atMs),
          tk.rule,
          s.durationMs,
        ),
      })),
      log: this.log,
    };
  }

  /** Nodes that are up (running or paused). */
  alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.state !== 'dead');
  }

  /** Where a client of a node that does not answer yet goes: another node that does (random), if any. */
  elsewhere(from: SimNode): SimNode | undefined {
    const up = this.alive().filter((n) => n !== from && n.serving && n.connected);
    return up.length === 0 ? undefined : up[Math.floor(this.rnd() * up.length)];
  }

  #apply(f: Fault): void {
    if (f.kind === 'blackout') {
      this.note('*', `NATS down for ${f.forMs} ms`);
      this.#natsDownUntil = Math.max(this.#natsDownUntil, T0 + f.atMs + f.forMs);
      for (const n of this.alive()) {
        n.disconnect();
        this.at(f.atMs + f.forMs + this.delay(this.net.reconnectSkewMs), () => this.#reconnect(n));
      }
      return;
    }
    if (f.kind === 'join') {
      if (this.nodes.has(f.node)) return;
      // A node cannot start while NATS is down (its first connect fails): it starts once NATS is back.
      if (this.clock.now() < this.#natsDownUntil) {
        const startMs = this.#natsDownUntil - T0 + this.delay(this.net.reconnectSkewMs);
        this.at(startMs, () => this.#apply({ ...f, atMs: startMs }));
        return;
      }
      const n = new SimNode(this, f.node, [f.node], false);
      this.nodes.set(f.node, n);
      this.note(f.node, 'joins');
      n.start();
      // The registries learn of it (its INFO) and it of them (their answers), each after a delay,
      // over NATS: while either end is cut off, once it is back.
      for (const other of this.alive()) {
        if (other === n) continue;
        this.#overNats(other, n, this.delay(this.net.discoveryDelayMaxMs), () =>
          other.post('io', () => {
            other.discover(f.node);
            this.#overNats(n, other, this.delay(this.net.discoveryDelayMaxMs), () =>
              n.post('io', () => n.discover(other.id)),
            );
          }),
        );
      }
      return;
    }
    const n = this.nodes.get(f.node);
    if (n === undefined || n.state === 'dead') return;
    if (f.kind === 'kill') {
      // Keep one node up: a run with no node left proves nothing.
      if (this.alive().length <= 1) return;
      this.note(f.node, 'killed');
      n.state = 'dead';
    } else if (f.kind === 'pause') {
      if (n.state === 'paused') return;
      this.note(f.node, `paused for ${f.forMs} ms`);
      n.state = 'paused';
      this.at(f.atMs + f.forMs, () => n.resume());
    } else {
      this.note(f.node, `cut off from NATS for ${f.forMs} ms`);
      n.cutUntil = Math.max(n.cutUntil, T0 + f.atMs + f.forMs);
      n.disconnect();
      this.at(f.atMs + f.forMs, () => this.#reconnect(n));
    }
  }

  /** `n` gets its connection back, unless NATS is still down or it is still cut off (that end reconnects it). */
  #reconnect(n: SimNode): void {
    const now = this.clock.now();
    if (now < this.#natsDownUntil || now < n.cutUntil) return;
    n.post('io', () => n.reconnect());
  }

  /** Runs `fn` in `delayMs` if both ends are connected then; else as soon as they are (looked at every 50 ms). */
  #overNats(a: SimNode, b: SimNode, delayMs: number, fn: () => void): void {
    this.after(() => {
      if (a.state === 'dead' || b.state === 'dead') return;
      if (a.connected && b.connected) fn();
      else this.#overNats(a, b, 50, fn);
    }, delayMs);
  }
}

/** gateway.ts BLIND_RETRY_MS: while blind, an owner with no subscriber is asked again this much later. */
const BLIND_RETRY_MS = 150;
/** gateway.ts ATTEMPTS: a gateway's tries per item, the first owner's and the re-routed ones. */
const GATEWAY_ATTEMPTS = 4;
/** throttle-node.ts #forward: a node with a stale view tries at most this many owners for an item. */
const PASS_ON_ATTEMPTS = 3;
/** node.ts foundPeers: a starting node looks this often whether its view has another node. */
const FOUND_PEERS_POLL_MS = 25;
/** throttle-node.ts awaitCompleteView: a held take looks this often whether the view is complete. */
const VIEW_POLL_MS = 25;
/** throttle-service.ts becomesLive: a hand-off waits 2 s for its receiver to know the sender, tried 5 times. */
const MEET_WAIT_MS = 5 * 2000;

/** A hand-off a joining node waits for (handoff.ts PendingHandoff). */
interface Pending {
  /** The view without the joining node: the sender's tokens under it are held. */
  before: Placement;
  untilMs: number;
  /** Takes held until the sender says done (false) or the wait is given up (true: it ran out). */
  waiters: Array<(ranOut: boolean) => void>;
}

interface HandedActor {
  token: TokenKey;
  rule: CompiledRule;
  snapshot: TokenActorSnapshot;
}

class SimNode {
  readonly sim: Sim;
  readonly id: string;
  readonly ownership: Ownership;
  readonly actors = new Map<TokenKey, TokenActor>();
  /** ThrottleNode's lost-contact fence and its epoch, which actors take lazily (#current). */
  contactFence = Number.NEGATIVE_INFINITY;
  contactEpoch = 0;
  state: 'running' | 'paused' | 'dead' = 'running';
  connected = true;
  /** beats.ts: when its NATS connection last dropped. */
  disconnectedAt = 0;
  /** Until when it is cut off from NATS on its own (a 'cut' fault). */
  cutUntil = 0;
  /** node.ts foundPeers: whether its APIs answer clients yet (a starting node waits for a peer). */
  serving: boolean;
  view = new Placement([]);
  /** The registry: nodes this one knows host actors. */
  readonly known: Set<string>;
  /** placement-tracker.ts suspect: node -> until when it is routed around ("no responders"). */
  readonly suspected = new Map<string, number>();
  /** beats.ts: node -> when last heard; who is silent; until when this node judges no one. */
  readonly heard = new Map<string, number>();
  silent: ReadonlySet<string> = new Set();
  blindUntil = 0;
  lastBeatMs = 0;
  /** beats.ts start: when it began to beat and listen (long before the run for the nodes up from the start). */
  beatsSince: number;
  /** handoff.ts: when it first saw another node (its join); long ago for the nodes up from the start. */
  joinedAt: number | undefined;
  /** handoff.ts: hand-offs it waits for, by sender; dones that came before it expected them. */
  readonly pending = new Map<string, Pending>();
  readonly doneEarly = new Map<string, number>();
  /** throttle-service.ts becomesLive: hand-offs from nodes it does not know yet, until it does. */
  unmet: Array<{ from: string; untilMs: number; run: () => void }> = [];
  queue: Work[] = [];
  readonly #owners = new Map<TokenKey, string | undefined>();
  #startedMs = 0;
  /** Whether it noted that it grants nothing, since it was last cut off. */
  #refusing = false;
  /** throttle-node.ts awaitCompleteView: whether it gave up waiting for a complete view once (stateLost). */
  #viewGivenUp = false;

  constructor(sim: Sim, id: string, known: readonly string[], fromStart: boolean) {
    this.sim = sim;
    this.id = id;
    this.known = new Set(known);
    this.ownership = new Ownership(id, sim.clock, {
      settleMs: sim.p.settleMs,
      awayMs: sim.p.awayMs,
      learnMs: sim.p.learnMs,
    });
    this.serving = fromStart;
    this.joinedAt = fromStart ? Number.NEGATIVE_INFINITY : undefined;
    this.beatsSince = fromStart ? Number.NEGATIVE_INFINITY : sim.clock.now();
  }

  start(): void {
    const sim = this.sim;
    this.#startedMs = sim.clock.now();
    this.#recomputeView();
    this.lastBeatMs = sim.clock.now();
    // The beat timer, from a random phase for the nodes up from the start (they started apart); a
    // joining node beats at once (Beats.start); each firing is up to beatJitterMs late.
    if (this.serving) sim.after(() => this.post('timer', () => this.#beat()), sim.delay(sim.p.beatMs - 1));
    else this.#beat();
    if (!this.serving) sim.after(() => this.post('timer', () => this.#lookForPeers()), FOUND_PEERS_POLL_MS);
    // The clients: a request for every hot token every clientEveryMs, from a random offset; while
    // this node does not answer yet they go to another node that does.
    const every = sim.scenario.clientEveryMs;
    const client = (): void => {
      if (this.state === 'dead') return;
      const gateway = this.serving ? this : sim.elsewhere(this);
      gateway?.post('io', () => gateway.request());
      sim.after(client, every);
    };
    sim.after(client, sim.delay(every));
  }

  /**
   * node.ts foundPeers: answer clients once the view has another node and
   * is complete, or after 1.5 heartbeats (alone, or still incomplete).
   */
  #lookForPeers(): void {
    const sim = this.sim;
    const view = this.currentView();
    const found = view.nodes.length >= 2 && this.completeView();
    if (found || sim.clock.now() - this.#startedMs >= 1.5 * sim.p.deadAfterMs) {
      this.serving = true;
      sim.note(
        this.id,
        `answers clients, view [${view.nodes.join(',')}]${this.completeView() ? '' : ' (incomplete)'}`,
      );
      return;
    }
    sim.after(() => this.post('timer', () => this.#lookForPeers()), FOUND_PEERS_POLL_MS);
  }

  /**
   * beats.ts completeView: it has listened for 1.5 beat periods and its
   * registry lists every node it heard beating within deadAfterMs.
   */
  completeView(): boolean {
    const now = this.sim.clock.now();
    if (now - this.beatsSince < 1.5 * this.sim.p.beatMs) return false;
    for (const [id, at] of this.heard)
      if (now - at <= this.sim.p.deadAfterMs && !this.known.has(id)) return false;
    return true;
  }

  /**
   * node.ts link.serve and serveForwards (ThrottleNode.awaitCompleteView):
   * another node's takes wait until this node's view is complete, looked at
   * every 25 ms, at most JOIN_WAIT_MS per call; past that the node calls
   * Ownership.stateLost (once in its life) and they go on.
   */
  #awaitCompleteView(then: () => void): void {
    const sim = this.sim;
    if (this.completeView()) {
      then();
      return;
    }
    const until = sim.clock.now() + JOIN_WAIT_MS;
    const poll = (): void => {
      if (this.completeView()) {
        then();
        return;
      }
      if (sim.clock.now() >= until) {
        if (!this.#viewGivenUp) {
          this.#viewGivenUp = true;
          this.ownership.stateLost();
          sim.note(this.id, 'view still incomplete: tokens started now are fenced');
        }
        then();
        return;
      }
      sim.after(() => this.post('timer', poll), VIEW_POLL_MS);
    };
    sim.after(() => this.post('timer', poll), VIEW_POLL_MS);
  }

  /** Runs `fn` now, or when this node resumes; never when it is dead. */
  post(kind: Work['kind'], fn: () => void): void {
    if (this.state === 'dead') return;
    if (this.state === 'paused') this.queue.push({ kind, fn });
    else fn();
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    this.sim.note(this.id, 'resumes');
    const q = this.queue;
    this.queue = [];
    // What waited in the socket runs before any timer (Node's event loop after SIGCONT).
    for (const w of q) if (w.kind === 'io' && this.state === 'running') w.fn();
    for (const w of q) if (w.kind === 'timer' && this.state === 'running') w.fn();
  }

  /** beats.ts blind: cut off, or back for less than deadAfterMs + beatMs. */
  get blind(): boolean {
    return !this.connected || this.sim.clock.now() < this.blindUntil;
  }

  /** placement-tracker.ts placement: suspicions expire when the view is read. */
  currentView(): Placement {
    if (this.suspected.size > 0) {
      const now = this.sim.clock.now();
      let expired = false;
      for (const [id, until] of this.suspected) {
        if (until > now) continue;
        this.suspected.delete(id);
        expired = true;
      }
      if (expired) this.#recomputeView();
    }
    return this.view;
  }

  /** The token's owner in this node's view (cached per view: rendezvous hashes on every call). */
  #owner(token: TokenKey): string | undefined {
    const view = this.currentView();
    if (this.#owners.has(token)) return this.#owners.get(token);
    const owner = view.owner(token);
    this.#owners.set(token, owner);
    return owner;
  }

  /** A client's request at this node's gateway (gateway.ts): every hot token's item. */
  request(): void {
    const issuedMs = this.sim.clock.now();
    this.#route(this.sim.tokens, issuedMs, 1, issuedMs + 2 * OWNER_TIMEOUT_MS);
  }

  /** Gateway.#take: each item to its owner in this node's view, one message per owner (owner-lanes.ts). */
  #route(items: readonly Token[], issuedMs: number, attempt: number, blindUntilMs: number): void {
    let remote: Map<string, Token[]> | undefined;
    for (const tk of items) {
      const owner = this.#owner(tk.token);
      if (owner === undefined) continue; // HEADROOM_ERR_NO_OWNER: not reached, a node's view has itself
      if (owner === this.id) {
        this.#take(tk, false, issuedMs);
        continue;
      }
      remote ??= new Map();
      const group = remote.get(owner);
      if (group === undefined) remote.set(owner, [tk]);
      else group.push(tk);
    }
    if (remote === undefined) return;
    for (const [owner, group] of remote) {
      this.#request(
        owner,
        (to) => to.#awaitCompleteView(() => group.forEach((tk) => to.#take(tk, false, issuedMs))),
        () => this.#ownerGone(owner, group, issuedMs, attempt, blindUntilMs),
      );
    }
  }

  /**
   * Gateway.#take on "no responders": suspect the owner and route again,
   * unless this node is blind (then ask again 150 ms later, within
   * 2 x ownerTimeoutMs); past its tries the check fails (retryable).
   */
  #ownerGone(owner: string, group: Token[], issuedMs: number, attempt: number, blindUntilMs: number): void {
    if (!this.blind) {
      if (attempt >= GATEWAY_ATTEMPTS) return;
      this.#suspect(owner, 'take');
      this.#route(group, issuedMs, attempt + 1, blindUntilMs);
      return;
    }
    if (this.sim.clock.now() + BLIND_RETRY_MS > blindUntilMs) return;
    this.sim.after(
      () => this.post('timer', () => this.#route(group, issuedMs, attempt, blindUntilMs)),
      BLIND_RETRY_MS,
    );
  }

  /** A message on the link to `id` (a beat, a hand-off): lost while either end is cut off, or when `id` is dead. */
  #send(id: string, deliver: (to: SimNode) => void, delayMaxMs = this.sim.net.beatDelayMaxMs): void {
    const to = this.sim.nodes.get(id);
    if (to === undefined || !this.connected) return;
    this.sim.after(() => {
      if (to.connected) to.post('io', () => deliver(to));
    }, this.sim.delay(delayMaxMs));
  }

  /**
   * A request on the link (link-requests.ts): lost while this node is cut off
   * (its client times out); NATS answers "no responders" (`gone`, on this
   * node) when `id` is dead or cut off as the request arrives; a paused
   * `id`'s socket holds it.
   */
  #request(id: string, deliver: (to: SimNode) => void, gone: () => void): void {
    const sim = this.sim;
    const to = sim.nodes.get(id);
    if (to === undefined || !this.connected) return;
    sim.after(() => {
      if (to.state !== 'dead' && to.connected) {
        to.post('io', () => deliver(to));
        return;
      }
      sim.after(() => {
        if (this.connected) this.post('io', gone);
      }, sim.delay(sim.net.beatDelayMaxMs));
    }, sim.delay(sim.net.beatDelayMaxMs));
  }

  /**
   * ThrottleNode.take: no grant while cut off (checkContact), a stall is
   * checked first; an item this node neither holds nor owns is passed on to
   * the owner it sees (router.ts), a passed-on item is served where it lands.
   */
  #take(tk: Token, forwarded: boolean, issuedMs: number): void {
    if (this.#cutOff()) return;
    this.checkStall();
    if (!forwarded && !this.actors.has(tk.token)) {
      const owner = this.#owner(tk.token);
      if (owner !== undefined && owner !== this.id) {
        this.#passOn(tk, owner, issuedMs, 1);
        return;
      }
    }
    this.#takeOne(tk, issuedMs);
  }

  /**
   * ThrottleNode.#forward: passes an item on; on "no responders" suspects
   * that owner (or, blind, waits 150 ms) and routes it again, at most
   * PASS_ON_ATTEMPTS owners in all. A timeout fails the check.
   */
  #passOn(tk: Token, owner: string, issuedMs: number, attempt: number): void {
    this.#request(
      owner,
      (to) => to.#awaitCompleteView(() => to.#take(tk, true, issuedMs)),
      () => {
        if (attempt >= PASS_ON_ATTEMPTS) return;
        const again = (): void => {
          const next = this.actors.has(tk.token) ? this.id : this.#owner(tk.token);
          if (next === undefined || next === this.id) this.#takeOne(tk, issuedMs);
          else this.#passOn(tk, next, issuedMs, attempt + 1);
        };
        if (this.blind) {
          this.sim.after(() => this.post('timer', again), BLIND_RETRY_MS);
          return;
        }
        this.#suspect(owner, 'forward');
        again();
      },
    );
  }

  /**
   * ThrottleNode.#takeOne: a token this node does not hold first waits for
   * a pending hand-off from its owner before this node joined
   * (handoff.ts awaitState); a fresh actor is fenced (the host factory).
   */
  #takeOne(tk: Token, issuedMs: number, ranOut = false): void {
    const sim = this.sim;
    let actor = this.actors.get(tk.token);
    if (actor === undefined) {
      const now = sim.clock.now();
      for (const [from, p] of this.pending) {
        if (p.before.owner(tk.token) !== from) continue;
        const waitMs = Math.min(HANDOFF_WAIT_MS, p.untilMs - now);
        if (waitMs <= 0) continue;
        let resumed = false;
        const resume = (late: boolean): void => {
          if (resumed) return;
          resumed = true;
          this.#takeOne(tk, issuedMs, ranOut || late);
        };
        p.waiters.push(resume);
        sim.after(() => this.post('timer', () => resume(true)), waitMs);
        return;
      }
      const owner = this.#owner(tk.token);
      actor = new TokenActor(tk.token, tk.rule, sim.clock);
      actor.fenceEpoch = this.contactEpoch;
      const known = this.ownership.fenceFor(tk.token, gcraToleranceMs(tk.rule.limit));
      let fence = known?.atMs;
      // Its expected hand-off did not come (#withoutState), or a stale gateway's item landed here:
      // another node may be granting from it too for a while.
      if (ranOut || owner !== this.id) fence = Math.max(fence ?? 0, now + this.ownership.settleMs);
      const capMs = known?.capMs ?? this.ownership.learnMs;
      if (fence !== undefined) actor.fence(fence, capMs);
      this.actors.set(tk.token, actor);
      tk.starts++;
      if (fence !== undefined && capMs === Number.POSITIVE_INFINITY) tk.fullFences++;
      sim.note(
        this.id,
        `starts ${tk.rule.id} without state, its view's owner ${owner ?? 'none'}, fence ${fence === undefined ? 'none' : `${fence - T0}${capMs === Number.POSITIVE_INFINITY ? ' (whole tolerance)' : ''}`}`,
      );
    }
    this.#current(actor);
    if (!actor.check(1).allow) return;
    // The client gave up after ownerTimeoutMs: the take is spent, but nobody was let through by it.
    if (sim.clock.now() - issuedMs > OWNER_TIMEOUT_MS) tk.late++;
    else tk.grants.push({ atMs: sim.now(), node: this.id });
  }

  /** beats.ts checkContact: cut off from NATS for over deadAfterMs / 2, this node grants nothing. */
  #cutOff(): boolean {
    const now = this.sim.clock.now();
    if (this.connected || now - this.disconnectedAt <= this.sim.p.deadAfterMs / 2) return false;
    if (!this.#refusing) {
      this.#refusing = true;
      this.sim.note(this.id, 'grants nothing: cut off from NATS');
    }
    return true;
  }

  /** beats.ts checkContact: a take after a long gap is a stall. */
  checkStall(): void {
    const now = this.sim.clock.now();
    if (now - this.lastBeatMs - this.sim.p.beatMs <= this.sim.p.deadAfterMs / 2) return;
    this.lastBeatMs = now;
    this.#lostContact('stall');
  }

  /** Its NATS connection drops (a NATS restart, a cut). */
  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    this.disconnectedAt = this.sim.clock.now();
    this.#refusing = false;
  }

  reconnect(): void {
    if (this.connected) return;
    this.connected = true;
    this.#lostContact('reconnect');
  }

  discover(node: string): void {
    if (this.known.has(node)) return;
    this.known.add(node);
    this.#recomputeView();
    // Hand-offs from it that waited for this node to know it (throttle-service.ts becomesLive).
    const now = this.sim.clock.now();
    const ready = this.unmet.filter((u) => u.from === node && u.untilMs > now);
    this.unmet = this.unmet.filter((u) => u.from !== node && u.untilMs > now);
    for (const u of ready) u.run();
  }

  #beat(): void {
    const sim = this.sim;
    const p = sim.p;
    const now = sim.clock.now();
    const late = now - this.lastBeatMs - p.beatMs;
    this.lastBeatMs = now;
    if (late > p.deadAfterMs / 2) this.#lostContact('stall');
    for (const other of sim.alive()) if (other !== this) this.#send(other.id, (to) => to.#hear(this.id));
    this.#judge();
    sim.after(() => this.post('timer', () => this.#beat()), p.beatMs + sim.delay(sim.net.beatJitterMs));
  }

  #hear(id: string): void {
    const wasSilent = this.silent.has(id);
    this.heard.set(id, this.sim.clock.now());
    if (wasSilent) this.#judge();
  }

  /** beats.ts: only a reconnect makes a node blind; either way silence counts afresh and it fences all it holds. */
  #lostContact(reason: 'stall' | 'reconnect'): void {
    const sim = this.sim;
    const now = sim.clock.now();
    if (reason === 'reconnect') {
      this.blindUntil = Math.max(this.blindUntil, now + sim.p.deadAfterMs + sim.p.beatMs);
    }
    for (const id of this.heard.keys()) if (!this.silent.has(id)) this.heard.set(id, now);
    // ThrottleNode.contactLost: every resident actor is fenced, lazily (a new epoch, see #current).
    const fence = this.ownership.lostContact(reason);
    this.contactFence = Math.max(this.contactFence, fence);
    this.contactEpoch++;
    sim.note(this.id, `lost contact (${reason}): fenced ${this.actors.size} actors until ${fence - T0}`);
    this.#judge();
  }

  /** ThrottleNode #current: an actor takes the lost-contact fence it has not taken, before it serves or moves. */
  #current(actor: TokenActor): void {
    if (actor.fenceEpoch === this.contactEpoch) return;
    actor.fenceEpoch = this.contactEpoch;
    actor.fence(this.contactFence, this.ownership.learnMs);
  }

  #judge(): void {
    const now = this.sim.clock.now();
    const prev = this.silent;
    const blind = this.blind;
    const next = new Set<string>();
    for (const [id, at] of this.heard) {
      if (now - at > this.sim.p.deadAfterMs && (!blind || prev.has(id))) next.add(id);
    }
    if (next.size === prev.size && [...next].every((id) => prev.has(id))) return;
    this.silent = next;
    this.#recomputeView();
  }

  /** placement-tracker.ts suspect: NATS found no subscriber for `owner`; route around it for deadAfterMs. */
  #suspect(owner: string, via: 'take' | 'forward'): void {
    const until = this.sim.clock.now() + this.sim.p.deadAfterMs;
    const was = this.suspected.get(owner);
    if ((was ?? 0) >= until) return;
    this.suspected.set(owner, until);
    if (was === undefined) this.sim.note(this.id, `suspects ${owner} (${via}): no responders`);
    this.#recomputeView();
  }

  /**
   * placement-tracker.ts: the registry's nodes minus silent and suspected
   * ones; on a change, in the order the listeners run: Ownership, then
   * Handoff (a joining node's expectations, then the hand-off of what moved).
   */
  #recomputeView(): void {
    const sim = this.sim;
    const next = [...this.known].filter((id) => !this.silent.has(id) && !this.suspected.has(id)).sort();
    const prev = this.view;
    if (next.length === prev.nodes.length && next.every((id, i) => id === prev.nodes[i])) return;
    this.view = new Placement(next);
    this.#owners.clear();
    this.ownership.viewChanged(this.view);
    sim.note(this.id, `view [${next.join(',')}]`);
    this.#expectJoinState(prev, this.view);
    this.#handOffMoved(prev, this.view);
  }

  /**
   * handoff.ts #expectJoinState: at its first view with peers and for
   * JOIN_WINDOW_MS after, a joining node expects a hand-off from every newly
   * seen peer for the tokens it owned in the view without this node.
   */
  #expectJoinState(prev: Placement, next: Placement): void {
    const peers = next.nodes.filter((id) => id !== this.id);
    if (peers.length === 0) return;
    const now = this.sim.clock.now();
    if (this.joinedAt === undefined) {
      if (!prev.nodes.every((id) => id === this.id)) return;
      this.joinedAt = now;
    } else if (now - this.joinedAt > JOIN_WINDOW_MS) return;
    const without = new Placement(peers);
    for (const peer of peers) if (!prev.nodes.includes(peer)) this.#expect(peer, without);
  }

  /** handoff.ts #expect (join): hold `from`'s tokens until its done, at most JOIN_WAIT_MS, then fence. */
  #expect(from: string, before: Placement): void {
    if (this.pending.has(from)) return;
    const sim = this.sim;
    const early = this.doneEarly.get(from);
    this.doneEarly.delete(from);
    if (early !== undefined && sim.clock.now() - early < JOIN_WINDOW_MS) return;
    const p: Pending = { before, untilMs: sim.clock.now() + JOIN_WAIT_MS, waiters: [] };
    this.pending.set(from, p);
    sim.note(this.id, `waits for ${from}'s hand-off`);
    sim.after(
      () =>
        this.post('timer', () => {
          if (this.pending.get(from) !== p) return;
          this.pending.delete(from);
          // onHandoffLost runs before the held takes go on (they resume a microtask later).
          this.ownership.stateLost();
          sim.note(this.id, `no hand-off from ${from} in time: tokens started now are fenced`);
          for (const w of p.waiters) w(true);
        }),
      JOIN_WAIT_MS,
    );
  }

  /** handoff.ts #finishPending: `from` said done; a done nobody waits for yet is remembered. */
  #finishPending(from: string): void {
    const p = this.pending.get(from);
    if (p === undefined) {
      this.doneEarly.set(from, this.sim.clock.now());
      return;
    }
    this.pending.delete(from);
    for (const w of p.waiters) w(false);
  }

  /**
   * handoff.ts #handOffMoved: hands every actor this node no longer owns to
   * its new owner, and says done to every node new in its view (also with
   * nothing to hand).
   */
  #handOffMoved(prev: Placement, next: Placement): void {
    const sim = this.sim;
    const joined = new Set(next.nodes.filter((id) => !prev.nodes.includes(id)));
    const byOwner = new Map<string, HandedActor[]>();
    for (const [token, actor] of [...this.actors]) {
      const owner = next.owner(token);
      if (owner === this.id) continue;
      this.actors.delete(token);
      if (owner === undefined) continue; // nobody left to take it
      const list = byOwner.get(owner) ?? [];
      this.#current(actor);
      list.push({ token, rule: actor.rule, snapshot: actor.snapshot() });
      byOwner.set(owner, list);
    }
    for (const n of next.nodes) if (n !== this.id && joined.has(n) && !byOwner.has(n)) byOwner.set(n, []);
    for (const [owner, items] of byOwner) {
      const done = joined.has(owner);
      if (items.length > 0) {
        sim.note(
          this.id,
          `hands ${items.map((i) => i.rule.id).join(',')} to ${owner}${done ? ', done' : ''}`,
        );
      }
      this.#send(owner, (to) => to.#handoffArrives(this.id, items, done), sim.net.handoffDelayMaxMs);
    }
  }

  /** throttle-service.ts receive: a hand-off from a node this one does not know yet waits until it does. */
  #handoffArrives(from: string, items: readonly HandedActor[], done: boolean): void {
    if (this.known.has(from)) {
      this.#receive(from, items, done);
      return;
    }
    const untilMs = this.sim.clock.now() + MEET_WAIT_MS;
    this.unmet.push({ from, untilMs, run: () => this.#receive(from, items, done) });
  }

  /** handoff.ts receive: restore (no fence: the state came with it) or merge (the stricter wins), then done. */
  #receive(from: string, items: readonly HandedActor[], done: boolean): void {
    for (const { token, rule, snapshot } of items) {
      const held = this.actors.get(token);
      this.sim.note(
        this.id,
        `receives ${rule.id} from ${from} (${held === undefined ? 'restored' : 'merged'})`,
      );
      if (held === undefined) {
        const actor = new TokenActor(token, rule, this.sim.clock, snapshot);
        actor.fenceEpoch = this.contactEpoch;
        this.actors.set(token, actor);
      } else held.merge(snapshot);
    }
    if (done) this.#finishPending(from);
  }
}

/** Runs one scenario to its end. */
export function simulate(scenario: Scenario): SimResult {
  return new Sim(scenario).run();
}

/** Grants per node in each `bucketMs` slot that had any (ms: node=count ...), for a counterexample's report. */
export function grantTable(grants: readonly Grant[], bucketMs = 500): string[] {
  const slots = new Map<number, Map<string, number>>();
  for (const g of grants) {
    const slot = Math.floor(g.atMs / bucketMs) * bucketMs;
    let m = slots.get(slot);
    if (m === undefined) slots.set(slot, (m = new Map()));
    m.set(g.node, (m.get(g.node) ?? 0) + 1);
  }
  return [...slots].map(([slot, m]) => `${slot}: ${[...m].map(([n, c]) => `${n}=${c}`).join(' ')}`);
}

/** The tolerance of a rule in ms (burst x T), for bounds in tests. */
export function toleranceOf(rule: CompiledRule): number {
  return gcraToleranceMs(rule.limit);
}
