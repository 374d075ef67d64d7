/**
 * Builds a node's behavioural data collection from its options: the store
 * (DuckDB in the data folder, ClickHouse, or none) on its worker thread,
 * which also runs the collector and its batcher (collection-worker.ts); the
 * token actors' DecisionObserver on this thread (a CollectorPort, which only
 * hands decisions over); this thread's batcher for events, forecasts and
 * allocation decisions; the privacy pipeline (key file, policies, IP
 * regions), the events hub and the events file feed. Start stays fast:
 * DuckDB opens a local file; ClickHouse is initialised on first use, so a
 * node starts while it is down.
 */
import { join, resolve } from 'node:path';
import type { ServiceBroker, ServiceSchema } from 'moleculer';
import { ErrorCode, HOUR_MS, ScaledClock, StateError, parseHolidays } from '../../lib/index.ts';
import type { Clock, TimerHandle } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import { Batcher } from '../../store/index.ts';
import type { BatcherStats, StoreTarget, TimeSeriesStore, WorkerStore } from '../../store/index.ts';
import type { CollectionWorkerData, CollectorConfig } from './collection-worker.ts';
import type { CollectorStats } from '../../collection/index.ts';
import { CollectorPort, openCollectionWorker } from './collector-port.ts';
import { EventHub, eventsService, noEvents } from './events.ts';
import type { EventsApi } from './events.ts';
import { EventsFeed } from './events-feed.ts';
import type { NodeOptions } from '../runtime/index.ts';
import { defaultNodePrivacy, loadIpRegions, loadKeyFile, loadPrivacyFile } from './privacy-config.ts';
import { loadProfileFile } from './profile-file.ts';
import { readOptionsFile } from '../runtime/index.ts';

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
   * and the last one (shared by the nodes of one process on one data folder):
   * the collection worker's batcher (records, buckets, links) and this
   * thread's (events, forecasts, allocation decisions) together.
   */
  batcher: BatcherStats;
  /** Where the node's memory is (issue 11's 1 GB bound): the process's and each heap's, in MB. */
  memory?: NodeMemory;
}

/** A node process's memory in MB: resident set, the main thread's heap and buffers, the collection worker's heap. */
export interface NodeMemory {
  rssMb: number;
  /** The main thread's V8 heap: live-ish (used) and reserved (total). */
  mainHeapUsedMb: number;
  mainHeapTotalMb: number;
  /** Memory outside the heaps that V8 knows of (typed arrays' contents, Buffers). */
  externalMb: number;
  /** The collection worker's V8 heap and the buffers it holds; null when it is gone or busy past 250 ms. */
  workerHeapUsedMb: number | null;
  workerHeapTotalMb: number | null;
  workerExternalMb: number | null;
}

const mb = (bytes: number): number => Math.round(bytes / 1048576);

/**
 * How long status waits for the worker's heap figures: the worker answers
 * between two of its tasks, and one DuckDB call can hold it longer.
 */
const HEAP_WAIT_MS = 250;

/** The process's memory now, with `worker`'s heap (null figures when it did not answer within HEAP_WAIT_MS). */
async function memoryOf(worker: WorkerStore, clock: Clock): Promise<NodeMemory> {
  let timer: TimerHandle | undefined;
  const heap = await Promise.race([
    worker.heap(),
    new Promise<null>((resolve) => (timer = clock.setTimeout(() => resolve(null), HEAP_WAIT_MS))),
  ]);
  if (timer !== undefined) clock.clearTimeout(timer);
  const m = process.memoryUsage();
  return {
    rssMb: mb(m.rss),
    mainHeapUsedMb: mb(m.heapUsed),
    mainHeapTotalMb: mb(m.heapTotal),
    externalMb: mb(m.external),
    workerHeapUsedMb: heap === null ? null : mb(heap.usedBytes),
    workerHeapTotalMb: heap === null ? null : mb(heap.totalBytes),
    workerExternalMb: heap === null ? null : mb(heap.externalBytes),
  };
}

/** The Moleculer service every node runs, answering `stats` with its CollectionStats or null. */
export const COLLECTION_SERVICE = 'collection';

/** A node's collection parts; all absent with store `none`. */
export interface Collection {
  readonly store: TimeSeriesStore | undefined;
  /** Writes this thread's rows (events, forecasts, allocation decisions). */
  readonly batcher: Batcher | undefined;
  /** The token actors' observer; the collector itself runs on the store's worker thread. */
  readonly collector: CollectorPort | undefined;
  readonly events: EventsApi;
  readonly feed: EventsFeed | undefined;
  /** Counters since start; null with store `none`. */
  stats(): Promise<CollectionStats | null>;
  /** Starts the events feed and the retention timer (after the broker started). */
  start(): Promise<void>;
  /** Writes held rows, flushes the batcher (the rest stays spooled) and closes the store. Idempotent. */
  close(): Promise<void>;
}

/** Counter of rows collection lost: `kind` queue (queue full) or spool (batcher refused). */
export const LOST_METRIC = 'headroom.collector.lost';

interface Shared {
  store: WorkerStore;
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

/**
 * The store runs on a worker thread (see collection-worker.ts), which also
 * runs the nodes' collectors: the check path's thread only queues decisions.
 * DuckDB opens its file at start; ClickHouse creates its tables on first use,
 * so a node starts while it is down (batches spool meanwhile).
 */
async function openStore(
  options: Readonly<NodeOptions>,
  clock: Clock,
): Promise<{ store: WorkerStore; batcher: Batcher }> {
  const duck = options.store === 'duckdb';
  const path = join(options.dataDir, 'store.duckdb');
  const target: StoreTarget = duck
    ? { adapter: 'duckdb', options: { path, retentionMs: options.retentionMs } }
    : {
        adapter: 'clickhouse',
        options: {
          url: options.clickhouseUrl!,
          database: options.clickhouseDatabase,
          retentionMs: options.retentionMs,
        },
      };
  const data: CollectionWorkerData = {
    spoolDir: join(options.dataDir, 'spool-collect'),
    spoolMaxBytes: options.spoolMaxBytes,
    initOnUse: !duck,
    scaledClock: clock instanceof ScaledClock ? clock.spec : null,
  };
  const store = openCollectionWorker(target, data);
  if (duck) {
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
  }
  // Forecast rows come a cadence round at a time (three per active token):
  // batches of up to 5000 spend fewer transactions than 1000.
  const batcher = new Batcher(store, {
    spoolDir: join(options.dataDir, 'spool'),
    spoolMaxBytes: options.spoolMaxBytes,
    clock,
    maxRows: 5000,
  });
  return { store, batcher };
}

/** Two batchers' counters as one: sums, and the latest error of either. */
function sumBatcherStats(a: BatcherStats, b: BatcherStats): BatcherStats {
  const out = { ...a };
  for (const k of Object.keys(a) as (keyof BatcherStats)[]) {
    if (k !== 'lastError') out[k] = a[k] + b[k];
  }
  out.lastError = a.lastError ?? b.lastError;
  return out;
}

function statsService(stats: () => Promise<CollectionStats | null>): ServiceSchema {
  return { name: COLLECTION_SERVICE, actions: { stats: () => stats() } };
}

export async function createCollection(
  options: Readonly<NodeOptions>,
  broker: ServiceBroker,
  clock: Clock,
): Promise<Collection> {
  if (options.store === 'none') {
    broker.createService(statsService(() => Promise.resolve(null)));
    return {
      store: undefined,
      batcher: undefined,
      collector: undefined,
      events: noEvents,
      feed: undefined,
      stats: () => Promise.resolve(null),
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
  const privacy: CollectorConfig['privacy'] = {
    ...defaultNodePrivacy(),
    ...policies,
    keys: keys.file.keys,
    overlapMs: keys.file.overlapMs,
    ipRegions,
  };
  // This thread's pipeline anonymises events; the collector builds its own from the same options.
  const pipeline = new PrivacyPipeline(privacy);
  const profiles = options.profileFile === null ? undefined : await loadProfileFile(options.profileFile);
  const config: CollectorConfig = {
    privacy,
    holidaysText:
      options.holidaysFile === null ? null : await readOptionsFile(options.holidaysFile, 'holidaysFile'),
    profiles: profiles === undefined ? null : { name: profiles.name, map: profiles.map },
    profileParam: options.profileParam,
    eventHalfLifeMs: options.eventHalfLifeMs,
    source: broker.nodeID,
    graceMs: options.collectGraceMs,
    recordsPerTokenSecond: options.collectRecordsPerSecond,
  };
  // A bad holidays file is reported here, as the node starts, with its field.
  if (config.holidaysText !== null) parseHolidays(config.holidaysText, 'holidaysFile');

  const shared = await openShared(options, clock);
  const { store, batcher } = shared;
  // Lost rows are a metric (when Moleculer metrics are on) as well as a log line and a stat.
  const metrics = broker.isMetricsEnabled();
  if (metrics) {
    broker.metrics.register({ name: LOST_METRIC, type: 'counter', labelNames: ['kind'], rate: false });
  }
  const onLoss = (kind: 'queue' | 'spool', rows: number): void => {
    if (metrics) broker.metrics.increment(LOST_METRIC, { kind }, rows);
  };
  let collector: CollectorPort;
  try {
    collector = await CollectorPort.open(
      { worker: store, id: broker.nodeID, clock, logger: log, onLoss },
      config,
    );
  } catch (err) {
    await shared.release();
    throw err;
  }
  const signals = collector.signals;
  const stats = async (): Promise<CollectionStats> => {
    const [s, memory] = await Promise.all([collector.stats(), memoryOf(store, clock)]);
    return {
      store: options.store as CollectionStats['store'],
      collector: s.collector,
      batcher: sumBatcherStats(s.batcher, batcher.stats()),
      memory,
    };
  };
  broker.createService(statsService(stats));
  broker.createService(
    eventsService(signals, options.store === 'duckdb' ? batcher : undefined, log, { clock }),
  );
  const hub = new EventHub({ broker, clock, pipeline, batcher, store, signals });
  const feed =
    options.eventsFile === null
      ? undefined
      : new EventsFeed(
          { clock, publish: (e) => hub.publish(e), logger: log },
          { path: options.eventsFile, stateFile: join(options.dataDir, 'events-feed.json') },
        );

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
        await collector.close();
        await shared.release();
      })()),
  };
}
