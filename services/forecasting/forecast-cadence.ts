/**
 * Token actors' forecasts on a cadence: every `everyMs` the scheduler
 * gathers the recent 1 s demand of the live token actors on this node that
 * are active (they had requests the previous round did not see, or within
 * `activeMs`), asks `forecast.predict` for them in batches, and stores each
 * answer on its actor with the time it was made (the REPL's `hr-token`
 * shows it). An idle token gets no forecast and no stored row: it keeps the
 * one made when it was last active, so the work and the store grow with
 * activity, not with the tokens held (a million one-off users cost one
 * forecast each, not one every round until passivation). Every forecast's
 * first horizon is scored once against what happened, idle tokens' too, and
 * the error reported (for the trainer's drift check). With a store,
 * forecasts are written to it too, the token named by its keyed hash as
 * every stored row is. The live zoo's combiner state of a token is freed
 * when its actor is passivated (ForecastHub.release, on the host's
 * passivation hook); every `retainEveryRounds` rounds `retain` sweeps what
 * that missed (a token passivated while its forecast was on its way).
 *
 * A token older than a season (a day) also gets, per horizon, its demand
 * one season before the target: the mean per second of the one-minute
 * bucket of its window holding that moment (the window keeps a day of
 * them and the minute in progress, so every horizon has one: with a day
 * alone the 5 s horizon's minute had just been dropped, issue 12), for the
 * live zoo's seasonal-naive member, which the 300 seconds of history sent
 * could never feed. A younger token costs one comparison.
 *
 * A round is paced, not a burst (issue 15): after each slice of `sliceMs`
 * of work it rests `restMs` on a timer, so it takes at most a share of the
 * main thread, and rounds start on a grid of `everyMs` shifted by
 * `phaseMs`, so the nodes of a cluster (started together) do not run theirs
 * at the same moment. Three nodes forecasting their ~330 tokens each in the
 * same 150-450 ms, every 5 s, on a 2-core machine, held up the checks
 * landing in that window: in the client bench's open loop, the checks
 * slower than 1.5x the echo's p99 were 2-6x denser inside those rounds
 * than outside them.
 */
import type { ActorHost, TokenActor, TokenForecast } from '../../actors/index.ts';
import { DAY_MS, invalidField } from '../../lib/index.ts';
import type { Clock, TimerHandle, TokenKey } from '../../lib/index.ts';
import type { ForecastRow } from '../../store/index.ts';
import type { PredictParams, PredictReply } from './forecast-service.ts';

/** Deps of a {@link ForecastCadence}. */
export interface ForecastCadenceDeps {
  host: ActorHost<TokenKey, TokenActor>;
  clock: Clock;
  everyMs: number;
  /** Slots of history sent per token (fewer when the token is younger). @default 300 */
  historySlots?: number;
  /**
   * A token is forecast in a round when it had a request in the complete
   * seconds since the previous round's, or within this long before the
   * round. Without it every live token is forecast every round.
   * @default undefined (every live token)
   */
  activeMs?: number;
  /**
   * Most tokens per `predict` call; the event loop is yielded between calls.
   * 1000 keeps each synchronous stretch near 15-20 ms (5000: 50-150 ms,
   * which delayed status answers under one-off users, issue 11).
   * @default 1000
   */
  batchTokens?: number;
  predict: (params: PredictParams) => Promise<PredictReply>;
  /** Writes forecast rows (the batcher's `forecasts` kind). */
  write?: (row: ForecastRow) => void;
  /** The stored name of a token (keyed hash); required with `write`. */
  storeToken?: (token: TokenKey, nowMs: number) => string;
  /**
   * Drops per-token forecasting state of the tokens `live` rejects
   * (ForecastHub.retain): a consistency sweep, O(tokens held), for state
   * that release at passivation missed.
   */
  retain?: (live: (token: string) => boolean) => void;
  /**
   * Rounds between two `retain` sweeps. Passivation frees a token's state
   * (ForecastHub.release), so the sweep only catches a token forecast after
   * its actor left; running it every round cost ~5 % of the main thread
   * under a million one-off users (issue 11).
   * @default 60
   */
  retainEveryRounds?: number;
  /**
   * Longest stretch (ms) of scoring, gathering, keeping and writing before
   * the event loop is yielded to checks.
   * @default 2
   */
  sliceMs?: number;
  /**
   * Rest (ms, on a timer) after each slice of work: a round takes at most
   * sliceMs / (sliceMs + restMs) of the main thread, its work spread over
   * time rather than a burst that checks queue behind. 0 yields to what is
   * waiting in the event loop and goes on (a round then takes whatever the
   * checks leave). It paces work done, not domain time, so it is real time,
   * not the Clock's.
   * @default 0
   */
  restMs?: number;
  /**
   * Real time (ms) from a round's start within which it rests; past it the
   * round only yields, so pacing never stretches a big round (a million
   * one-off users) or one on a scaled clock's short period past its own
   * period. Real time, as `restMs`.
   * @default Infinity
   */
  restWithinMs?: number;
  /**
   * Where on the grid of `everyMs` the rounds start: at the Clock's times
   * equal to `phaseMs` modulo `everyMs` (a round that overran its period
   * starts at the next one). Nodes with different phases forecast at
   * different moments.
   * @default 0
   */
  phaseMs?: number;
  /**
   * Horizons (ms) of the `predict` replies, for the `season` values sent
   * with each token older than a season.
   * @default those of the latest reply (no `season` in the first round)
   */
  horizonsMs?: readonly number[];
  /**
   * The season (ms) of the live zoo's seasonal-naive member (its
   * seasonSteps x stepMs): each token's `season` values are read this long
   * before each target; 0 sends none.
   * @default a day
   */
  seasonMs?: number;
  /** Realised WAPE of the previous forecasts' first horizon over `n` tokens. */
  onError?: (wape: number, n: number) => void;
  log?: { warn(...a: unknown[]): void };
}

const STEP_MS = 1000;
/** Width of a window's coarse (one-minute) buckets. */
const MINUTE_MS = 60_000;

/**
 * What the cadence keeps on a token actor: the forecast, with the serving
 * model's version and, for the live zoo's combination (`model: combined`),
 * each member's weight and the leading member per horizon (`forecast.get`
 * and the REPL's `hr-token` show them).
 */
export type KeptForecast = TokenForecast & {
  version?: string | null;
  weights?: Record<string, number[]>;
  leaders?: string[];
};

/** A forecast kept on an actor, waiting for its first target to be scored. */
interface Scoring {
  actor: TokenActor;
  forecast: KeptForecast;
}

/** Tokens of one round, in `predict` order. */
interface Round {
  items: PredictParams['items'];
  actors: TokenActor[];
}

export class ForecastCadence {
  readonly #d: ForecastCadenceDeps;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #ticking: Promise<number> | undefined;
  /** End (exclusive) of the complete seconds the previous round saw; -Infinity before the first. */
  #seenUntil = Number.NEGATIVE_INFINITY;
  /** Forecasts made here whose first target is not yet scored (#score). */
  #scoring: Scoring[] = [];
  /** Rounds since the last `retain` sweep. */
  #sinceRetain = 0;
  /** performance.now() when the round in progress started (for `restWithinMs`). */
  #roundStart = 0;
  /** Horizons (ms) of the `season` values: the deps' or the latest reply's. */
  #horizonsMs: readonly number[] = [];
  /**
   * Per horizon, where its `season` value is read, from the origin: the
   * horizon less a season (less whole seasons up to the target, as the
   * seasonal-naive member's lag, for a horizon over a season).
   */
  #lags: number[] = [];
  /**
   * The largest lag: a token created after `end + reach` has no minute a
   * season before any target (-Infinity: no `season` sent, while no
   * horizons are known or the season is 0).
   */
  #reach = Number.NEGATIVE_INFINITY;

  constructor(deps: ForecastCadenceDeps) {
    const { activeMs, batchTokens, retainEveryRounds, sliceMs, seasonMs, horizonsMs, restMs, phaseMs } = deps;
    if (!(deps.everyMs > 0 && Number.isFinite(deps.everyMs)))
      throw invalidField('everyMs', 'a positive number of ms', deps.everyMs);
    if (sliceMs !== undefined && !(sliceMs > 0 && Number.isFinite(sliceMs)))
      throw invalidField('sliceMs', 'a positive number of ms', sliceMs);
    if (restMs !== undefined && !(restMs >= 0 && Number.isFinite(restMs)))
      throw invalidField('restMs', 'a number of ms >= 0', restMs);
    if (deps.restWithinMs !== undefined && !(deps.restWithinMs >= 0))
      throw invalidField('restWithinMs', 'a number of ms >= 0', deps.restWithinMs);
    if (phaseMs !== undefined && !(phaseMs >= 0 && Number.isFinite(phaseMs)))
      throw invalidField('phaseMs', 'a number of ms >= 0', phaseMs);
    if (activeMs !== undefined && !(activeMs >= 0))
      throw invalidField('activeMs', 'a duration >= 0', activeMs);
    if (batchTokens !== undefined && !(Number.isSafeInteger(batchTokens) && batchTokens > 0)) {
      throw invalidField('batchTokens', 'a positive integer', batchTokens);
    }
    if (
      retainEveryRounds !== undefined &&
      !(Number.isSafeInteger(retainEveryRounds) && retainEveryRounds > 0)
    ) {
      throw invalidField('retainEveryRounds', 'a positive integer', retainEveryRounds);
    }
    if (seasonMs !== undefined && !(seasonMs >= 0 && Number.isFinite(seasonMs)))
      throw invalidField('seasonMs', 'a duration >= 0', seasonMs);
    if (horizonsMs !== undefined && !horizonsMs.every((h) => h > 0 && Number.isFinite(h)))
      throw invalidField('horizonsMs', 'a list of positive durations', horizonsMs);
    this.#d = deps;
    if (horizonsMs !== undefined) this.#setHorizons(horizonsMs);
  }

  /** Takes the horizons of the `season` values (a copy), their lags and the reach they give. */
  #setHorizons(horizonsMs: readonly number[]): void {
    this.#horizonsMs = [...horizonsMs];
    const seasonMs = this.#d.seasonMs ?? DAY_MS;
    this.#lags = horizonsMs.map((h) => h - Math.ceil(h / seasonMs) * seasonMs);
    this.#reach = seasonMs > 0 && horizonsMs.length > 0 ? Math.max(...this.#lags) : Number.NEGATIVE_INFINITY;
  }

  /**
   * Per horizon, the token's demand per second one season before the
   * target (`end` + horizon): the mean of the one-minute bucket holding
   * that moment, null where the window does not reach back (before the
   * actor was created, or a season longer than the window's minutes);
   * undefined when no horizon has one.
   */
  #season(a: TokenActor, end: number): (number | null)[] | undefined {
    const lags = this.#lags;
    let out: (number | null)[] | undefined;
    for (let hi = 0; hi < lags.length; hi++) {
      const n = a.window.minuteRequests(end + lags[hi]!, a.createdMs);
      if (!(n >= 0)) continue;
      out ??= new Array<number | null>(lags.length).fill(null);
      out[hi] = (n * STEP_MS) / MINUTE_MS;
    }
    return out;
  }

  start(): void {
    this.#stopped = false;
    this.#arm();
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      this.tick()
        .catch((err: unknown) => this.#d.log?.warn(`forecast cadence: ${(err as Error).message}`))
        .finally(() => this.#arm());
    }, this.#untilNext());
  }

  /** Ms until the next point of the grid (`phaseMs` modulo `everyMs`), strictly after now. */
  #untilNext(): number {
    const every = this.#d.everyMs;
    const into = (((this.#d.clock.now() - (this.#d.phaseMs ?? 0)) % every) + every) % every;
    return every - into;
  }

  /** Ends a slice of work: rests `restMs` (within `restWithinMs` of the round's start), or yields. */
  #rest(): Promise<unknown> {
    const ms = this.#d.restMs ?? 0;
    const within = performance.now() - this.#roundStart < (this.#d.restWithinMs ?? Number.POSITIVE_INFINITY);
    return ms > 0 && within ? restFor(ms) : yieldLoop();
  }

  /** Stops the cadence; waits for a tick in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking?.catch(() => undefined);
  }

  /** One round: forecasts every active token and stores the results; returns how many. */
  tick(): Promise<number> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<number> {
    const { clock } = this.#d;
    this.#roundStart = performance.now();
    // The origin is the last complete second; the round sees requests before `seenUntil`.
    const end = Math.floor(clock.now() / STEP_MS) * STEP_MS - STEP_MS;
    const seenUntil = end + STEP_MS;
    const activeMs = this.#d.activeMs;
    const from =
      activeMs === undefined ? Number.NEGATIVE_INFINITY : Math.min(this.#seenUntil, seenUntil - activeMs);
    await this.#score(end, this.#seenUntil);
    const round = await this.#gather(end, from, activeMs !== undefined);
    this.#seenUntil = seenUntil;
    const { host } = this.#d;
    if (this.#d.retain !== undefined && ++this.#sinceRetain >= (this.#d.retainEveryRounds ?? 60)) {
      this.#sinceRetain = 0;
      await this.#rest(); // the retain walk is a stretch of its own, not added to the gather's
      this.#d.retain((token) => host.has(token as TokenKey));
    }
    const batch = this.#d.batchTokens ?? 1000;
    for (let i = 0; i < round.items.length; i += batch) {
      if (i > 0) await this.#rest();
      await this.#forecast(round.items.slice(i, i + batch), round.actors.slice(i, i + batch), end);
    }
    return round.items.length;
  }

  /**
   * Scores the forecasts whose first target completed since the previous
   * round (`prevSeen`): only actors this cadence gave a forecast and whose
   * target is not yet scored are visited (#scoring), not every resident
   * one. An actor passivated meanwhile, or whose forecast was replaced
   * before its target came, is dropped unscored. Sliced as the gather is
   * (335 forecasts took ~6 ms in one go on a loaded machine).
   */
  async #score(end: number, prevSeen: number): Promise<void> {
    const { host } = this.#d;
    const sliceMs = this.#d.sliceMs ?? 2;
    let t0 = performance.now();
    let absErr = 0;
    let absActual = 0;
    let scored = 0;
    const waiting: Scoring[] = [];
    const items = this.#scoring;
    for (let i = 0; i < items.length; i++) {
      if (i % 16 === 0 && i > 0 && performance.now() - t0 >= sliceMs) {
        await this.#rest();
        t0 = performance.now();
      }
      const item = items[i]!;
      const { actor, forecast } = item;
      if (actor.forecast !== forecast || host.peek(actor.token) !== actor) continue;
      const target = Math.floor(forecast.madeMs / STEP_MS) * STEP_MS - STEP_MS + forecast.horizonsMs[0]!;
      if (target > end) {
        waiting.push(item);
        continue;
      }
      if (target < prevSeen) continue;
      const actual = actor.window.series('1s', 1, target).buckets[0]!.requests;
      absErr += Math.abs(actual - forecast.p50[0]!);
      absActual += actual;
      scored++;
    }
    this.#scoring = waiting;
    if (scored > 0 && absActual > 0) this.#d.onError?.(absErr / absActual, scored);
  }

  /**
   * Gathers the history of the tokens with a request at or after `from`
   * (with `active`, one that this round sees). Only the actors active since
   * shortly before `from` are visited (ActorHost.activeSince walks back
   * from the most recent), so a round costs what was active, not the
   * 100,000 resident one-off users of issue 11 (a ~100-300 ms stall on a
   * loaded machine before).
   */
  async #gather(end: number, from: number, active: boolean): Promise<Round> {
    const round: Round = { items: [], actors: [] };
    // Read a stretch of at most `sliceMs` at a time (333 tokens' 300 seconds took ~5 ms in one go).
    // performance.now, not the Clock: it measures work done, not domain time.
    const sliceMs = this.#d.sliceMs ?? 2;
    let t0 = performance.now();
    let n = 0;
    // A slot counts as active from when its message arrived, not when the
    // request was recorded: a second of margin for a message that waited
    // in its mailbox.
    for (const a of this.#d.host.activeSince(from - STEP_MS)) {
      if (++n % 16 === 0 && performance.now() - t0 >= sliceMs) {
        await this.#rest();
        t0 = performance.now();
      }
      // Nothing since `from`: skipped without reading the window.
      const last = a.window.lastMs;
      if (!(last >= from)) continue;
      // Slots from the one the token was created in (its first request's).
      const age = Math.max(1, (end - Math.floor(a.createdMs / STEP_MS) * STEP_MS) / STEP_MS + 1);
      const count = Math.min(this.#d.historySlots ?? 300, a.window.options.fineBuckets, age);
      const { values, startMs } = a.window.requests(count, end);
      // Requests only in the second still open: the next round sees them.
      if (active && last >= end + STEP_MS && !seesRequest(values, startMs, from)) continue;
      // One comparison for a token younger than a season; the window's minutes for an older one.
      const season = end + this.#reach >= a.createdMs ? this.#season(a, end) : undefined;
      round.items.push(
        season === undefined
          ? { token: a.token, values, startMs }
          : { token: a.token, values, startMs, season },
      );
      round.actors.push(a);
    }
    return round;
  }

  async #forecast(items: PredictParams['items'], actors: TokenActor[], end: number): Promise<void> {
    const reply = await this.#d.predict({ items });
    const madeMs = this.#d.clock.now();
    // The next round's `season` values follow the horizons the replies are made at.
    if (
      this.#d.horizonsMs === undefined &&
      Array.isArray(reply.horizonsMs) &&
      !sameList(this.#horizonsMs, reply.horizonsMs)
    )
      this.#setHorizons(reply.horizonsMs);
    // The model's name arrives as a fresh string per forecast: one copy per reply instead.
    const models = new Map<string, string>();
    // A forecast equal to the one before it in the reply is kept as the same
    // (read-only) object: tokens with the same history, a million one-off
    // users with one request each, get equal forecasts, and ~1 KB each of
    // arrays and weights kept per resident actor was a third of a node's
    // heap under them (issue 11).
    let prev: { f: ServedForecast; kept: KeptForecast } | undefined;
    // Kept and written a stretch of at most `sliceMs` at a time (each row is checked, its
    // token hashed for the store): 333 tokens' 1,000 rows took ~10 ms in one go (issue 15).
    // performance.now, not the Clock: it measures work done, not domain time.
    const sliceMs = this.#d.sliceMs ?? 2;
    let t0 = performance.now();
    for (let i = 0; i < reply.forecasts.length; i++) {
      if (i % 16 === 0 && i > 0 && performance.now() - t0 >= sliceMs) {
        await this.#rest();
        t0 = performance.now();
      }
      const f = reply.forecasts[i]!;
      const name = f.source === 'combined' ? f.source : (reply.version ?? f.source);
      let model = models.get(name);
      if (model === undefined) models.set(name, (model = name));
      let fc: KeptForecast;
      if (prev !== undefined && prev.kept.model === model && sameForecast(prev.f, f)) fc = prev.kept;
      else {
        fc = {
          madeMs,
          horizonsMs: reply.horizonsMs,
          p10: f.p10,
          p50: f.p50,
          p90: f.p90,
          model,
          version: reply.version,
          ...(f.weights === undefined ? {} : { weights: f.weights }),
          ...(f.leaders === undefined ? {} : { leaders: f.leaders }),
        };
        prev = { f, kept: fc };
      }
      actors[i]!.setForecast(fc);
      if (fc.horizonsMs.length > 0) this.#scoring.push({ actor: actors[i]!, forecast: fc });
      if (this.#d.write && this.#d.storeToken) {
        const token = this.#d.storeToken(actors[i]!.token, madeMs);
        reply.horizonsMs.forEach((h, hi) => {
          this.#d.write!({
            token,
            madeMs,
            horizonMs: h,
            targetMs: end + h,
            p10: f.p10[hi]!,
            p50: f.p50[hi]!,
            p90: f.p90[hi]!,
            model: fc.model!,
          });
        });
      }
    }
  }
}

/** Lets checks and status requests waiting in the event loop go first. */
function yieldLoop(): Promise<unknown> {
  return new Promise((r) => setImmediate(r));
}

/** Rests `ms` of real time: pacing of work done, as performance.now measures it, not domain time. */
function restFor(ms: number): Promise<unknown> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One token's forecast in a `predict` reply. */
type ServedForecast = PredictReply['forecasts'][number];

/** Whether two served forecasts hold the same numbers, weights and leaders. */
function sameForecast(a: ServedForecast, b: ServedForecast): boolean {
  return (
    sameList(a.p10, b.p10) &&
    sameList(a.p50, b.p50) &&
    sameList(a.p90, b.p90) &&
    sameList(a.leaders, b.leaders) &&
    sameWeights(a.weights, b.weights)
  );
}

function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameWeights(
  a: Readonly<Record<string, readonly number[]>> | undefined,
  b: Readonly<Record<string, readonly number[]>> | undefined,
): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (!sameList(a[k], b[k])) return false;
  return true;
}

/** Whether a 1 s series starting at `startMs` holds a request at or after `fromMs`. */
function seesRequest(values: readonly number[], startMs: number, fromMs: number): boolean {
  for (let i = Math.max(0, Math.ceil((fromMs - startMs) / STEP_MS)); i < values.length; i++) {
    if (values[i]! > 0) return true;
  }
  return false;
}
