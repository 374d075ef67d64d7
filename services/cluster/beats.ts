/**
 * A fast failure detector on the owner link: every node publishes a small
 * heartbeat (`{id, seq}`) every `beatMs` on `headroom.int[.<ns>].beat` and
 * listens to everyone's. A node heard before and silent for longer than
 * `deadAfterMs` is taken as gone (placement-tracker.ts routes around it)
 * until it is heard again. Moleculer's own heartbeat stays for discovery; it
 * counts whole seconds and takes 3 to 6 s to notice a dead node, too slow to
 * keep a token's service within a few seconds of a fault.
 *
 * This node judges no one while it is itself cut off or just back: while its
 * connection is down and for `deadAfterMs + beatMs` after it reconnects
 * (`blind`: the others are resubscribing too). After its own beat timer ran
 * late by more than `deadAfterMs / 2` (a stall: the beats it missed are still
 * in its socket) it counts everyone's silence afresh. Otherwise a NATS
 * restart, or a pause of this node, would make it drop every other node at
 * once. Either way it reports the event (`onContactLost`) so it fences what
 * it holds (ownership.ts): the others may have taken it for dead meanwhile.
 *
 * Subject: role `node` only (ops/nats/secure.conf, `headroom.int.>`). Each
 * beat is validated (services/wire parseBeat); a bad one is counted by the
 * node's Guard and ignored.
 */
import type { NatsConnection, Subscription } from 'nats';
import { ErrorCode, StateError } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import { Refused, decodeLinkJson, parseBeat } from '../wire/index.ts';
import type { Guard } from '../wire/index.ts';

/** The beat subject of a namespace: `headroom.int.beat`, or `headroom.int.<ns>.beat`. */
export function beatSubject(namespace: string): string {
  return namespace === '' ? 'headroom.int.beat' : `headroom.int.${namespace}.beat`;
}

export interface BeatsOptions {
  /** How often this node beats. */
  beatMs: number;
  /** Silence after which another node is taken as gone. */
  deadAfterMs: number;
}

/** A node's heartbeats on the link, and who has gone silent. */
export class Beats {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #self: string;
  readonly #clock: Clock;
  readonly #opts: BeatsOptions;
  readonly #guard: Guard;
  /** node -> when it was last heard (this node's clock). */
  readonly #heard = new Map<string, number>();
  #silent: ReadonlySet<string> = new Set();
  #seq = 0;
  #connected = true;
  #disconnectedAt = 0;
  /** Until when this node judges no one (it was cut off or stalled). */
  #blindUntil = 0;
  #lastBeatMs = 0;
  #startedAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sub: Subscription | undefined;
  #statusLoop: Promise<void> | undefined;
  readonly #onSilenceChanged: Array<(silent: ReadonlySet<string>) => void> = [];
  readonly #onContactLost: Array<(reason: 'stall' | 'reconnect') => void> = [];

  constructor(
    nc: NatsConnection,
    subject: string,
    self: string,
    clock: Clock,
    options: BeatsOptions,
    guard: Guard,
  ) {
    this.#nc = nc;
    this.#subject = subject;
    this.#self = self;
    this.#clock = clock;
    this.#opts = options;
    this.#guard = guard;
  }

  /** The nodes taken as gone now. */
  get silent(): ReadonlySet<string> {
    return this.#silent;
  }

  /** Whether this node is judging no one now (cut off, just back, or stalled). */
  get blind(): boolean {
    return !this.#connected || this.#clock.now() < this.#blindUntil;
  }

  onSilenceChanged(listener: (silent: ReadonlySet<string>) => void): void {
    this.#onSilenceChanged.push(listener);
  }

  /**
   * Whether this node has listened long enough to have heard every live node
   * (one and a half beats) and `live` (the registry's nodes) lists each one it
   * heard: then its view is complete, as a joining node needs before it serves.
   */
  completeView(live: readonly string[]): boolean {
    if (this.#timer === undefined) return false;
    const now = this.#clock.now();
    if (now - this.#startedAt < 1.5 * this.#opts.beatMs) return false;
    for (const [id, at] of this.#heard)
      if (now - at <= this.#opts.deadAfterMs && !live.includes(id)) return false;
    return true;
  }

  /** Runs when this node may have been taken for dead by the others. */
  onContactLost(listener: (reason: 'stall' | 'reconnect') => void): void {
    this.#onContactLost.push(listener);
  }

  start(): void {
    this.#sub = this.#nc.subscribe(this.#subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.#guard.refuse(
            Refused.Subscription,
            `the beat subscription on ${this.#subject}: ${err.message}`,
          );
          return;
        }
        let beat: { id: string };
        try {
          beat = parseBeat(decodeLinkJson(msg.data));
        } catch (e) {
          this.#guard.refuse(Refused.Message, `beat on ${msg.subject}: ${(e as Error).message}`);
          return;
        }
        if (beat.id === this.#self) return;
        const wasSilent = this.#silent.has(beat.id);
        this.#heard.set(beat.id, this.#clock.now());
        if (wasSilent) this.#judge();
      },
    });
    this.#lastBeatMs = this.#clock.now();
    this.#startedAt = this.#lastBeatMs;
    this.#timer = setInterval(() => this.#beat(), this.#opts.beatMs);
    this.#timer.unref?.();
    this.#statusLoop = this.#watchStatus();
    this.#beat();
  }

  /**
   * Call before granting. After a stall (SIGSTOP, a long pause) the messages
   * that waited in the socket run before any timer, so the beat timer would
   * notice too late: this notices first. And a node cut off from NATS for
   * longer than `deadAfterMs / 2` grants nothing (to HTTP clients, or from
   * messages still in its socket): the others may be taking its tokens over.
   * Cheap: one clock read.
   *
   * @throws StateError (Unavailable, retryable) while cut off.
   */
  checkContact(): void {
    if (this.#timer === undefined) return; // not started (or stopped): nobody has heard this node yet
    const now = this.#clock.now();
    if (!this.#connected && now - this.#disconnectedAt > this.#opts.deadAfterMs / 2) {
      throw new StateError(
        ErrorCode.Unavailable,
        `this node has been cut off from NATS for ${now - this.#disconnectedAt} ms: it grants nothing until it is back, as other nodes may be serving its tokens`,
      );
    }
    if (now - this.#lastBeatMs - this.#opts.beatMs <= this.#opts.deadAfterMs / 2) return;
    this.#lastBeatMs = now;
    this.#lostContact('stall');
  }

  #beat(): void {
    const now = this.#clock.now();
    const late = now - this.#lastBeatMs - this.#opts.beatMs;
    this.#lastBeatMs = now;
    if (late > this.#opts.deadAfterMs / 2) this.#lostContact('stall');
    if (this.#connected) {
      try {
        this.#nc.publish(this.#subject, JSON.stringify({ id: this.#self, seq: this.#seq++ }));
      } catch {
        // Closing: nobody needs the beat.
      }
    }
    this.#judge();
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        if (this.#connected) this.#disconnectedAt = this.#clock.now();
        this.#connected = false;
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#lostContact('reconnect');
      }
    }
  }

  #lostContact(reason: 'stall' | 'reconnect'): void {
    const now = this.#clock.now();
    // Just back on NATS, the others are still resubscribing: "no subscriber" proves nothing yet.
    if (reason === 'reconnect') {
      this.#blindUntil = Math.max(this.#blindUntil, now + this.#opts.deadAfterMs + this.#opts.beatMs);
    }
    // Silence counts from now, not from before the gap (nodes already taken as gone stay so until heard).
    for (const id of this.#heard.keys()) if (!this.#silent.has(id)) this.#heard.set(id, now);
    for (const l of this.#onContactLost) l(reason);
    this.#judge();
  }

  /** Recomputes who is silent; tells the listeners when that changed. */
  #judge(): void {
    const now = this.#clock.now();
    const prev = this.#silent;
    const blind = this.blind;
    const next = new Set<string>();
    for (const [id, at] of this.#heard) {
      // While blind, no one new is taken as gone; one already gone stays so until heard.
      if (now - at > this.#opts.deadAfterMs && (!blind || prev.has(id))) next.add(id);
      // A node silent for long is forgotten (it left, or will be heard afresh).
      if (now - at > 600_000) this.#heard.delete(id);
    }
    if (next.size === prev.size && [...next].every((id) => prev.has(id))) return;
    this.#silent = next;
    for (const l of this.#onSilenceChanged) l(next);
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    // The status iterator ends when the connection closes; do not wait for it here.
    void this.#statusLoop;
  }
}
