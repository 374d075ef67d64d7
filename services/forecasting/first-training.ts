/**
 * The trainer's first run, on history rather than on the clock: until a
 * model serves, look at the demand the trainer could train on every sixth of
 * what the first run needs (1 s to 30 s apart) and start the run as soon as
 * that demand, from the first request on, spans it. A model already serving
 * (a restart, or one shared by the cluster's trainer) ends the watch, as
 * does a run that trained (promoted or rejected; the schedule and drift take
 * over from there).
 */
import type { Clock, TimerHandle } from '../../lib/index.ts';
import { sinceFirstDemand } from './training-data.ts';
import type { TrainingData, TrainingSource } from './training-data.ts';
import type { TrainRunSummary } from './trainer-types.ts';

/** What the first run waits for, and what it has. */
export interface HistoryView {
  haveMs: number;
  needMs: number;
}

/** Deps of a {@link FirstTraining}. */
export interface FirstTrainingDeps {
  clock: Clock;
  source: TrainingSource;
  /** Demand the first run needs, in ms. */
  needMs: () => number;
  /** Whether a model serves already. */
  hasModel: () => Promise<boolean>;
  /** Starts the run on `data` (the trainer joins one in progress). */
  train: (data: TrainingData) => Promise<TrainRunSummary>;
  log?: { warn(...a: unknown[]): void };
}

/** Watches the history until the first run trained. */
export class FirstTraining {
  readonly #d: FirstTrainingDeps;
  #timer: TimerHandle | undefined;
  #done = false;
  #on = false;
  #history: HistoryView | null = null;

  constructor(deps: FirstTrainingDeps) {
    this.#d = deps;
  }

  /** The last look at the history; null once the watch is over. */
  get history(): HistoryView | null {
    return this.#done ? null : this.#history;
  }

  /** Whether the watch is over (a run trained, or a model serves). */
  get done(): boolean {
    return this.#done;
  }

  /** Watches (again), unless it is over. */
  start(): void {
    this.#on = true;
    this.#next();
  }

  /** Stops watching (a trainer standing by, or stopping). */
  stop(): void {
    this.#on = false;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #next(): void {
    if (!this.#on || this.#done || this.#timer !== undefined) return;
    const every = Math.min(30_000, Math.max(1000, Math.round(this.#d.needMs() / 6)));
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#look()
        .catch((err: unknown) => this.#d.log?.warn(`first training failed: ${(err as Error).message}`))
        .finally(() => this.#next());
    }, every);
  }

  async #look(): Promise<void> {
    const raw = await this.#d.source();
    const data = raw === undefined ? undefined : sinceFirstDemand(raw);
    const needMs = this.#d.needMs();
    const haveMs = data === undefined ? 0 : data.timestamps.length * data.stepMs;
    this.#history = { haveMs, needMs };
    if (data === undefined || haveMs < needMs || !this.#on) return;
    if (await this.#d.hasModel()) {
      this.#done = true;
      return;
    }
    const run = await this.#d.train(data);
    if (run.skipped === undefined) this.#done = true;
  }
}
