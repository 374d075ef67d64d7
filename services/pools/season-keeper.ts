/**
 * Keeps a pool's seasonal memory (lib `SeasonalProfile`) across the moves
 * of its manager. The memory lives in the manager, and the manager runs on
 * the pool's owner node; when the owner leaves, crashes, or placement moves
 * the pool, the next manager would start with no season, and the daily
 * floor (what carries a daily ramp) would be gone for a day. So:
 *
 * - every `everySteps` ticks the manager writes a checkpoint (lib
 *   `encodeSeasonCheckpoint`) to the {@link SeasonStore}; after a crash the
 *   next manager loses at most that many steps;
 * - a manager that stops (graceful leave, placement move) writes one last
 *   checkpoint before it lets go of the pool: `Pools.holds` stays true until
 *   `stop` returns, so the next manager starts only after it;
 * - a manager reads the checkpoint as it starts and takes the steps it does
 *   not know yet (`SeasonalProfile.restore`). A checkpoint of another
 *   configuration (stepMs, seasonSteps) or a corrupt or hostile one is
 *   refused with a warning naming the field (event
 *   `season-checkpoint-refused`); the memory stays as it was.
 *
 * Nothing here throws into the runner: a store that fails is a warning, and
 * until the first read succeeded nothing is written (a fresh manager must not
 * overwrite its predecessor's checkpoint with an empty season).
 */
import { HeadroomError, decodeSeasonCheckpoint, encodeSeasonCheckpoint } from '../../lib/index.ts';
import type { Clock, SeasonCheckpointShape, SeasonalProfile } from '../../lib/index.ts';
import { logEvent } from '../runtime/index.ts';
import type { PoolLog } from './pool-runner.ts';
import type { SeasonStore } from './season-store.ts';

/** What `pools.status` says of a pool's season (owner side). */
export interface SeasonStatus {
  seasonSteps: number;
  /** Steps of the memory (a season and a level window) that hold a demand. */
  knownSteps: number;
  /** The latest step it holds (on the step grid: time / stepMs); null before any. */
  lastStep: number | null;
  /** Steps taken from the previous manager's checkpoint as this one started; 0 when none. */
  recoveredSteps: number;
  /** The checkpoint it recovered from: its writer, last step and age; null when none. */
  recoveredFrom: {
    node: string;
    lastStep: number;
    /** Steps between its last step and the recovery. */
    ageSteps: number;
    /** Whether its writer wrote it as it stopped (a graceful move) rather than on its timer (a crash). */
    final: boolean;
    /** Sum of its known steps' demand: a digest to compare with the writer's. */
    sum: number;
  } | null;
  /** The last step of the last checkpoint this manager wrote; null before its first. */
  checkpointStep: number | null;
}

/** Deps of a {@link SeasonKeeper}. */
export interface SeasonKeeperDeps {
  pool: string;
  stepMs: number;
  profile: SeasonalProfile;
  /** None (a node without NATS): the season lives in memory only, and only its status is kept. */
  store?: SeasonStore;
  /** This node's id, written into each checkpoint. */
  node: string;
  clock: Clock;
  log: PoolLog;
  /** Ticks between checkpoints (at least 1). */
  everySteps: number;
  /** Limit on the last checkpoint as the manager stops. @default 2000 */
  finalTimeoutMs?: number;
}

export class SeasonKeeper {
  readonly #d: SeasonKeeperDeps;
  readonly #shape: SeasonCheckpointShape;
  /** Settles once the first read of the checkpoint answered (taken, refused or none). */
  #recovery: Promise<void> | undefined;
  #recovered = false;
  #writing: Promise<void> = Promise.resolve();
  #ticks = 0;
  #status: Omit<SeasonStatus, 'knownSteps' | 'seasonSteps' | 'lastStep'> = {
    recoveredSteps: 0,
    recoveredFrom: null,
    checkpointStep: null,
  };

  constructor(deps: SeasonKeeperDeps) {
    this.#d = deps;
    this.#shape = {
      pool: deps.pool,
      stepMs: deps.stepMs,
      seasonSteps: deps.profile.seasonSteps,
      size: deps.profile.size,
    };
  }

  /** Reads the previous manager's checkpoint and takes what this memory lacks; never rejects. */
  recover(): Promise<void> {
    this.#recovery ??= this.#recover().finally(() => (this.#recovery = undefined));
    return this.#recovery;
  }

  async #recover(): Promise<void> {
    const { store, pool, profile, clock, stepMs, log } = this.#d;
    if (store === undefined) return;
    let text: string | null;
    try {
      text = await store.read(pool);
    } catch (err) {
      // Unread, not refused: try again at the next checkpoint, and write nothing before.
      log.warn(`pool ${pool}: season checkpoint not read: ${(err as Error).message}`);
      return;
    }
    this.#recovered = true;
    if (text === null) return;
    const nowStep = Math.floor(clock.now() / stepMs);
    try {
      const cp = decodeSeasonCheckpoint(text, this.#shape, nowStep);
      const taken = profile.restore(cp);
      let sum = 0;
      for (const v of cp.values) if (!Number.isNaN(v)) sum += v;
      this.#status.recoveredSteps = taken;
      this.#status.recoveredFrom = {
        node: cp.node,
        lastStep: cp.lastStep,
        ageSteps: nowStep - cp.lastStep,
        final: cp.final,
        sum,
      };
      logEvent(
        log,
        'season-recovered',
        {
          pool,
          from: cp.node,
          recoveredSteps: taken,
          lastStep: cp.lastStep,
          ageSteps: nowStep - cp.lastStep,
          final: cp.final,
        },
        `pool ${pool}: season recovered from ${cp.node}'s checkpoint: ${taken} steps, ${nowStep - cp.lastStep} step(s) old`,
      );
    } catch (err) {
      const e = err instanceof HeadroomError ? err : undefined;
      log.warn(
        { event: 'season-checkpoint-refused', pool, field: e?.field ?? null, code: e?.code ?? null },
        `pool ${pool}: season checkpoint refused: ${(err as Error).message}`,
      );
    }
  }

  /** After each tick: a checkpoint every `everySteps` (or, while unread, another try to read). */
  afterTick(): void {
    if (this.#d.store === undefined) return;
    if (++this.#ticks < this.#d.everySteps) return;
    this.#ticks = 0;
    if (!this.#recovered) {
      void this.recover();
      return;
    }
    this.#writing = this.#writing.then(() => this.#write(false));
  }

  /** Writes the last checkpoint (after any in flight), within `finalTimeoutMs`; never rejects. */
  async final(): Promise<void> {
    await this.#recovery;
    if (!this.#recovered) return;
    const done = (this.#writing = this.#writing.then(() => this.#write(true)));
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timeoutMs = this.#d.finalTimeoutMs ?? 2000;
    const late = new Promise<void>((resolve) => {
      timer = this.#d.clock.setTimeout(() => {
        this.#d.log.warn(`pool ${this.#d.pool}: last season checkpoint not written within ${timeoutMs} ms`);
        resolve();
      }, timeoutMs);
    });
    await Promise.race([done, late]);
    if (timer !== undefined) this.#d.clock.clearTimeout(timer);
  }

  async #write(final: boolean): Promise<void> {
    const { store, pool, profile, node, clock, log } = this.#d;
    const snap = profile.snapshot();
    if (snap === null || store === undefined) return;
    try {
      await store.write(pool, encodeSeasonCheckpoint(this.#shape, snap, node, clock.now(), final));
      this.#status.checkpointStep = snap.lastStep;
    } catch (err) {
      log.warn(`pool ${pool}: season checkpoint not written: ${(err as Error).message}`);
    }
  }

  status(): SeasonStatus {
    return {
      seasonSteps: this.#d.profile.seasonSteps,
      knownSteps: this.#d.profile.knownSteps,
      lastStep: Number.isNaN(this.#d.profile.lastStep) ? null : this.#d.profile.lastStep,
      ...this.#status,
    };
  }
}
