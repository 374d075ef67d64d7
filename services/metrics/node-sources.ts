/**
 * The scrape's sources, read from a node's parts: the actor host, the
 * collection stats, the Guard, the pools this node runs, the serving model's
 * validation scores and the trainer's promotions.
 */
import type { ThrottleNode } from '../check/index.ts';
import type { Collection } from '../collection/index.ts';
import type { Forecasting } from '../forecasting/index.ts';
import type { PoolRunStatus, PoolsSetup } from '../pools/index.ts';
import type { MetricSources } from './node-metrics.ts';

export interface NodeParts {
  throttle: ThrottleNode;
  collection: Collection;
  forecasting: Forecasting | undefined;
  pools: PoolsSetup | undefined;
}

export function nodeSources({ throttle, collection, forecasting, pools }: NodeParts): MetricSources {
  const sources: MetricSources = {
    actors: () => throttle.host.size,
    collection: () => collection.stats(),
    refused: () => throttle.guard.stats(),
  };
  if (pools !== undefined) {
    sources.pools = () => {
      const out: Array<{ pool: string; status: PoolRunStatus }> = [];
      // Only the pools whose runner is on this node: another node reports its own.
      for (const spec of pools.pools.specs) {
        const status = pools.pools.local(spec.name);
        if (status !== undefined) out.push({ pool: spec.name, status });
      }
      return out;
    };
  }
  if (forecasting !== undefined) {
    const { hub, trainer } = forecasting;
    sources.forecastScores = async () => {
      const cur = await (await hub.registry()).current();
      if (cur === undefined) return [];
      const horizon = (steps: number): string => `${(steps * cur.stepMs) / 1000}s`;
      return Object.entries(cur.scores).flatMap(([model, score]) =>
        score.wapeByHorizon.flatMap((wape, i) => {
          const steps = cur.horizons[i];
          return steps === undefined || !Number.isFinite(wape)
            ? []
            : [{ model, horizon: horizon(steps), wape }];
        }),
      );
    };
    if (trainer !== undefined) sources.promotions = async () => (await trainer.status()).promotions;
  }
  return sources;
}
