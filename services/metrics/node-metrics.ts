/**
 * A node's Prometheus registry (prom-client): the check path's counters,
 * kept as plain numbers by the sinks below and copied into prom-client on
 * scrape, and gauges read on scrape from the sources the node already has
 * (actor host, collection stats, pools, model registry, trainer, Guard).
 * Each node has its own registry, so several nodes in one process (tests,
 * embedded apps) do not mix their figures.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckReply } from '../../lib/index.ts';
import type { CheckMetrics, LinkDirection, LinkMetrics, LinkOp } from '../check/index.ts';
import type { CollectionStats } from '../collection/index.ts';
import type { PoolRunStatus } from '../pools/index.ts';
import type { GuardStats } from '../wire/index.ts';

/** What the scrape reads; each source absent when the node runs without that part. */
export interface MetricSources {
  /** Live token actors on this node. */
  actors: () => number;
  /** Collection counters; null with store `none`. */
  collection: () => Promise<CollectionStats | null>;
  /** The node's Guard counters (services/wire). */
  refused: () => GuardStats;
  /** The pools this node owns and their runners' status. */
  pools?: () => ReadonlyArray<{ pool: string; status: PoolRunStatus }>;
  /** The serving model's validation scores: per model, WAPE per horizon (labelled `5s`, `30s`, ...). */
  forecastScores?: () => Promise<ReadonlyArray<{ model: string; horizon: string; wape: number }>>;
  /** Versions the trainer on this node put in service; absent without a trainer. */
  promotions?: () => Promise<number>;
}

/** Upper bounds (seconds) of the check duration histogram: 50 µs to 2.5 s. */
export const CHECK_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Counts of one rule's decisions. */
interface RuleCounts {
  allow: number;
  deny: number;
}

const LINK_OPS: readonly LinkOp[] = ['take', 'refund', 'forward'];

export class NodeMetrics {
  readonly registry = new Registry();
  /** Decisions by rule id (`""`: no enforce rule matched); plain numbers, copied out on scrape. */
  readonly #checks = new Map<string, RuleCounts>();
  #errors = 0;
  readonly #link: Record<LinkOp, Record<LinkDirection, number>> = {
    take: { in: 0, out: 0 },
    refund: { in: 0, out: 0 },
    forward: { in: 0, out: 0 },
  };
  readonly #duration: Histogram;

  /** The gateway's sink (services/check CheckMetrics). */
  readonly check: CheckMetrics;
  /** The owner link's sink (services/check LinkMetrics). */
  readonly link: LinkMetrics;

  /** The check path's metrics and the process metrics; {@link read} adds the node's parts'. */
  constructor(nodeId: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
    this.#duration = new Histogram({
      name: 'headroom_check_duration_seconds',
      help: 'Time from a check (or check.batch) call reaching the deciding node to its replies, in seconds',
      buckets: CHECK_BUCKETS,
      registers,
    });
    this.check = this.#checkSink();
    this.link = {
      message: (op, direction) => {
        this.#link[op][direction]++;
      },
    };
    // prom-client calls collect() with the metric as `this`: the counts are reached through these.
    const checks = this.#checks;
    const errors = (): number => this.#errors;
    const link = this.#link;

    new Counter({
      name: 'headroom_checks_total',
      help: 'Requests decided on this node, by decision (allow, deny, error) and deciding rule ("" when none matched)',
      labelNames: ['decision', 'rule'],
      registers,
      collect() {
        this.reset();
        for (const [rule, c] of checks) {
          this.inc({ decision: 'allow', rule }, c.allow);
          this.inc({ decision: 'deny', rule }, c.deny);
        }
        this.inc({ decision: 'error', rule: '' }, errors());
      },
    });
    new Counter({
      name: 'headroom_link_messages_total',
      help: 'Owner-link messages (take, refund, forward) this node sent (out) and received (in)',
      labelNames: ['op', 'direction'],
      registers,
      collect() {
        this.reset();
        for (const op of LINK_OPS) {
          this.inc({ op, direction: 'out' }, link[op].out);
          this.inc({ op, direction: 'in' }, link[op].in);
        }
      },
    });
  }

  /** Registers the metrics read on scrape from `sources` (once, when the node's parts exist). */
  read(sources: MetricSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'headroom_actors',
      help: 'Live token actors on this node',
      registers,
      collect() {
        this.set(sources.actors());
      },
    });
    new Counter({
      name: 'headroom_refused_total',
      help: 'Messages and calls refused from inside the cluster, by kind (services/wire Guard)',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(sources.refused())) this.inc({ kind }, n);
      },
    });
    this.#collectionMetrics(sources, registers);
    this.#poolMetrics(sources, registers);
    this.#forecastMetrics(sources, registers);
  }

  /** The Prometheus text of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  #checkSink(): CheckMetrics {
    const count = (r: CheckReply): void => {
      const rule = r.rule ?? '';
      let c = this.#checks.get(rule);
      if (c === undefined) this.#checks.set(rule, (c = { allow: 0, deny: 0 }));
      if (r.allow) c.allow++;
      else c.deny++;
    };
    const observe = (t0: number): void => this.#duration.observe((performance.now() - t0) / 1000);
    return {
      start: () => performance.now(),
      decided: (replies, t0) => {
        for (const r of replies) count(r);
        observe(t0);
      },
      decidedOne: (reply, t0) => {
        count(reply);
        observe(t0);
      },
      failed: (requests, t0) => {
        this.#errors += requests;
        observe(t0);
      },
    };
  }

  #collectionMetrics(sources: MetricSources, registers: Registry[]): void {
    // One read of the collection stats serves the four metrics of a scrape.
    let pending: Promise<CollectionStats | null> | undefined;
    const stats = (): Promise<CollectionStats | null> => {
      pending ??= sources.collection().finally(() => setImmediate(() => (pending = undefined)));
      return pending;
    };
    new Counter({
      name: 'headroom_collector_records_total',
      help: 'Behavioural records the collector handed to the batcher',
      registers,
      async collect() {
        const s = await stats();
        this.reset();
        if (s !== null) this.inc(s.collector.records);
      },
    });
    new Counter({
      name: 'headroom_collector_records_sampled_out_total',
      help: 'Decisions collected without a behavioural record: beyond the records per token and second (their buckets count them)',
      registers,
      async collect() {
        const s = await stats();
        this.reset();
        if (s !== null) this.inc(s.collector.recordsSampledOut);
      },
    });
    new Counter({
      name: 'headroom_collector_lost_total',
      help: 'Decisions collection lost: kind queue (queue full) or spool (the batcher refused the rows)',
      labelNames: ['kind'],
      registers,
      async collect() {
        const s = await stats();
        this.reset();
        if (s === null) return;
        this.inc({ kind: 'queue' }, s.collector.droppedQueueFull);
        this.inc({ kind: 'spool' }, s.collector.refused);
      },
    });
    new Gauge({
      name: 'headroom_spool_bytes',
      help: 'Bytes of the store spool (rows waiting for the store to come back)',
      registers,
      async collect() {
        const s = await stats();
        this.set(s === null ? 0 : s.batcher.spoolBytes);
      },
    });
  }

  #poolMetrics(sources: MetricSources, registers: Registry[]): void {
    // Registered on every node, so the names are there to find; no series without pools.
    const pools = sources.pools ?? (() => []);
    new Gauge({
      name: 'headroom_pool_units',
      help: 'Units of each pool this node runs: target (decided), ready, starting',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { pool, status } of pools()) {
          this.set({ pool, state: 'target' }, status.target);
          this.set({ pool, state: 'ready' }, status.ready);
          this.set({ pool, state: 'starting' }, status.starting);
        }
      },
    });
    new Gauge({
      name: 'headroom_pool_demand',
      help: "Requests the pool's tokens made in the last step that ended, for each pool this node runs",
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        for (const { pool, status } of pools()) this.set({ pool }, status.demand);
      },
    });
  }

  #forecastMetrics(sources: MetricSources, registers: Registry[]): void {
    const scores = sources.forecastScores ?? (() => Promise.resolve([]));
    new Gauge({
      name: 'headroom_forecast_wape',
      help: 'Validation WAPE of the serving model version, by horizon and model (candidate, current, baselines)',
      labelNames: ['horizon', 'model'],
      registers,
      async collect() {
        const list = await scores();
        this.reset();
        for (const s of list) this.set({ horizon: s.horizon, model: s.model }, s.wape);
      },
    });
    // 0 on a node without a trainer: the cluster's sum is the trainer's count.
    const promotions = sources.promotions ?? (() => Promise.resolve(0));
    new Counter({
      name: 'headroom_trainer_promotions_total',
      help: 'Model versions the trainer on this node put in service (promoted by training or by hand, or rolled back to)',
      registers,
      async collect() {
        const n = await promotions();
        this.reset();
        this.inc(n);
      },
    });
  }
}
