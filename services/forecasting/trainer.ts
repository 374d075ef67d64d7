/**
 * The trainer: retrains a candidate on a schedule and when the serving
 * forecasts' error drifts, on a worker thread (checks never wait on it),
 * validates it against the current model and the baselines on a held-back
 * recent period, and promotes it only if it wins; a loser is kept in the
 * registry as rejected. Progress goes out as `trainer.progress` events and,
 * on a terminal, as a progress bar on stderr.
 *
 * Before any model serves, it watches the history it could train on and
 * trains as soon as there is `minHistoryMs` of it (not a schedule period
 * later). In a cluster only the elected node trains (trainer-election.ts
 * calls {@link Trainer.setLeadership}); the others stand by, and their
 * `trainer` actions are answered by the leader.
 */
import { ErrorCode, StateError } from '../../lib/index.ts';
import type { TimerHandle } from '../../lib/index.ts';
import type { ModelVersionMeta, TrainJob, TrainProgress } from '../../models/index.ts';
import { logEvent } from '../runtime/index.ts';
import { FirstTraining } from './first-training.ts';
import { sinceFirstDemand } from './training-data.ts';
import type { TrainingData } from './training-data.ts';
import { holdoutOf, minTrainingSlots } from './trainer-types.ts';
import type { TrainRunSummary, TrainerDeps, TrainerStatus } from './trainer-types.ts';

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
  #started = false;
  #active = true;
  #leader: string | null;
  /** Watches the history for the first run (with option `minHistoryMs`). */
  readonly #first: FirstTraining | undefined;
  #publish: ((meta: ModelVersionMeta) => Promise<void>) | undefined;

  constructor(deps: TrainerDeps) {
    this.#d = deps;
    this.#leader = deps.nodeId ?? null;
    if (deps.options.minHistoryMs !== undefined) {
      this.#first = new FirstTraining({
        clock: deps.clock,
        source: deps.source,
        needMs: () => this.#needMs(),
        hasModel: async () => (await (await deps.hub.registry()).current()) !== undefined,
        train: (data) => this.train('history', data),
        ...(deps.log === undefined ? {} : { log: deps.log }),
      });
    }
  }

  /** Starts the schedule (and the first-training watch); a standing-by trainer waits for its election. */
  start(): void {
    this.#started = true;
    this.#arm();
  }

  #arm(): void {
    if (!this.#started || !this.#active) return;
    this.#schedule();
    this.#first?.start();
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextMs = null;
    this.#first?.stop();
  }

  #schedule(): void {
    const every = this.#d.options.everyMs;
    if (every <= 0 || this.#abort.signal.aborted || this.#timer !== undefined) return;
    this.#nextMs = this.#d.clock.now() + every;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      this.train('schedule')
        .catch((err: unknown) => this.#d.log?.warn(`scheduled training failed: ${(err as Error).message}`))
        .finally(() => this.#schedule());
    }, every);
  }

  /** Demand this run needs before the first model: the option, and the horizons' minimum. */
  #needMs(): number {
    const stepMs = this.#d.hub.config.stepMs;
    const slots = minTrainingSlots(Math.max(...this.#d.hub.horizonSteps));
    return Math.max(this.#d.options.minHistoryMs ?? 0, slots * stepMs);
  }

  /**
   * Who trains for the cluster: `self` true makes this node train (schedule,
   * first-training watch, drift), false stops it and aborts a run in progress.
   */
  setLeadership(leader: string | null, self: boolean): void {
    this.#leader = leader;
    if (self === this.#active) return;
    this.#active = self;
    if (self) {
      this.#abort = new AbortController();
      this.#arm();
    } else {
      this.#disarm();
      this.#abort.abort();
    }
  }

  /** Where a `trainer` action should run: the leader's id when another node leads, else undefined (here). */
  forwardTo(): string | undefined {
    if (this.#active) return undefined;
    if (this.#leader === null) {
      throw new StateError(ErrorCode.Unavailable, 'no trainer is elected yet; try again in a few seconds');
    }
    return this.#leader;
  }

  /** Called after each version this trainer puts in service (the cluster's model store publishes it). */
  onPromoted(publish: (meta: ModelVersionMeta) => Promise<void>): void {
    this.#publish = publish;
  }

  /** Stops the schedule and aborts a run in progress. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#disarm();
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
      leader: this.#leader,
      active: this.#active,
      history: this.#first?.history ?? null,
    };
  }

  /**
   * Feeds the realised error of recent forecasts (WAPE over `n` forecasts);
   * a drift past the serving model's validation error starts a run.
   */
  noteError(wape: number, n: number): void {
    if (!Number.isFinite(wape) || n <= 0 || !this.#active) return;
    this.#wape = this.#wape === null ? wape : 0.8 * this.#wape + 0.2 * wape;
    const now = this.#d.clock.now();
    if (this.#running !== undefined || now - this.#lastDriftMs < this.#d.options.driftGapMs) return;
    void this.#d.hub
      .registry()
      .then((r) => r.current())
      .then((cur) => {
        // Drift is measured against a serving model; before the first one the history watch trains.
        const bar = cur?.scores['candidate']?.wape;
        if (bar === undefined || !(this.#wape! > this.#d.options.driftFactor * bar)) return;
        this.#lastDriftMs = now;
        return this.train('drift').then(() => undefined);
      })
      .catch((err: unknown) => this.#d.log?.warn(`drift training failed: ${(err as Error).message}`));
  }

  /**
   * Trains, validates and (if it wins) promotes a candidate; a second call
   * while one runs joins it. `data` stands in for the source's. A node that
   * stands by (another trains) skips.
   */
  train(trigger = 'request', data?: TrainingData): Promise<TrainRunSummary> {
    if (!this.#active) {
      const now = this.#d.clock.now();
      return Promise.resolve({
        startedMs: now,
        finishedMs: now,
        trigger,
        skipped: `this node does not train: ${this.#leader ?? 'no node'} is the elected trainer`,
      });
    }
    this.#running ??= this.#run(trigger, data).finally(() => {
      this.#running = undefined;
      this.#progress = null;
    });
    return this.#running;
  }

  async #run(trigger: string, given?: TrainingData): Promise<TrainRunSummary> {
    const { hub, clock } = this.#d;
    const startedMs = clock.now();
    const done = (s: Omit<TrainRunSummary, 'startedMs' | 'finishedMs' | 'trigger'>): TrainRunSummary => {
      this.#last = { startedMs, finishedMs: clock.now(), trigger, ...s };
      this.#runs++;
      this.#d.emit?.('trainer.finished', this.#last);
      return this.#last;
    };
    const raw = given ?? (await this.#d.source());
    const data = raw === undefined ? undefined : sinceFirstDemand(raw);
    const steps = hub.horizonSteps;
    const maxH = Math.max(...steps);
    if (data === undefined) return done({ skipped: 'no recent demand to train on' });
    const n = data.timestamps.length;
    const holdout = holdoutOf(n, maxH);
    if (n < minTrainingSlots(maxH) || data.stepMs !== hub.config.stepMs) {
      return done({ skipped: `too little history: ${n} slots for horizons up to ${maxH} steps` });
    }
    const m = await hub.models();
    const reg = await hub.registry();
    const cur = await reg.current();
    // The serving version's LSTM, or the pretrained one while none is promoted:
    // the candidate is fine-tuned from it and must beat it.
    const curLstm =
      cur !== undefined
        ? cur.horizons.join(',') === steps.join(',')
          ? await reg.lstmState(cur.version)
          : undefined
        : await hub.pretrainedState();
    const job: TrainJob = {
      series: data.series,
      timestamps: data.timestamps,
      horizons: steps,
      holdout,
      lstm: { ...this.#d.options.lstm, backend: hub.config.backend },
      ...(curLstm ? { current: curLstm, init: curLstm } : {}),
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
    // A rejected candidate leaves the serving model in place; the line says why.
    this.#logEvent(verdict.promote ? 'promotion' : 'rejection', {
      version: meta.version,
      promoted: verdict.promote,
      reason: verdict.reason,
      trigger,
      scores: result.scores,
      tokens: data.series.length,
      slots: n,
      ...(verdict.promote ? {} : { serving: cur?.version ?? null }),
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
    // Serving here already; a failed publication leaves the other nodes on the previous version.
    await this.#publish?.(meta).catch((err: unknown) =>
      this.#d.log?.warn(`model ${meta.version} not shared with the cluster: ${(err as Error).message}`),
    );
  }

  /** One event line (runtime/logging.ts `logEvent`: the fields, `event`, the message). */
  #logEvent(event: 'promotion' | 'rejection', fields: Record<string, unknown>): void {
    const msg =
      event === 'promotion'
        ? `model ${String(fields['version'])} promoted: ${String(fields['reason'])}`
        : `candidate ${String(fields['version'])} rejected, ${String(fields['serving'] ?? 'no model')} keeps serving: ${String(fields['reason'])}`;
    if (this.#d.log !== undefined) logEvent(this.#d.log, event, fields, msg);
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
    this.#logEvent('promotion', {
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
