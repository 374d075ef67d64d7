/**
 * The current level of each external event signal, as a feature of the
 * behavioural records. A topic's level at time t is the value of its latest
 * event at or before t, decayed exponentially with a half-life:
 * `value * 2^-((t - time) / halfLife)`. An event that names tokens counts
 * only for those tokens (and wins over a topic-wide one of the same topic);
 * one without tokens counts for every token. Scheduled events (time in the
 * future) take effect at their time. Levels that fell below 1/1000 of their
 * value (10 half-lives) are omitted.
 */

/** One signal as the collector sees it: tokens are already keyed hashes. */
export interface SignalEvent {
  topic: string;
  timeMs: number;
  value: number;
  tokens: readonly string[];
}

interface Point {
  timeMs: number;
  value: number;
}

/** Events kept per (scope, topic): enough for out-of-order and scheduled ones. */
const KEEP = 8;
const HALF_LIVES_KEPT = 10;

export class EventSignals {
  readonly #halfLifeMs: number;
  readonly #maxScopes: number;
  /** scope ('' for every token, else a token hash) -> topic -> points by time. */
  readonly #scopes = new Map<string, Map<string, Point[]>>();

  /**
   * @param halfLifeMs how fast a signal fades.
   * @param maxScopes most token scopes kept; the oldest scope goes first beyond it.
   */
  constructor(halfLifeMs: number, maxScopes = 100_000) {
    this.#halfLifeMs = halfLifeMs;
    this.#maxScopes = maxScopes;
  }

  add(e: SignalEvent): void {
    const scopes = e.tokens.length === 0 ? [''] : e.tokens;
    for (const scope of scopes) {
      let topics = this.#scopes.get(scope);
      if (topics === undefined) {
        if (this.#scopes.size >= this.#maxScopes) {
          const oldest = [...this.#scopes.keys()].find((k) => k !== '');
          if (oldest !== undefined) this.#scopes.delete(oldest);
        }
        this.#scopes.set(scope, (topics = new Map()));
      }
      const points = topics.get(e.topic) ?? [];
      points.push({ timeMs: e.timeMs, value: e.value });
      points.sort((a, b) => a.timeMs - b.timeMs);
      if (points.length > KEEP) points.splice(0, points.length - KEEP);
      topics.set(e.topic, points);
    }
  }

  /** Level of every live topic at `atMs` for `token` (a keyed hash), by topic. */
  levels(atMs: number, token?: string): Record<string, number> {
    const out: Record<string, number> = {};
    this.#into(out, this.#scopes.get(''), atMs);
    if (token !== undefined) this.#into(out, this.#scopes.get(token), atMs);
    return out;
  }

  #into(out: Record<string, number>, topics: Map<string, Point[]> | undefined, atMs: number): void {
    if (topics === undefined) return;
    for (const [topic, points] of topics) {
      let latest: Point | undefined;
      for (const p of points) if (p.timeMs <= atMs) latest = p;
      if (latest === undefined) continue;
      const halves = (atMs - latest.timeMs) / this.#halfLifeMs;
      if (halves > HALF_LIVES_KEPT) continue;
      // Rounded to 6 significant digits: features, not accounting.
      out[topic] = Number((latest.value * 2 ** -halves).toPrecision(6));
    }
  }

  /** Forgets points that can no longer matter at or after `nowMs`. */
  prune(nowMs: number): void {
    const horizon = nowMs - HALF_LIVES_KEPT * this.#halfLifeMs;
    for (const [scope, topics] of this.#scopes) {
      for (const [topic, points] of topics) {
        // A point 10 half-lives old reads as absent, so it can go.
        const live = points.filter((p) => p.timeMs > horizon);
        if (live.length === 0) topics.delete(topic);
        else if (live.length !== points.length) topics.set(topic, live);
      }
      if (topics.size === 0) this.#scopes.delete(scope);
    }
  }
}
