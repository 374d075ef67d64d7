/**
 * The trainer's settings, status and run summary, and how much data a run
 * needs: what the trainer (trainer.ts), its service and the node's wiring
 * share.
 */
import type { Clock } from '../../lib/index.ts';
import type { LstmOptions, ModelScore, ModelVersionMeta, TrainProgress } from '../../models/index.ts';
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
  /**
   * Before any model serves, train as soon as the demand seen spans this
   * long (and the horizons' minimum, {@link minTrainingSlots}), checking a
   * sixth of it apart (1 s to 30 s). Unset: only the schedule and drift train.
   * @default undefined (the node passes `trainMinHistoryMs`, 3 min)
   */
  minHistoryMs?: number;
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
  /** The node that trains for the cluster (this one when embedded); null while none is elected. */
  leader: string | null;
  /** Whether this node is the one training. */
  active: boolean;
  /** Before the first training: the demand seen so far and what the first run waits for; null otherwise. */
  history: { haveMs: number; needMs: number } | null;
}

/** Deps of a {@link Trainer}. */
export interface TrainerDeps {
  hub: ForecastHub;
  clock: Clock;
  source: TrainingSource;
  options: TrainerOptions;
  emit?: (event: string, payload: unknown) => void;
  log?: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
  /** This node's id, the leader's until an election says otherwise. */
  nodeId?: string;
}

/** Slots held back for validation: a quarter of the data, at least the longest horizon plus 8. */
export function holdoutOf(n: number, maxH: number): number {
  return Math.max(maxH + 8, Math.floor(0.25 * n));
}

/** Slots of training data before the holdout: the longest horizon, the LSTM's lookback (16) and 8 origins. */
const TRAIN_SLOTS_BEYOND_HORIZON = 24;

/** The fewest slots a run trains on: `n - holdoutOf(n) >= maxH + 24` holds from here on. */
export function minTrainingSlots(maxH: number): number {
  return 2 * maxH + 8 + TRAIN_SLOTS_BEYOND_HORIZON;
}
