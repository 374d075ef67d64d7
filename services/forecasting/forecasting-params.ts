/**
 * Validation of what other cluster members send the forecasting services:
 * the params of `bayes.query`, `trainer.*` and `training.series`, and the
 * `forecast.error` and `forecast.model` events. Anything on the cluster's
 * NATS with the `node` role can send them, so each is checked as strictly
 * as the public API (services/wire/action-params.ts does the same for
 * `throttle.*` and `pools.*`): unknown fields are refused, and every problem
 * is an InputError naming the field and the value. Pure.
 *
 * `forecast.predict` keeps its own check (`checkPredictParams` in
 * forecast-service.ts), `trainer.status`, `train` and `rollback` take `{}`
 * (`parseEmptyParams` of services/wire).
 */
import { invalidField, isPlainObject, missingField } from '../../lib/index.ts';
import { knownFields } from '../wire/index.ts';

/** A registry version, as models/registry.ts names them. */
const VERSION = /^v\d{6}$/;
const VERSION_EXPECTED = 'a version like v000001';
/** Most `evidence` entries in one `bayes.query` (a network has a handful of nodes). */
export const MAX_EVIDENCE = 64;
/** Longest state name accepted as evidence. */
const MAX_STATE_LENGTH = 64;
/** Most tokens one `training.series` request may ask for. */
export const MAX_SERIES_TOKENS = 1000;

/** `bayes.query` params once checked: the evidence's states are the serving network's to check. */
export interface BayesQuery {
  target: 'burst' | 'demand';
  evidence: Record<string, string | number>;
  horizonMs: number;
}

/**
 * `bayes.query`: `{evidence?, target?, horizonMs?}`. Checks everything that
 * needs no model, so a bad query is an InputError whether or not a network
 * is serving yet; whether each evidence node and state exist is checked
 * against the serving network (bayes-service.ts). Fields are named as the
 * action's earlier errors named them (`evidence.<node>`, `target`).
 */
export function parseBayesQueryParams(params: unknown, horizonsMs: readonly number[]): BayesQuery {
  const p = knownFields(params ?? {}, ['evidence', 'target', 'horizonMs'], 'an object', '');
  const target = p['target'] ?? 'burst';
  if (target !== 'burst' && target !== 'demand') throw invalidField('target', 'burst or demand', target);
  const evidence = p['evidence'] ?? {};
  if (!isPlainObject(evidence)) throw invalidField('evidence', 'an object of node -> state', evidence);
  const entries = Object.entries(evidence);
  if (entries.length > MAX_EVIDENCE) {
    throw invalidField('evidence', `at most ${MAX_EVIDENCE} nodes`, `${entries.length} nodes`);
  }
  for (const [k, v] of entries) {
    const ok =
      typeof v === 'number'
        ? Number.isSafeInteger(v) && v >= 0
        : typeof v === 'string' && v.length > 0 && v.length <= MAX_STATE_LENGTH;
    if (!ok) {
      throw invalidField(
        `evidence.${k}`,
        `a state name (1 to ${MAX_STATE_LENGTH} characters) or index (a whole number >= 0)`,
        v,
      );
    }
  }
  const horizonMs = p['horizonMs'] ?? horizonsMs[0];
  if (typeof horizonMs !== 'number' || !horizonsMs.includes(horizonMs)) {
    throw invalidField('horizonMs', `one of ${horizonsMs.join(', ')}`, horizonMs);
  }
  return { target, evidence: evidence as Record<string, string | number>, horizonMs };
}

/** `trainer.promote`: `{version}`, a version of the registry. */
export function parsePromoteParams(params: unknown): { version: string } {
  const p = knownFields(params, ['version'], 'an object {version}');
  const version = p['version'];
  if (version === undefined) throw missingField('params.version', `${VERSION_EXPECTED}, e.g. "v000001"`);
  if (typeof version !== 'string' || !VERSION.test(version))
    throw invalidField('params.version', VERSION_EXPECTED, version);
  return { version };
}

/** `training.series`: `{maxTokens}`, from 1 to {@link MAX_SERIES_TOKENS}. */
export function parseSeriesParams(params: unknown): { maxTokens: number } {
  const p = knownFields(params, ['maxTokens'], 'an object {maxTokens}');
  const maxTokens = p['maxTokens'];
  const expected = `a whole number from 1 to ${MAX_SERIES_TOKENS}`;
  if (maxTokens === undefined) throw missingField('params.maxTokens', expected);
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1 || (maxTokens as number) > MAX_SERIES_TOKENS)
    throw invalidField('params.maxTokens', expected, maxTokens);
  return { maxTokens: maxTokens as number };
}

/**
 * The `forecast.error` event: `{wape, n}`, the realised WAPE (a finite
 * number >= 0) of the previous round's forecasts over `n` tokens (a whole
 * number >= 1), as forecast-cadence.ts reports it. A negative or non-finite
 * WAPE, or a count that is not one, would bend the trainer's error average.
 */
export function parseForecastErrorEvent(params: unknown): { wape: number; n: number } {
  const p = knownFields(params, ['wape', 'n'], 'an object {wape, n}');
  const { wape, n } = p;
  if (wape === undefined) throw missingField('params.wape', 'a finite number >= 0');
  if (typeof wape !== 'number' || !Number.isFinite(wape) || wape < 0)
    throw invalidField('params.wape', 'a finite number >= 0', wape);
  if (n === undefined) throw missingField('params.n', 'a whole number >= 1');
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
    throw invalidField('params.n', 'a whole number >= 1', n);
  return { wape, n };
}

/**
 * The `forecast.model` event: `{version?}`, the version the trainer just put
 * in service (`{}`: reload whatever the registry serves). Anything else
 * would make the node drop its serving model and load it again for nothing.
 */
export function parseForecastModelEvent(params: unknown): { version?: string } {
  const p = knownFields(params ?? {}, ['version'], 'an object {version?}');
  const version = p['version'];
  if (version === undefined) return {};
  if (typeof version !== 'string' || !VERSION.test(version))
    throw invalidField('params.version', VERSION_EXPECTED, version);
  return { version };
}
