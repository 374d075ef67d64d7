/**
 * Tokens on the dashboard, read from their owners: `throttle.actors` on
 * every live node (the call `status` makes) lists the tokens, and
 * `throttle.describe` on each token's owner (the REPL's `hr-token`) gives its
 * last 60 s of requests and denials per second, its latest forecast band
 * and the limit in force (the rule's, adjusted by a pool's lease).
 */
import type { ServiceBroker } from 'moleculer';
import { RuleSet, compileRule, tokenKeyOf } from '../../../lib/index.ts';
import type { Clock } from '../../../lib/index.ts';
import type { TokenDescription } from '../../../actors/index.ts';
import { ACTOR_SERVICE } from '../../cluster/index.ts';
import type { PlacementTracker } from '../../cluster/index.ts';
import type { RuleStore } from '../../rules/index.ts';
import type { TokenQuery } from './queries.ts';

/** Tokens looked at per node for the top lists (`throttle.actors` order); the rest are not ranked. */
export const TOP_SCAN_PER_NODE = 200;
/** Rows in each top list. */
export const TOP_ROWS = 10;
/** Seconds of a token's window its rate is taken over. */
const RATE_WINDOW_S = 10;
const CALL_TIMEOUT_MS = 2000;

/** What a token's series needs: the cluster, and the rules to turn params into tokens. */
export interface TokenDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  rules: RuleStore;
  clock: Clock;
  /**
   * The clock rules are matched on: the node's domain time, which runs N times
   * faster than `clock` under `--time-scale N` (the gateway matches on it too).
   * @default clock
   */
  ruleClock?: Clock;
}

export interface TopToken {
  token: string;
  node: string;
  rule: string;
  /** Requests per second over the last {@link RATE_WINDOW_S} s. */
  rate: number;
  /** Requests and denials over the last 60 s (complete seconds). */
  requests: number;
  denied: number;
  /** denied / requests over the last 60 s; 0 without requests. */
  throttledShare: number;
}

export interface TokenSeries {
  token: string;
  owner: string | null;
  /** `live`: an actor holds it now; `dormant`: passivated; `none`: no request since it was passivated. */
  state: 'live' | 'dormant' | 'none';
  rule: string | null;
  mode: string | null;
  /** Per second, oldest first, from `startMs`; complete seconds only. */
  startMs: number | null;
  stepMs: number;
  requests: number[];
  denied: number[];
  /** The limit in force, requests per second (the rule's, adjusted by a pool's lease). */
  limitPerSecond: number | null;
  burst: number | null;
  /** The latest forecast: requests per second at `madeMs + horizonsMs[i]`. */
  forecast: {
    madeMs: number;
    horizonsMs: number[];
    p10: number[];
    p50: number[];
    p90: number[];
    model: string | null;
  } | null;
  error?: string;
}

/**
 * The top tokens by rate and by throttled share, from their owners'
 * windows; at most {@link TOP_SCAN_PER_NODE} tokens per node are looked at.
 */
export async function topTokens(
  broker: ServiceBroker,
  tracker: PlacementTracker,
): Promise<{ scanned: number; byRate: TopToken[]; byThrottled: TopToken[] }> {
  const ids = [...new Set([...tracker.liveNodes, broker.nodeID])].sort();
  const perNode = await Promise.all(
    ids.map(async (nodeID): Promise<TopToken[]> => {
      const opts = { nodeID, timeout: CALL_TIMEOUT_MS };
      try {
        const r = await broker.call<{ tokens: string[] }, { limit: number }>(
          `${ACTOR_SERVICE}.actors`,
          { limit: TOP_SCAN_PER_NODE },
          opts,
        );
        const described = await Promise.all(
          r.tokens.map((token) =>
            broker
              .call<TokenDescription | null, { token: string }>(`${ACTOR_SERVICE}.describe`, { token }, opts)
              .catch(() => null),
          ),
        );
        return described.flatMap((d) => (d === null || d.last60s === undefined ? [] : [topOf(nodeID, d)]));
      } catch {
        return [];
      }
    }),
  );
  const all = perNode.flat();
  const byRate = [...all].sort((a, b) => b.rate - a.rate || b.requests - a.requests).slice(0, TOP_ROWS);
  const byThrottled = all
    .filter((t) => t.denied > 0)
    .sort((a, b) => b.throttledShare - a.throttledShare || b.denied - a.denied)
    .slice(0, TOP_ROWS);
  return { scanned: all.length, byRate, byThrottled };
}

/** One token by key, or the tokens a request's params form under the rules in force now. */
export async function tokenSeries(d: TokenDeps, q: TokenQuery): Promise<{ tokens: TokenSeries[] }> {
  const { broker, tracker, rules } = d;
  const ruleClock = d.ruleClock ?? d.clock;
  let tokens: string[];
  if ('token' in q) tokens = [q.token];
  else {
    const set = new RuleSet(rules.list().map(compileRule));
    tokens = set.matching(q.params, ruleClock.now()).map((r) => tokenKeyOf(r, q.params));
  }
  const series = await Promise.all(
    tokens.map(async (token): Promise<TokenSeries> => {
      const owner = tracker.owner(token) ?? null;
      if (owner === null) return { ...emptySeries(token, null), error: 'no live node owns this token' };
      try {
        const d = await broker.call<(TokenDescription & { dormant?: boolean }) | null, { token: string }>(
          `${ACTOR_SERVICE}.describe`,
          { token },
          { nodeID: owner, timeout: CALL_TIMEOUT_MS },
        );
        if (d === null) return emptySeries(token, owner);
        if (d.dormant === true || d.last60s === undefined)
          return { ...emptySeries(token, owner), state: 'dormant' };
        return seriesOf(owner, d);
      } catch (err) {
        return { ...emptySeries(token, owner), error: (err as Error).message };
      }
    }),
  );
  return { tokens: series };
}

function emptySeries(token: string, owner: string | null): TokenSeries {
  return {
    token,
    owner,
    state: 'none',
    rule: null,
    mode: null,
    startMs: null,
    stepMs: 1000,
    requests: [],
    denied: [],
    limitPerSecond: null,
    burst: null,
    forecast: null,
  };
}

/** A window's seconds without the last one, which is still filling (it would read as a drop). */
const complete = (xs: readonly number[]): number[] => xs.slice(0, -1);

function seriesOf(owner: string, d: TokenDescription): TokenSeries {
  const f = d.forecast;
  return {
    token: d.token,
    owner,
    state: 'live',
    rule: d.ruleId,
    mode: d.mode,
    startMs: d.last60s.startMs,
    stepMs: 1000,
    requests: complete(d.last60s.requests),
    denied: complete(d.last60s.denied),
    limitPerSecond: (d.effectiveLimit.rate * 1000) / d.effectiveLimit.periodMs,
    burst: d.effectiveLimit.burst,
    forecast:
      f === undefined
        ? null
        : {
            madeMs: f.madeMs,
            horizonsMs: f.horizonsMs,
            p10: f.p10,
            p50: f.p50,
            p90: f.p90,
            model: f.model ?? null,
          },
  };
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

function topOf(node: string, d: TokenDescription): TopToken {
  const requests = complete(d.last60s.requests);
  const denied = complete(d.last60s.denied);
  const recent = requests.slice(-RATE_WINDOW_S);
  const r = sum(requests);
  const n = sum(denied);
  return {
    token: d.token,
    node,
    rule: d.ruleId,
    rate: recent.length === 0 ? 0 : sum(recent) / recent.length,
    requests: r,
    denied: n,
    throttledShare: r === 0 ? 0 : n / r,
  };
}
