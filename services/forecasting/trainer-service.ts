/**
 * The trainer: retrains a candidate on a schedule and when the serving
 * forecasts' error drifts, on a worker thread (checks never wait on it),
 * validates it against the current model and the baselines on a held-back
 * recent period, and promotes it only if it wins; a loser is kept in the
 * registry as rejected. Progress goes out as `trainer.progress` events and,
 * on a terminal, as a progress bar on stderr.
 */
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, InputError } from '../../lib/index.ts';
import type { Clock, TimerHandle } from '../../lib/index.ts';
import type {
  LstmOptions,
  ModelScore,
  ModelVersionMeta,
  TrainJob,
  TrainProgress,
} from '../../models/index.ts';
import type { ForecastHub } from './forecast-service.ts';
import type { TrainingSource } from './training-data.ts';

/** Settings of a {@link Trainer}. */
export interface TrainerOptions {
  /** Retrain this often; 0 = only on demand and on drift. */
  everyMs: number;
  /** LSTM settings of candidates. @default the model's defaults */
  lstm: Partial<LstmOptions>;
  /** Retrain when the recent forecast WAPE exceeds the serving model's validation WAPE times this. @default 1.5 */
  driftFactor: number;
  /** At least this long between drift-triggered runs. @default 300000 */
  driftGapMs: number;
  /** Draw a progress bar on stderr when it is a terminal. @default true */
  progressBar: boolean;
}

/** The outcome of one training run. */
export interface TrainRunSummary {
  startedMs: number;
  finishedMs: number;
  trigger: string;
  /** Set when the run did not train (no or too little data). */
  skipped?: string;
  version?: string;
  promoted?: boolean;
  reason?: string;
  scores?: Record<string, ModelScore>;
  tokens?: number;
  slots?: number;
  trainMs?: number;
  validateMs?: number;
}

/** `trainer.status` reply. */
export interface TrainerStatus {
  training: boolean;
  progress: TrainProgress | null;
  current: ModelVersionMeta | null;
  lastRun: TrainRunSummary | null;
  runs: number;
  nextRunMs: number | null;
  /** Recent forecast WAPE reported by the token actors (exponential mean); null before any. */
  recentWape: number | null;
  /** Versions this trainer put in service since it started (promoted by training or by hand, or rolled back to). */
  promotions: number;
}

/** Deps of a {@link Trainer}. */
export interface TrainerDeps {
  hub: ForecastHub;
  clock: Clock;
  source: TrainingSource;
  options: TrainerOptions;
  emit?: (event: string, payload: unknown) => void;
  log?: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
}

/** Slots held back for validation: a quarter of the data, at least the longest horizon plus 30. */
export function holdoutOf(n: number, maxH: number): number {
  return Math.max(maxH + 30, Math.floor(0.25 * n));
}

export class Trainer {
  readonly #d: TrainerDeps;
  #running: Promise<TrainRunSummary> | undefined;
  #progress: TrainProgress | null = null;
  #last: TrainRunSummary | null = null;
  #runs = 0;
  #promotions = 0;
  #timer: TimerHandle | undefined;
  #nextMs: number | null = null;
  #wape: number | null = null;
  #lastDriftMs = Number.NEGATIVE_INFINITY;
  #abort = new AbortController();

  constructor(deps: TrainerDeps) {
    this.#d = deps;
  }

  /** Starts the schedule. */
  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    const every = this.#d.options.everyMs;
    if (every <= 0 || this.#abort.signal.aborted) return;
    this.#nextMs = this.#d.clock.now() + every;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      this.train('schedule')
        .catch((err: unknown) => this.#d.log?.warn(`scheduled training failed: ${(err as Error).message}`))
        .finally(() => this.#schedule());
    }, every);
  }

  /** Stops the schedule and aborts a run in progress. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextMs = null;
    this.#abort.abort();
    await this.#running?.catch(() => undefined);
  }

  /** Where training stands. */
  async status(): Promise<TrainerStatus> {
    const reg = await this.#d.hub.registry();
    return {
      training: this.#running !== undefined,
      progress: this.#progress,
      current: (await reg.current()) ?? null,
      lastRun: this.#last,
      runs: this.#runs,
      nextRunMs: this.#nextMs,
      recentWape: this.#wape,
      promotions: this.#promotions,
    };
  }

  /**
   * Feeds the realised error of recent forecasts (WAPE over `n` forecasts);
   * a drift past the serving model's validation error starts a run.
   */
  noteError(wape: number, n: number): void {
    if (!Number.isFinite(wape) || n <= 0) return;
    this.#wape = this.#wape === null ? wape : 0.8 * this.#wape + 0.2 * wape;
    const now = this.#d.clock.now();
    if (this.#running !== undefined || now - this.#lastDriftMs < this.#d.options.driftGapMs) return;
    void this.#d.hub
      .registry()
      .then((r) => r.current())
      .then((cur) => {
        // Drift is measured against a serving model; before the first one the schedule trains.
        const bar = cur?.scores['candidate']?.wape;
        if (bar === undefined || !(this.#wape! > this.#d.options.driftFactor * bar)) return;
        this.#lastDriftMs = now;
        return this.train('drift').then(() => undefined);
      })
      .catch((err: unknown) => this.#d.log?.warn(`drift training failed: ${(err as Error).message}`));
  }

  /** Trains, validates and (if it wins) promotes a candidate; a second call while one runs joins it. */
  train(trigger = 'request'): Promise<TrainRunSummary> {
    this.#running ??= this.#run(trigger).finally(() => {
      this.#running = undefined;
      this.#progress = null;
    });
    return this.#running;
  }

  async #run(trigger: string): Promise<TrainRunSummary> {
    const { hub, clock } = this.#d;
    const startedMs = clock.now();
    const done = (s: Omit<TrainRunSummary, 'startedMs' | 'finishedMs' | 'trigger'>): TrainRunSummary => {
      this.#last = { startedMs, finishedMs: clock.now(), trigger, ...s };
      this.#runs++;
      this.#d.emit?.('trainer.finished', this.#last);
      return this.#last;
    };
    const data = await this.#d.source();
    const steps = hub.horizonSteps;
    const maxH = Math.max(...steps);
    if (data === undefined) return done({ skipped: 'no recent demand to train on' });
    const n = data.timestamps.length;
    const holdout = holdoutOf(n, maxH);
    if (n - holdout < maxH + 32 || data.stepMs !== hub.config.stepMs) {
      return done({ skipped: `too little history: ${n} slots for horizons up to ${maxH} steps` });
    }
    const m = await hub.models();
    const reg = await hub.registry();
    const cur = await reg.current();
    const curLstm =
      cur !== undefined && cur.horizons.join(',') === steps.join(',')
        ? await reg.lstmState(cur.version)
        : undefined;
    const job: TrainJob = {
      series: data.series,
      timestamps: data.timestamps,
      horizons: steps,
      holdout,
      lstm: { ...this.#d.options.lstm, backend: hub.config.backend },
      ...(curLstm ? { current: curLstm } : {}),
    };
    const bar = this.#d.options.progressBar && process.stderr.isTTY === true;
    const result = await m.trainInWorker(
      job,
      (p) => {
        this.#progress = p;
        this.#d.emit?.('trainer.progress', p);
        if (bar) drawBar(p);
      },
      this.#abort.signal,
    );
    if (bar) process.stderr.write('\n');
    const verdict = m.judgeCandidate(result.scores);
    const meta = await reg.add({
      trainFromMs: result.trainFromMs,
      trainToMs: result.trainToMs,
      horizons: steps,
      stepMs: data.stepMs,
      scores: result.scores,
      status: verdict.promote ? m.ModelStatus.Candidate : m.ModelStatus.Rejected,
      reason: verdict.reason,
      ...(result.lstm ? { lstm: result.lstm } : {}),
      ...(result.bayes ? { bayes: result.bayes } : {}),
    });
    if (verdict.promote) await this.#promoted(await reg.promote(meta.version, verdict.reason));
    this.#d.log?.info(verdict.promote ? 'model promoted' : 'candidate rejected', {
      version: meta.version,
      promoted: verdict.promote,
      reason: verdict.reason,
      trigger,
      scores: result.scores,
      tokens: data.series.length,
      slots: n,
    });
    return done({
      version: meta.version,
      promoted: verdict.promote,
      reason: verdict.reason,
      scores: result.scores,
      tokens: data.series.length,
      slots: n,
      trainMs: Math.round(result.trainMs),
      validateMs: Math.round(result.validateMs),
    });
  }

  async #promoted(meta: ModelVersionMeta): Promise<void> {
    this.#promotions++;
    await this.#d.hub.reload();
    this.#d.emit?.('forecast.model', { version: meta.version });
  }

  /** Promotes a recorded version by hand. */
  async promote(version: string): Promise<ModelVersionMeta> {
    const meta = await (await this.#d.hub.registry()).promote(version);
    await this.#promoted(meta);
    this.#logPromoted(meta, 'request');
    return meta;
  }

  /** Returns to the previously promoted version. */
  async rollback(): Promise<ModelVersionMeta> {
    const meta = await (await this.#d.hub.registry()).rollback();
    await this.#promoted(meta);
    this.#logPromoted(meta, 'rollback');
    return meta;
  }

  /** One line per version put in service by hand or by a rollback, with its recorded fields. */
  #logPromoted(meta: ModelVersionMeta, trigger: string): void {
    this.#d.log?.info('model promoted', {
      version: meta.version,
      promoted: true,
      reason: meta.reason,
      trigger,
      scores: meta.scores,
    });
  }
}

function drawBar(p: TrainProgress): void {
  const width = 24;
  const filled = p.total > 0 ? Math.round((width * p.done) / p.total) : 0;
  const loss = p.loss === undefined ? '' : ` loss ${p.loss.toFixed(4)}`;
  process.stderr.write(
    `\r${p.phase.padEnd(8)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total}${loss}   `,
  );
}

/** The `trainer` service: status, train, promote, rollback; listens to `forecast.error`. */
export function trainerService(trainer: Trainer): ServiceSchema {
  return {
    name: 'trainer',
    actions: {
      status: { handler: () => trainer.status() },
      train: { handler: () => trainer.train('request') },
      promote: {
        handler: (ctx: Context<{ version: string }>) => {
          if (typeof ctx.params?.version !== 'string') {
            throw new InputError(ErrorCode.MissingField, 'params.version is required, e.g. "v000001"', {
              field: 'version',
            });
          }
          return trainer.promote(ctx.params.version);
        },
      },
      rollback: { handler: () => trainer.rollback() },
    },
    events: {
      'forecast.error': {
        handler: (ctx: Context<{ wape: number; n: number }>) =>
          trainer.noteError(ctx.params.wape, ctx.params.n),
      },
    },
    started: () => trainer.start(),
    stopped: () => trainer.stop(),
  };
}
