/**
 * The dashboard routes' query strings, validated like the API's bodies: an
 * unknown parameter is an UnknownField, a bad value an InvalidField naming
 * it, and the checks are the API's own (lib's `parseParams`, the wire's
 * token-key bound).
 */
import { ErrorCode, InputError, invalidField, parseParams, rejectUnknown, show } from '../../../lib/index.ts';
import type { Params } from '../../../lib/index.ts';
import { MAX_TOKEN_LENGTH } from '../../wire/index.ts';

/** The dashboard's data routes (all GET, read token). */
export const DashboardRoute = {
  /** Nodes, live actors over time, top tokens, pools now, trainer versions. */
  Overview: '/v1/dashboard/overview',
  /** One token's (or one request's tokens') demand, forecast band and limit. */
  Token: '/v1/dashboard/token',
  /** Each pool's units, ready units, demand and forecast over time. */
  Pools: '/v1/dashboard/pools',
} as const;
export type DashboardRoute = (typeof DashboardRoute)[keyof typeof DashboardRoute];

export const DASHBOARD_ROUTES: readonly DashboardRoute[] = Object.values(DashboardRoute);

/** Which tokens `/v1/dashboard/token` shows: one by its key, or those a request's params form. */
export type TokenQuery = { token: string } | { params: Params };

/** A query string as an object: an unknown parameter is refused, then a repeated one (it would be ambiguous). */
function entries(query: URLSearchParams, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) out[k] = v;
  rejectUnknown(out, allowed, '');
  for (const k of Object.keys(out)) {
    if (query.getAll(k).length > 1) throw invalidField(k, 'one value', query.getAll(k));
  }
  return out;
}

/** A route that takes no parameters. */
export function parseNoQuery(query: URLSearchParams): void {
  entries(query, []);
}

/**
 * `token=<token key>` or `params=<JSON object of request parameters>`, exactly one.
 *
 * @example parseTokenQuery(new URLSearchParams('params={"user":"u1"}')) // { params: { user: 'u1' } }
 */
export function parseTokenQuery(query: URLSearchParams): TokenQuery {
  const q = entries(query, ['token', 'params']);
  const token = q['token'];
  const raw = q['params'];
  if (token !== undefined && raw !== undefined) {
    throw invalidField('token', 'absent when params is given (one or the other)', token);
  }
  if (token !== undefined) {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw invalidField('token', `a token key of 1 to ${MAX_TOKEN_LENGTH} characters`, token);
    }
    return { token };
  }
  if (raw === undefined) {
    throw new InputError(ErrorCode.MissingField, 'token or params is required, got neither', {
      field: 'token',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(raw) as unknown;
  } catch (err) {
    throw new InputError(ErrorCode.InvalidJson, `params must be a JSON object, got ${show(raw)}`, {
      field: 'params',
      value: raw.slice(0, 80),
      cause: err,
    });
  }
  return { params: parseParams(value) };
}
