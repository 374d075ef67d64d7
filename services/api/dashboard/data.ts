/**
 * The dashboard's JSON, built from what the cluster already answers, so any
 * node's dashboard shows the whole cluster: `status`'s calls (live nodes and
 * their actors, `pools.status`), `throttle.actors` and `throttle.describe`
 * on each token's owner (the REPL's `hr-token`: a token's last 60 s of
 * requests and denials, its forecast band and the limit in force) and
 * `trainer.status`. Time series longer than a token's 60 s come from the
 * bounded ring in history.ts. Every reply is `{...}` or `{error}`, as the
 * API's handlers answer; nothing throws out.
 */
import type { ServiceBroker } from 'moleculer';
import { toHeadroomError } from '../../../lib/index.ts';
import type { Clock, ErrorBody } from '../../../lib/index.ts';
import type { PlacementTracker } from '../../cluster/index.ts';
import type { PoolOverview } from '../../pools/index.ts';
import type { RuleStore } from '../../rules/index.ts';
import type { Api } from '../handlers.ts';
import { History } from './history.ts';
import type { HistoryOptions, Series } from './history.ts';
import { DashboardRoute, parseNoQuery, parseTokenQuery } from './queries.ts';
import { topTokens, tokenSeries } from './tokens.ts';
import { TrainerVersions } from './trainer.ts';

/** What the dashboard reads besides the API. */
export interface DashboardDeps {
  broker: ServiceBroker;
  tracker: PlacementTracker;
  rules: RuleStore;
  /** Samples the history and stamps replies (wall time). */
  clock: Clock;
  /** Matches rules (`from`/`until`) on the node's domain time; as the gateway does. @default clock */
  ruleClock?: Clock;
  /** The ring's step and size. @default 2 s, 300 samples */
  history?: HistoryOptions;
}

/** An overview younger than this is served again (many open pages cost one scan). */
const OVERVIEW_CACHE_MS = 1000;

type Reply = Record<string, unknown> | { error: ErrorBody };

export class Dashboard {
  readonly history: History;
  readonly #api: Api;
  readonly #d: DashboardDeps;
  readonly #trainer = new TrainerVersions();
  #overview: { atMs: number; reply: Promise<Reply> } | undefined;

  constructor(api: Api, deps: DashboardDeps) {
    this.#api = api;
    this.#d = deps;
    this.history = new History(
      deps.clock,
      {
        actors: async () =>
          Object.fromEntries((await api.status()).map((n) => [n.id, n.actors] as [string, number | null])),
        pools: () => api.pools(),
      },
      (err) => deps.broker.logger.warn(`dashboard: sample failed: ${(err as Error).message}`),
      deps.history,
    );
  }

  start(): void {
    this.history.start();
  }

  stop(): void {
    this.history.stop();
  }

  /** Answers one dashboard route; never throws. */
  async handle(route: string, query: URLSearchParams): Promise<Reply> {
    try {
      switch (route) {
        case DashboardRoute.Overview: {
          parseNoQuery(query);
          const now = this.#d.clock.now();
          if (this.#overview === undefined || now - this.#overview.atMs >= OVERVIEW_CACHE_MS) {
            this.#overview = { atMs: now, reply: this.overview() };
          }
          return await this.#overview.reply;
        }
        case DashboardRoute.Token:
          return await tokenSeries(this.#d, parseTokenQuery(query));
        case DashboardRoute.Pools:
          parseNoQuery(query);
          return this.pools();
        default:
          throw new Error(`no dashboard route ${route}`);
      }
    } catch (err) {
      const e = toHeadroomError(err);
      if (e.code === 'HEADROOM_ERR_INTERNAL') this.#d.broker.logger.error(`dashboard ${route} failed:`, err);
      return { error: e.toBody() };
    }
  }

  /** Nodes and their actors (now and over time), the top tokens, pools now, rules count, trainer versions. */
  async overview(): Promise<Reply> {
    const [nodes, pools, top, trainer] = await Promise.all([
      this.#api.status(),
      this.#api.pools(),
      topTokens(this.#d.broker, this.#d.tracker),
      this.#trainer.read(this.#d.broker),
    ]);
    return {
      atMs: this.#d.clock.now(),
      nodes: nodes.map((n) => ({
        id: n.id,
        actors: n.actors,
        ...(n.error === undefined ? {} : { error: n.error }),
      })),
      actors: this.history.actorsSeries(),
      topTokens: top,
      pools: pools satisfies PoolOverview[] | null,
      rules: this.#d.rules.list().length,
      trainer,
    };
  }

  /** Each pool over the ring's window. */
  pools(): Reply {
    const names = this.history.poolNames();
    const pools: Array<{ name: string } & Series> = names.map((name) => ({
      name,
      ...this.history.poolSeries(name),
    }));
    return { stepMs: this.history.options.stepMs, pools };
  }
}
