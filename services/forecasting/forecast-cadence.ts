/**
 * Token actors' forecasts on a cadence: every `everyMs` the scheduler
 * gathers the recent 1 s demand of every live token actor on this node,
 * asks `forecast.predict` once for all of them (batched), and stores each
 * answer on its actor with the time it was made (the REPL's `hr-token`
 * shows it). Before replacing a forecast it scores the previous one's
 * first horizon against what happened and reports the error (for the
 * trainer's drift check). With a store, forecasts are written to it too,
 * the token named by its keyed hash as every stored row is.
 */
import type { ActorHost, TokenActor, TokenForecast } from '../../actors/index.ts';
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
  predict: (params: PredictParams) => Promise<PredictReply>;
  /** Writes forecast rows (the batcher's `forecasts` kind). */
  write?: (row: ForecastRow) => void;
  /** The stored name of a token (keyed hash); required with `write`. */
  storeToken?: (token: TokenKey, nowMs: number) => string;
  /** Realised WAPE of the previous forecasts' first horizon over `n` tokens. */
  onError?: (wape: number, n: number) => void;
  log?: { warn(...a: unknown[]): void };
}

const STEP_MS = 1000;

export class ForecastCadence {
  readonly #d: ForecastCadenceDeps;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #ticking: Promise<number> | undefined;

  constructor(deps: ForecastCadenceDeps) {
    this.#d = deps;
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
    }, this.#d.everyMs);
  }

  /** Stops the cadence; waits for a tick in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking?.catch(() => undefined);
  }

  /** One round: forecasts every live token and stores the results; returns how many. */
  tick(): Promise<number> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<number> {
    const { host, clock } = this.#d;
    const now = clock.now();
    // The origin is the last complete second.
    const end = Math.floor(now / STEP_MS) * STEP_MS - STEP_MS;
    const items: PredictParams['items'] = [];
    const actors: TokenActor[] = [];
    let absErr = 0;
    let absActual = 0;
    let scored = 0;
    for (const key of host.keys()) {
      const a = host.peek(key);
      if (a === undefined) continue;
      const age = Math.max(1, Math.floor((end - a.createdMs) / STEP_MS) + 1);
      const count = Math.min(this.#d.historySlots ?? 300, a.window.options.fineBuckets, age);
      const s = a.window.series('1s', count, end);
      const values = s.buckets.map((b) => b.requests);
      const prev = a.forecast;
      if (prev !== undefined && prev.horizonsMs.length > 0) {
        const target = Math.floor(prev.madeMs / STEP_MS) * STEP_MS - STEP_MS + prev.horizonsMs[0]!;
        const idx = (target - s.startMs) / STEP_MS;
        if (target <= end && idx >= 0 && idx < values.length) {
          absErr += Math.abs(values[idx]! - prev.p50[0]!);
          absActual += values[idx]!;
          scored++;
        }
      }
      items.push({ token: key, values, startMs: s.startMs });
      actors.push(a);
    }
    if (scored > 0 && absActual > 0) this.#d.onError?.(absErr / absActual, scored);
    if (items.length === 0) return 0;
    const reply = await this.#d.predict({ items });
    const madeMs = clock.now();
    reply.forecasts.forEach((f, i) => {
      const fc: TokenForecast = {
        madeMs,
        horizonsMs: reply.horizonsMs,
        p10: f.p10,
        p50: f.p50,
        p90: f.p90,
        model: reply.version ?? f.source,
      };
      actors[i]!.setForecast(fc);
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
    });
    return items.length;
  }
}
