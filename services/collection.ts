/**
 * Builds a node's behavioural data collection from its options: the store
 * (DuckDB in the data folder, ClickHouse, or none), the batcher with its
 * disk spool, the privacy pipeline (key file, policies, IP regions), the
 * collector (the token actors' DecisionObserver), the events hub and the
 * events file feed. Start stays fast: DuckDB opens a local file; ClickHouse
 * is initialised on first use, so a node starts while it is down.
 */
import { join, resolve } from 'node:path';
import type { ServiceBroker, ServiceSchema } from 'moleculer';
import { ErrorCode, EventSignals, HolidayCalendar, StateError, parseHolidays } from '../lib/index.ts';
import type { Clock, TimerHandle } from '../lib/index.ts';
import { PrivacyPipeline } from '../lib/privacy/index.ts';
import { Batcher, createClickHouseStore, createWorkerStore } from '../store/index.ts';
import type { BatcherStats, TimeSeriesStore } from '../store/index.ts';
import { Collector } from './collector.ts';
import type { CollectorStats } from './collector.ts';
import { initOnUse } from './collector-store.ts';
import { EventHub, eventsService, noEvents } from './events.ts';
import type { EventsApi } from './events.ts';
import { EventsFeed } from './events-feed.ts';
import type { NodeOptions } from './node-options.ts';
import { defaultNodePrivacy, loadIpRegions, loadKeyFile, loadPrivacyFile } from './privacy-config.ts';
import { loadProfileFile, noProfiles } from './profile-provider.ts';
import { readOptionsFile } from './options-file.ts';

/**
 * A node's collection counters since start, as the status API (`collection`
 * of each node) and the REPL's `hr-collector` show them. Counts and codes
 * only: never a raw value.
 */
export interface CollectionStats {
  store: 'duckdb' | 'clickhouse';
  /** Decisions taken, records and buckets handed to the batcher, drops and refusals. */
  collector: CollectorStats;
  /**
   * Rows accepted, batches and rows written, spool depth and bytes, failures
   * and the last one (shared by the nodes of one process on one data folder).
   */
  batcher: BatcherStats;
}

/** The Moleculer service every node runs, answering `stats` with its CollectionStats or null. */
export const COLLECTION_SERVICE = 'collection';

/** A node's collection parts; all absent with store `none`. */
export interface Collection {
  readonly store: TimeSeriesStore | undefined;
  readonly batcher: Batcher | undefined;
  readonly collector: Collector | undefined;
  readonly events: EventsApi;
  readonly feed: EventsFeed | undefined;
  /** Counters since start; null with store `none`. */
  stats(): CollectionStats | null;
  /** Starts the events feed and the retention timer (after the broker started). */
  start(): Promise<void>;
  /** Writes held rows, flushes the batcher (the rest stays spooled) and closes the store. Idempotent. */
  close(): Promise<void>;
}

const HOUR_MS = 3_600_000;
/** Counter of rows collection lost: `kind` queue (queue full) or spool (batcher refused). */
export const LOST_METRIC = 'headroom.collector.lost';

interface Shared {
  store: TimeSeriesStore;
  batcher: Batcher;
  refs: number;
  release(): Promise<void>;
}

/**
 * Nodes of one process that share a data folder (tests, or several nodes
 * embedded in one app) share its store and spool: a spool has one writer,
 * and an embedded DuckDB file one owner. Closed when the last one stops.
 */
const open = new Map<string, Promise<Shared>>();

function openShared(options: Readonly<NodeOptions>, clock: Clock): Promise<Shared> {
  const key = `${options.store}:${resolve(options.dataDir)}`;
  let p = open.get(key);
  if (p === undefined) {
    p = openStore(options, clock).then((o) => {
      const shared: Shared = {
        ...o,
        refs: 0,
        release: async () => {
          if (--shared.refs > 0) return;
          open.delete(key);
          await o.batcher.close();
          await o.store.close();
        },
      };
      return shared;
    });
    open.set(key, p);
    p.catch(() => open.delete(key));
  }
  return p.then((s) => {
    s.refs++;
    return s;
  });
}

async function openStore(
  options: Readonly<NodeOptions>,
  clock: Clock,
): Promise<{ store: TimeSeriesStore; batcher: Batcher }> {
  let store: TimeSeriesStore;
  if (options.store === 'duckdb') {
    const path = join(options.dataDir, 'store.duckdb');
    // The adapter runs on a worker thread: a flush costs the check path one JSON text per batch.
    store = createWorkerStore({ adapter: 'duckdb', options: { path, retentionMs: options.retentionMs } });
    try {
      await store.init();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw new StateError(
        ErrorCode.StoreFailed,
        `cannot open the store ${path}: ${(err as Error).message} (another process may use this data folder: give each node its own --data-dir, or --store none)`,
        { field: 'dataDir', cause: err },
      );
    }
  } else {
    // ClickHouse stays on this thread: its insert costs about what posting the rows would.
    store = initOnUse(
      createClickHouseStore({
        url: options.clickhouseUrl!,
        database: options.clickhouseDatabase,
        retentionMs: options.retentionMs,
      }),
    );
  }
  const batcher = new Batcher(store, {
    spoolDir: join(options.dataDir, 'spool'),
    spoolMaxBytes: options.spoolMaxBytes,
    clock,
  });
  return { store, batcher };
}

function statsService(stats: () => CollectionStats | null): ServiceSchema {
  return { name: COLLECTION_SERVICE, actions: { stats: () => stats() } };
}

export async function createCollection(
  options: Readonly<NodeOptions>,
  broker: ServiceBroker,
  clock: Clock,
): Promise<Collection> {
  if (options.store === 'none') {
    broker.createService(statsService(() => null));
    return {
      store: undefined,
      batcher: undefined,
      collector: undefined,
      events: noEvents,
      feed: undefined,
      stats: () => null,
      start: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
  }
  const log = broker.getLogger('collector');
  const keys = await loadKeyFile(options.privacyKeyFile, options.dataDir);
  if (keys.created) {
    log.info(`generated a hash key in ${keys.path}`);
    if (options.natsUrl !== null)
      log.warn(
        "a generated hash key is this node's own: give every node of a cluster the same --privacy-key-file",
      );
  }
  const policies =
    options.privacyFile === null ? defaultNodePrivacy() : await loadPrivacyFile(options.privacyFile);
  const ipRegions = options.ipRegionsFile === null ? [] : await loadIpRegions(options.ipRegionsFile);
  const pipeline = new PrivacyPipeline({
    ...defaultNodePrivacy(),
    ...policies,
    keys: keys.file.keys,
    overlapMs: keys.file.overlapMs,
    ipRegions,
  });
  const holidays =
    options.holidaysFile === null
      ? new HolidayCalendar([])
      : parseHolidays(await readOptionsFile(options.holidaysFile, 'holidaysFile'), 'holidaysFile');
  const profiles = options.profileFile === null ? noProfiles : await loadProfileFile(options.profileFile);

  const shared = await openShared(options, clock);
  const { store, batcher } = shared;
  const signals = new EventSignals(options.eventHalfLifeMs);
  // Lost rows are a metric (when Moleculer metrics are on) as well as a log line and a stat.
  const metrics = broker.isMetricsEnabled();
  if (metrics) {
    broker.metrics.register({ name: LOST_METRIC, type: 'counter', labelNames: ['kind'], rate: false });
  }
  const collector = new Collector({
    pipeline,
    batcher,
    clock,
    logger: log,
    holidays,
    profiles,
    signals,
    profileParam: options.profileParam,
    source: broker.nodeID,
    graceMs: options.collectGraceMs,
    ...(metrics ? { onLoss: (kind, rows) => broker.metrics.increment(LOST_METRIC, { kind }, rows) } : {}),
  });
  const stats = (): CollectionStats => ({
    store: options.store as CollectionStats['store'],
    collector: collector.stats(),
    batcher: batcher.stats(),
  });
  broker.createService(statsService(stats));
  broker.createService(eventsService(signals, options.store === 'duckdb' ? batcher : undefined, log));
  const hub = new EventHub({ broker, clock, pipeline, batcher, store, signals });
  const feed =
    options.eventsFile === null
      ? undefined
      : new EventsFeed({
          path: options.eventsFile,
          stateFile: join(options.dataDir, 'events-feed.json'),
          clock,
          publish: (e) => hub.publish(e),
          logger: log,
        });

  let retention: TimerHandle | undefined;
  let closing: Promise<void> | undefined;
  const enforce = (): void => {
    if (closing !== undefined) return;
    store.enforceRetention(clock.now()).catch((err: unknown) => {
      log.warn(`retention not enforced: ${(err as Error).message}`);
    });
    signals.prune(clock.now());
    retention = clock.setTimeout(enforce, HOUR_MS);
  };
  return {
    store,
    batcher,
    collector,
    events: hub,
    feed,
    stats,
    start: async () => {
      retention = clock.setTimeout(enforce, 1000);
      await feed?.start();
    },
    close: () =>
      (closing ??= (async () => {
        if (retention !== undefined) clock.clearTimeout(retention);
        await feed?.stop();
        collector.close();
        await shared.release();
      })()),
  };
}
