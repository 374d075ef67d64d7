/**
 * `headroom.v1.forecast.get {"params": {...}}` (role `client`: it reads and
 * changes nothing): the current forecast of each token the parameters form
 * (one per matching rule), as its owner's token actor holds it, with the
 * model that made it (`combined` with each member's weight and the leading
 * member per horizon, and the serving model's version). The owner is asked
 * through `throttle.describe` (role `node`), as the REPL's `hr-token` does.
 * Parameters that match no rule, or whose tokens have no live actor with a
 * forecast, get NotFound.
 */
import type { ServiceBroker } from 'moleculer';
import {
  ErrorCode,
  InputError,
  RuleSet,
  compileRule,
  invalidField,
  isPlainObject,
  parseParams,
  rejectUnknown,
  tokenKeyOf,
} from '../../lib/index.ts';
import type { Clock, Params, RuleSpec } from '../../lib/index.ts';
import type { KeptForecast } from './forecast-cadence.ts';

/** What {@link forecastGet} needs of a node. */
export interface ForecastGetDeps {
  broker: ServiceBroker;
  /** The rules in force. */
  rules: () => readonly RuleSpec[];
  /** The node that owns a token (undefined when none is live). */
  owner: (token: string) => string | undefined;
  clock: Clock;
  /** The token actors' service (`throttle`). */
  actorService: string;
}

/** One token's forecast in a `forecast.get` reply. */
export interface TokenForecastView extends KeptForecast {
  token: string;
  rule: string;
  node: string;
}

/** `forecast.get` reply. */
export interface ForecastGetReply {
  forecasts: TokenForecastView[];
}

/** Checks `{"params": {...}}`, naming the first bad field. */
export function parseForecastGetRequest(body: unknown): Params {
  if (!isPlainObject(body)) throw invalidField('request', 'a JSON object', body);
  rejectUnknown(body, ['params'], '');
  if (body['params'] === undefined)
    throw new InputError(ErrorCode.MissingField, 'params is required', { field: 'params' });
  return parseParams(body['params'], 'params');
}

/** Answers `forecast.get`. */
export async function forecastGet(deps: ForecastGetDeps, body: unknown): Promise<ForecastGetReply> {
  const params = parseForecastGetRequest(body);
  const set = new RuleSet(deps.rules().map(compileRule));
  const rules = set.matching(params, deps.clock.now());
  if (rules.length === 0) {
    throw new InputError(ErrorCode.NotFound, 'params match no rule', { field: 'params' });
  }
  const found = await Promise.all(
    rules.map(async (rule): Promise<TokenForecastView | undefined> => {
      const token = tokenKeyOf(rule, params);
      const owner = deps.owner(token);
      if (owner === undefined) return undefined;
      const d = await deps.broker.call<{ node: string; forecast?: KeptForecast } | null, { token: string }>(
        `${deps.actorService}.describe`,
        { token },
        { nodeID: owner, timeout: 2000 },
      );
      if (d?.forecast === undefined) return undefined;
      return { token, rule: rule.id, node: d.node, ...d.forecast };
    }),
  );
  const forecasts = found.filter((f): f is TokenForecastView => f !== undefined);
  if (forecasts.length === 0) {
    throw new InputError(
      ErrorCode.NotFound,
      'no live forecast for these params (no request yet, or the token was passivated)',
      { field: 'params' },
    );
  }
  return { forecasts };
}
