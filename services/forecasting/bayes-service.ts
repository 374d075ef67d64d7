/**
 * The `bayes` Moleculer service: queries the serving model's Bayesian
 * network. `bayes.query` takes evidence (node name -> state name or index)
 * and answers the posterior of `burst` (with `pBurst`) or of the demand
 * level, for one horizon.
 */
import type { Context, ServiceSchema } from 'moleculer';
import { ErrorCode, StateError, invalidField, isPlainObject } from '../../lib/index.ts';
import type { Evidence } from '../../models/index.ts';
import type { ForecastHub } from './forecast-service.ts';

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

/** Answers one query against the hub's serving Bayesian network. */
export async function bayesQuery(hub: ForecastHub, raw: BayesQueryParams): Promise<BayesQueryReply> {
  if (!isPlainObject(raw)) throw invalidField('params', 'an object', raw);
  const params = raw as BayesQueryParams;
  const target = params.target ?? 'burst';
  if (target !== 'burst' && target !== 'demand') throw invalidField('target', 'burst or demand', target);
  const evidence: Evidence = params.evidence ?? {};
  if (!isPlainObject(evidence)) throw invalidField('evidence', 'an object of node -> state', evidence);
  const horizonMs: number = params.horizonMs ?? hub.config.horizonsMs[0]!;
  const hi = hub.config.horizonsMs.indexOf(horizonMs);
  if (hi < 0) throw invalidField('horizonMs', `one of ${hub.config.horizonsMs.join(', ')}`, horizonMs);
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

/** The `bayes` service. */
export function bayesService(hub: ForecastHub): ServiceSchema {
  return {
    name: 'bayes',
    actions: {
      query: { handler: (ctx: Context<BayesQueryParams>) => bayesQuery(hub, ctx.params) },
    },
  };
}
