/**
 * The `forecast` Moleculer service and the node's handle on the serving
 * model. TensorFlow.js is loaded on first use (models/ loads it lazily, in
 * useBackend), so that starting a node does not pay for it.
 */
import { join } from 'node:path';
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, InputError, invalidField, isPlainObject } from '../../lib/index.ts';
import type { Clock } from '../../lib/index.ts';
import * as models from '../../models/index.ts';
import type {
  ModelRegistry,
  ModelSet,
  ServingForecast,
  ServingInput,
  TfBackendName,
} from '../../models/index.ts';

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
}

/** `forecast.predict` parameters: one entry per token, its recent demand per step, oldest first. */
export interface PredictParams {
  items: { token: string; values: number[]; startMs: number }[];
}

/** `forecast.predict` reply. */
export interface PredictReply {
  /** Serving model version; null when no model was promoted yet. */
  version: string | null;
  madeMs: number;
  horizonsMs: number[];
  forecasts: ServingForecast[];
}

/** The registry folder of a data folder. */
export const registryDirOf = (dataDir: string): string => join(dataDir, 'models');

/**
 * Holds the node's serving {@link ModelSet} (the registry's current version,
 * loaded lazily and reloaded on promotion) and answers batched predictions.
 */
export class ForecastHub {
  readonly config: Readonly<ForecastConfig>;
  readonly #clock: Clock;
  #models: Promise<ModelsModule> | undefined;
  #registry: ModelRegistry | undefined;
  #serving: Promise<ModelSet | undefined> | undefined;

  constructor(config: ForecastConfig, clock: Clock) {
    for (const h of config.horizonsMs) {
      if (!(h > 0 && h % config.stepMs === 0)) {
        throw invalidField('forecastHorizons', `multiples of ${config.stepMs} ms`, config.horizonsMs);
      }
    }
    this.config = Object.freeze({ ...config, horizonsMs: Object.freeze([...config.horizonsMs]) });
    this.#clock = clock;
  }

  /** Horizons in steps of the grid. */
  get horizonSteps(): number[] {
    return this.config.horizonsMs.map((h) => h / this.config.stepMs);
  }

  /** The models module, once TensorFlow.js is loaded and the backend selected (on the first call). */
  models(): Promise<ModelsModule> {
    this.#models ??= models.useBackend(this.config.backend).then(() => models);
    return this.#models;
  }

  async registry(): Promise<ModelRegistry> {
    const m = await this.models();
    this.#registry ??= new m.ModelRegistry(this.config.registryDir, this.#clock);
    return this.#registry;
  }

  /** The serving models: the registry's current version when its horizons match, else undefined. */
  serving(): Promise<ModelSet | undefined> {
    this.#serving ??= (async () => {
      const reg = await this.registry();
      const cur = await reg.current();
      if (cur === undefined) return undefined;
      const same =
        cur.stepMs === this.config.stepMs && cur.horizons.join(',') === this.horizonSteps.join(',');
      return same ? reg.load(cur.version) : undefined;
    })();
    return this.#serving;
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
    await new Promise((r) => setImmediate(r));
    held?.dispose();
  }

  /** Forecasts every item at its latest step, in one batched call. */
  async predict(params: PredictParams): Promise<PredictReply> {
    const inputs = checkPredictParams(params, this.config.stepMs);
    const m = await this.models();
    const set = (await this.serving()) ?? new m.ModelSet({ horizons: this.horizonSteps });
    return {
      version: set.version ?? null,
      madeMs: this.#clock.now(),
      horizonsMs: [...this.config.horizonsMs],
      forecasts: set.predictLatest(inputs),
    };
  }

  /** Frees the serving model. */
  async close(): Promise<void> {
    const set = await this.#serving?.catch(() => undefined);
    set?.dispose();
    this.#serving = undefined;
  }
}

/** Checks `forecast.predict` parameters, naming the first bad field. */
export function checkPredictParams(params: unknown, stepMs: number): ServingInput[] {
  if (!isPlainObject(params) || !Array.isArray(params['items'])) {
    throw new InputError(ErrorCode.InvalidField, 'params.items must be a list of {token, values, startMs}', {
      field: 'items',
    });
  }
  return (params['items'] as unknown[]).map((raw, i) => {
    const f = `items[${i}]`;
    if (!isPlainObject(raw)) throw invalidField(f, 'an object {token, values, startMs}', raw);
    const { token, values, startMs } = raw as Record<string, unknown>;
    if (typeof token !== 'string' || token === '')
      throw invalidField(`${f}.token`, 'a non-empty string', token);
    if (
      !Array.isArray(values) ||
      values.length === 0 ||
      !values.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0)
    ) {
      throw invalidField(`${f}.values`, 'a non-empty list of non-negative numbers', values);
    }
    if (typeof startMs !== 'number' || !Number.isFinite(startMs))
      throw invalidField(`${f}.startMs`, 'a time in ms', startMs);
    return { token, values: values as number[], startMs, stepMs };
  });
}

/** The `forecast` service: `forecast.predict` (batched). */
export function forecastService(hub: ForecastHub): ServiceSchema {
  return {
    name: 'forecast',
    actions: {
      predict: { handler: (ctx: Context<PredictParams>) => hub.predict(ctx.params) },
    },
    events: {
      'forecast.model': {
        handler: (ctx: Context<{ version?: string }>) => hub.reload(ctx.params?.version),
      },
    },
    stopped: () => hub.close(),
  };
}
