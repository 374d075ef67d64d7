/**
 * The `bayes` Moleculer service: queries the serving model's Bayesian
 * network. `bayes.query` takes evidence (node name -> state name or index)
 * and answers the posterior of `burst` (with `pBurst`) or of the demand
 * level, for one horizon.
 */
import type { ServiceSchema } from 'moleculer';
import { ErrorCode, StateError, invalidField } from '../../lib/index.ts';
import type { Guard } from '../wire/index.ts';
import type { ForecastHub } from './forecast-service.ts';
import { parseBayesQueryParams } from './forecasting-params.ts';
import type { BayesQuery } from './forecasting-params.ts';
import { guardedAction } from '../wire/index.ts';

/** `bayes.query` parameters. */
export interface BayesQueryParams {
  /** Node -> state (name or index), e.g. `{ "event": "spike", "trend": "up" }`. */
  evidence?: Record<string, string | number>;
  /** @default "burst" */
  target?: 'burst' | 'demand';
  /** Horizon, as one of the configured horizons in ms. @default the first */
  horizonMs?: number;
}

/** `bayes.query` reply. */
export interface BayesQueryReply {
  version: string | null;
  target: string;
  horizonMs: number;
  states: string[];
  probabilities: number[];
  /** P(burst = yes), when the target is burst. */
  pBurst?: number;
}

/**
 * Answers one query against the hub's serving Bayesian network. `raw` is
 * checked first (an InputError whether or not a network serves yet); the
 * evidence's nodes and states are then checked against the serving network.
 */
export async function bayesQuery(hub: ForecastHub, raw: unknown): Promise<BayesQueryReply> {
  return answerBayesQuery(hub, parseBayesQueryParams(raw, hub.config.horizonsMs));
}

async function answerBayesQuery(hub: ForecastHub, query: BayesQuery): Promise<BayesQueryReply> {
  const { target, evidence, horizonMs } = query;
  const hi = hub.config.horizonsMs.indexOf(horizonMs);
  const set = await hub.serving();
  const model = set?.bayes?.models[hi];
  if (set === undefined || model === undefined) {
    throw new StateError(
      ErrorCode.Unavailable,
      'no Bayesian network is serving yet (train and promote a model first)',
      {
        retryable: true,
      },
    );
  }
  const node = model.net.nodes.find((n) => n.name === target)!;
  for (const [k, v] of Object.entries(evidence)) {
    const n = model.net.nodes.find((x) => x.name === k);
    if (n === undefined)
      throw invalidField(`evidence.${k}`, `a node of ${model.net.nodes.map((x) => x.name).join(', ')}`, k);
    const ok =
      typeof v === 'number' ? Number.isInteger(v) && v >= 0 && v < n.states.length : n.states.includes(v);
    if (!ok) throw invalidField(`evidence.${k}`, `one of ${n.states.join(', ')}`, v);
  }
  const p = [...model.net.query(target, evidence)];
  return {
    version: set.version ?? null,
    target,
    horizonMs,
    states: [...node.states],
    probabilities: p,
    ...(target === 'burst' ? { pBurst: p[1]! } : {}),
  };
}

/**
 * The `bayes` service (role `node`): a query whose params fail their check
 * is counted by `guard` (the node's) and answered with its coded error.
 */
export function bayesService(hub: ForecastHub, guard?: Guard): ServiceSchema {
  return {
    name: 'bayes',
    actions: {
      query: {
        handler: guardedAction(
          guard,
          'bayes.query',
          (raw) => parseBayesQueryParams(raw, hub.config.horizonsMs),
          (query) => answerBayesQuery(hub, query),
        ),
      },
    },
  };
}
