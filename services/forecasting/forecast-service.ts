/**
 * The `forecast` Moleculer service and the node's handle on the serving
 * models. Every token is served by the live zoo (models/live: statistical
 * members from its first request, the LSTM and the Bayesian network of the
 * serving model, combined online per token by their realised error); the
 * serving model is the registry's current version, or the pretrained LSTM
 * shipped in models/pretrained/ until one is promoted. Serving runs the
 * LSTM's forward pass in plain JavaScript, a few tokens at a time between
 * checks: the node's main thread never loads TensorFlow.js (training loads
 * it in its worker).
 */
import { join } from 'node:path';
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, InputError, invalidField, isPlainObject } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import * as models from '../../models/index.ts';
import type {
  LiveZoo,
  LstmState,
  ModelRegistry,
  ModelSet,
  ServingForecast,
  ServingInput,
  TfBackendName,
} from '../../models/index.ts';
import type { Guard } from '../wire/index.ts';
import { parseForecastModelEvent } from './forecasting-params.ts';
import { guardedEvent, refuseCall } from '../wire/index.ts';

/** The models module (models/index.ts). */
export type ModelsModule = typeof models;

/** Forecasting settings of a node. */
export interface ForecastConfig {
  /** Horizons, each a whole number of steps. */
  horizonsMs: readonly number[];
  /** The grid of the series (the token windows' fine buckets). @default 1000 */
  stepMs: number;
  backend: TfBackendName;
  /** Registry root, normally `<dataDir>/models`. */
  registryDir: string;
  /** Serve the pretrained LSTM (models/pretrained/) while no version is promoted. @default true */
  pretrained?: boolean;
  /**
   * Longest stretch of forecasting work (ms) in a `predict` call before it
   * yields the event loop to checks: a round's tokens are forecast a few at
   * a time (the LSTM costs ~40,000 multiply-adds a token), so a round over
   * hundreds of active tokens does not hold a node's checks for tens of
   * milliseconds (issue 15).
   * @default 2
   */
  sliceMs?: number;
  /**
   * Rest (ms, real time) between two slices of a `predict` call: the
   * cadence's rounds take at most sliceMs / (sliceMs + restMs) of the main
   * thread instead of all the checks leave (see ForecastCadenceDeps.restMs).
   * 0 yields to what waits in the event loop and goes on.
   * @default 0
   */
  restMs?: number;
  /**
   * Real time (ms) from a `predict` call's start within which it rests;
   * past it, it only yields (see ForecastCadenceDeps.restWithinMs).
   * @default Infinity
   */
  restWithinMs?: number;
  /**
   * The cadence's period (ms): the live zoo keeps per horizon only the
   * probes that rounds this far apart can have in flight (LiveZoo
   * `roundSteps`). @default stepMs
   */
  roundEveryMs?: number;
}

/** Tokens forecast between two looks at the clock of a slice (each ~0.2 ms with the LSTM). */
const SLICE_TOKENS = 4;

/**
 * `forecast.predict` parameters: one entry per token, its recent demand per
 * step, oldest first, and optionally per horizon its demand per step one
 * season (a day) before the target, null where unknown (ServingInput.season).
 */
export interface PredictParams {
  items: { token: string; values: number[]; startMs: number; season?: (number | null)[] }[];
}

/** `forecast.predict` reply. */
export interface PredictReply {
  /** Serving model version (`pretrained` for the shipped LSTM); null when none serves. */
  version: string | null;
  madeMs: number;
  horizonsMs: number[];
  forecasts: ServingForecast[];
}

/** The registry folder of a data folder. */
export const registryDirOf = (dataDir: string): string => join(dataDir, 'models');

/** The version name of the shipped pretrained LSTM when it serves. */
export const PRETRAINED_VERSION = 'pretrained';

/**
 * Holds the node's serving {@link ModelSet} (the registry's current version,
 * else the pretrained LSTM; loaded lazily and reloaded on promotion) and the
 * live zoo with its per-token combiner state, and answers batched predictions.
 */
export class ForecastHub {
  readonly config: Readonly<ForecastConfig>;
  readonly #clock: Clock;
  #models: Promise<ModelsModule> | undefined;
  #registry: ModelRegistry | undefined;
  #serving: Promise<ModelSet | undefined> | undefined;
  readonly #zoo: LiveZoo;
  /** Predictions in progress: a model they hold is freed after they finish. */
  readonly #running = new Set<Promise<unknown>>();

  constructor(config: ForecastConfig, clock: Clock) {
    for (const h of config.horizonsMs) {
      if (!(h > 0 && h % config.stepMs === 0)) {
        throw invalidField('forecastHorizons', `multiples of ${config.stepMs} ms`, config.horizonsMs);
      }
    }
    if (config.sliceMs !== undefined && !(config.sliceMs > 0 && Number.isFinite(config.sliceMs))) {
      throw invalidField('sliceMs', 'a positive number of ms', config.sliceMs);
    }
    if (config.restMs !== undefined && !(config.restMs >= 0 && Number.isFinite(config.restMs))) {
      throw invalidField('restMs', 'a number of ms >= 0', config.restMs);
    }
    if (config.restWithinMs !== undefined && !(config.restWithinMs >= 0)) {
      throw invalidField('restWithinMs', 'a number of ms >= 0', config.restWithinMs);
    }
    if (
      config.roundEveryMs !== undefined &&
      !(config.roundEveryMs > 0 && Number.isFinite(config.roundEveryMs))
    ) {
      throw invalidField('roundEveryMs', 'a positive number of ms', config.roundEveryMs);
    }
    this.config = Object.freeze({ ...config, horizonsMs: Object.freeze([...config.horizonsMs]) });
    this.#clock = clock;
    const roundSteps = Math.max(1, Math.floor((config.roundEveryMs ?? config.stepMs) / config.stepMs));
    this.#zoo = new models.LiveZoo({ horizons: this.horizonSteps, stepMs: config.stepMs, roundSteps });
  }

  /** The live zoo (its combiner state per token). */
  get zoo(): LiveZoo {
    return this.#zoo;
  }

  /** Drops `token`'s combiner state (its actor was passivated, evicted or handed away); O(1). */
  release(token: string): boolean {
    return this.#zoo.release(token);
  }

  /**
   * Drops the combiner state of every token `live` rejects; returns how
   * many. A rare sweep, O(tokens held): {@link release} covers passivation.
   */
  retain(live: (token: string) => boolean): number {
    return this.#zoo.retain(live);
  }

  /** Horizons in steps of the grid. */
  get horizonSteps(): number[] {
    return this.config.horizonsMs.map((h) => h / this.config.stepMs);
  }

  /**
   * The models module. Serving needs no TensorFlow.js (the LSTM's forward
   * pass is plain JavaScript, LstmForecaster.fromState loads none), so none
   * is loaded here: a node that serves never pays its ~1 s load and ~60 MB
   * on its main thread; training loads it in its worker.
   */
  models(): Promise<ModelsModule> {
    this.#models ??= Promise.resolve(models);
    return this.#models;
  }

  async registry(): Promise<ModelRegistry> {
    const m = await this.models();
    this.#registry ??= new m.ModelRegistry(this.config.registryDir, this.#clock);
    return this.#registry;
  }

  /**
   * The serving models: the registry's current version when its grid and
   * horizons match, else the pretrained LSTM when its do, else undefined
   * (the live zoo then serves its statistical members alone).
   */
  serving(): Promise<ModelSet | undefined> {
    this.#serving ??= (async () => {
      const reg = await this.registry();
      const cur = await reg.current();
      const steps = this.horizonSteps.join(',');
      if (cur !== undefined && cur.stepMs === this.config.stepMs && cur.horizons.join(',') === steps)
        return reg.load(cur.version);
      if (this.config.pretrained === false) return undefined;
      const m = await this.models();
      const pre = await m.loadPretrained();
      if (pre === undefined) return undefined;
      if (pre.stepMs !== this.config.stepMs || pre.horizons.join(',') !== steps) {
        pre.lstm.dispose();
        return undefined;
      }
      return new m.ModelSet({ version: PRETRAINED_VERSION, horizons: this.horizonSteps, lstm: pre.lstm });
    })();
    return this.#serving;
  }

  /**
   * The pretrained LSTM's weights when they suit this node's grid and
   * horizons, else undefined: what a training candidate can start from
   * (`TrainJob.init`) and must beat (`TrainJob.current`) while no version
   * is promoted.
   */
  async pretrainedState(): Promise<{ state: LstmState; weights: Float32Array } | undefined> {
    if (this.config.pretrained === false) return undefined;
    const m = await this.models();
    const pre = await m.loadPretrained();
    if (pre === undefined) return undefined;
    try {
      const fits =
        pre.stepMs === this.config.stepMs && pre.horizons.join(',') === this.horizonSteps.join(',');
      return fits ? pre.lstm.exportState() : undefined;
    } finally {
      pre.lstm.dispose();
    }
  }

  /**
   * Loads the registry's current version in place of the serving one
   * (nothing to do when `version` is already serving). The old model is
   * freed after predictions already holding it have finished.
   */
  async reload(version?: string): Promise<void> {
    const old = this.#serving;
    const held = await old?.catch(() => undefined);
    if (version !== undefined && held?.version === version) return;
    if (this.#serving === old) this.#serving = undefined;
    await this.serving();
    await this.#settled();
    held?.dispose();
  }

  /** Resolves when the predictions in progress now have finished (and one turn of the loop after). */
  async #settled(): Promise<void> {
    await Promise.allSettled([...this.#running]);
    await new Promise((r) => setImmediate(r));
  }

  /**
   * Forecasts every item at its latest step: the live zoo's combination
   * per token (source `combined`, with its weights). The items are forecast
   * in slices of at most `sliceMs` of work, the event loop yielded between
   * them, so checks wait at most one slice for a round.
   */
  predict(params: PredictParams): Promise<PredictReply> {
    const inputs = checkPredictParams(params, this.config.stepMs, this.config.horizonsMs.length);
    const run = this.#predict(inputs);
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run)).catch(() => undefined);
    return run;
  }

  async #predict(inputs: ServingInput[]): Promise<PredictReply> {
    // A model that cannot be loaded leaves the statistical members serving; the next call tries again.
    const set = await this.serving().catch(() => {
      this.#serving = undefined;
      return undefined;
    });
    const sliceMs = this.config.sliceMs ?? 2;
    const restMs = this.config.restMs ?? 0;
    const until = performance.now() + (this.config.restWithinMs ?? Number.POSITIVE_INFINITY);
    const forecasts: ServingForecast[] = [];
    for (let i = 0; i < inputs.length;) {
      // Checks and status requests go first; with a rest, for that long (real time: it paces work done).
      const rest = restMs > 0 && performance.now() < until;
      if (i > 0) await new Promise((r) => (rest ? setTimeout(r, restMs) : setImmediate(r)));
      // performance.now, not the Clock: this measures work done, not domain time.
      const t0 = performance.now();
      do {
        const part = inputs.slice(i, i + SLICE_TOKENS);
        for (const f of this.#zoo.predict(part, set)) forecasts.push(f);
        i += part.length;
      } while (i < inputs.length && performance.now() - t0 < sliceMs);
    }
    return {
      version: set?.version ?? null,
      madeMs: this.#clock.now(),
      horizonsMs: [...this.config.horizonsMs],
      forecasts,
    };
  }

  /** Frees the serving model (after the predictions in progress). */
  async close(): Promise<void> {
    const set = await this.#serving?.catch(() => undefined);
    this.#serving = undefined;
    await this.#settled();
    set?.dispose();
  }
}

/** Whether every value is a finite number >= 0 (a loop: 100,000 of them per round, no callback each). */
function allCounts(values: unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !(v >= 0 && v < Number.POSITIVE_INFINITY)) return false;
  }
  return true;
}

/** Whether every entry is null or a finite number >= 0. */
function seasonValues(values: unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && (typeof v !== 'number' || !(v >= 0 && v < Number.POSITIVE_INFINITY))) return false;
  }
  return true;
}

/**
 * Checks `forecast.predict` parameters, naming the first bad field; an
 * item's `season`, when present, must be a list of `horizons` entries
 * (any length when `horizons` is not given), each null or a number >= 0.
 */
export function checkPredictParams(params: unknown, stepMs: number, horizons?: number): ServingInput[] {
  if (!isPlainObject(params) || !Array.isArray(params['items'])) {
    throw new InputError(ErrorCode.InvalidField, 'params.items must be a list of {token, values, startMs}', {
      field: 'items',
    });
  }
  return (params['items'] as unknown[]).map((raw, i) => {
    const f = `items[${i}]`;
    if (!isPlainObject(raw)) throw invalidField(f, 'an object {token, values, startMs}', raw);
    const { token, values, startMs, season } = raw as Record<string, unknown>;
    if (typeof token !== 'string' || token === '')
      throw invalidField(`${f}.token`, 'a non-empty string', token);
    if (!Array.isArray(values) || values.length === 0 || !allCounts(values)) {
      throw invalidField(`${f}.values`, 'a non-empty list of non-negative numbers', values);
    }
    if (typeof startMs !== 'number' || !Number.isFinite(startMs))
      throw invalidField(`${f}.startMs`, 'a time in ms', startMs);
    if (season === undefined) return { token, values: values as number[], startMs, stepMs };
    if (
      !Array.isArray(season) ||
      (horizons !== undefined && season.length !== horizons) ||
      !seasonValues(season)
    ) {
      const n = horizons === undefined ? '' : `${horizons} `;
      throw invalidField(`${f}.season`, `a list of ${n}numbers >= 0 or null`, season);
    }
    return { token, values: values as number[], startMs, stepMs, season: season as (number | null)[] };
  });
}

/**
 * The `forecast` service (role `node`): `forecast.predict` (batched), and
 * the `forecast.model` event that reloads the serving model. A predict
 * whose params fail {@link checkPredictParams} is counted by `guard` (the
 * node's) and answered with its coded error; a bad `forecast.model` is
 * counted and dropped, so it reloads nothing.
 */
export function forecastService(hub: ForecastHub, guard?: Guard): ServiceSchema {
  return {
    name: 'forecast',
    actions: {
      predict: {
        handler: (ctx: Context<unknown>) => {
          // hub.predict checks the params itself, synchronously, before any work: what it
          // throws here is a refused call (its slow part's errors come in the promise).
          try {
            return hub.predict(ctx.params as PredictParams);
          } catch (err) {
            refuseCall(guard, ctx, 'forecast.predict', err);
            throw err;
          }
        },
      },
    },
    events: {
      'forecast.model': {
        handler: guardedEvent(guard, 'forecast.model', parseForecastModelEvent, ({ version }) =>
          hub.reload(version),
        ),
      },
    },
    stopped: () => hub.close(),
  };
}
