/**
 * Entry of a node's collection worker thread: the store worker (it owns the
 * DuckDB or ClickHouse adapter and answers the node's store calls through
 * store/store-host.ts) that also runs the node's collectors and their
 * batcher, so that anonymising, holding and writing decisions costs the
 * check path's thread only queuing them (see collector-port.ts). Loaded by
 * URL, never imported.
 *
 * Methods on top of the store's:
 * - `collectorOpen(id, config)`: builds a Collector (privacy pipeline,
 *   holidays, profiles, event signals) writing through this thread's batcher;
 * - post `collect(id, batch)`: processes a DecisionBatch (the decisions in
 *   the records' sample, which the port drew, one by one; the rest as counts);
 * - post `signal(id, event)`: an event signal, for the records' levels, and
 *   `signalPrune(id, nowMs)`: drops the levels that have decayed;
 * - `collectorStats(id)`: the collector's and the batcher's counters (also
 *   sent with a `done` notice at most every 200 ms);
 * - `collectorClose(id)`: writes what it holds, stops it and answers, with its
 *   final counters, once the batcher has written everything (or spooled what
 *   the store refused).
 * Closing the store closes the collectors and flushes the batcher first (what
 * cannot be written stays in its spool). Warnings, lost rows and processed
 * batches come back as notices `warn`, `loss` and `done`.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { EventSignals, HolidayCalendar, ScaledClock, SystemClock, parseHolidays } from '../../lib/index.ts';
import type { Clock, ScaledClockSpec, SignalEvent } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { PrivacyOptions } from '../../lib/privacy/index.ts';
import { Batcher, adapterFor, serveStore } from '../../store/index.ts';
import type { BatcherStats, EncodedSink, TimeSeriesStore, WorkerStart } from '../../store/index.ts';
import { Collector, MapProfileProvider, noProfiles } from '../../collection/index.ts';
import type { DecisionBatch, CollectorStats, ProfileAttributes } from '../../collection/index.ts';
import { initOnUse } from './collector-store.ts';

/** The worker's own start data. */
export interface CollectionWorkerData {
  /** The collectors' batcher's spool folder. */
  spoolDir: string;
  spoolMaxBytes: number;
  /** Create the tables on first use, not at start (ClickHouse: a node starts while it is down). */
  initOnUse: boolean;
  /** The node's domain clock when it runs scaled (option `timeScale`). @default the wall clock */
  scaledClock?: ScaledClockSpec | null;
}

/** What a collector is built from: data only, as it crosses threads. */
export interface CollectorConfig {
  privacy: Partial<PrivacyOptions>;
  /** The holidays file's text, or null for none. */
  holidaysText: string | null;
  /** The profiles the node loaded (read once, there), or null for none. */
  profiles: { name: string; map: ReadonlyMap<string, ProfileAttributes> } | null;
  profileParam: string;
  eventHalfLifeMs: number;
  /** The node id (bucket rows carry it). */
  source: string;
  graceMs: number;
  /** Most records per token and second, 0 for no cap (option `collectRecordsPerSecond`). @default the collector's, 20 */
  recordsPerTokenSecond?: number;
}

export interface CollectorWorkerStats {
  collector: CollectorStats;
  batcher: BatcherStats;
}

/**
 * Lowers this thread's CPU priority (Linux: nice 10 for this thread only, and
 * for the threads it starts, such as DuckDB's), so that under CPU contention
 * the check path runs first and collection catches up in the slack. Where a
 * thread's id cannot be read (not Linux), nothing changes.
 */
function yieldToCheckPath(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
  } catch {
    // no per-thread priority here: collection runs at the node's priority
  }
}
yieldToCheckPath();

const port = parentPort!;
const { target, data } = workerData as WorkerStart & { data: CollectionWorkerData };
const adapter = adapterFor(target);
const store: TimeSeriesStore & Partial<EncodedSink> = data.initOnUse ? initOnUse(adapter) : adapter;
// The collectors stamp and close buckets in the node's domain time (the same clock, rebuilt from
// its spec); the batcher's flushes and retries are plumbing and keep real time.
const clock: Clock = data.scaledClock == null ? new SystemClock() : new ScaledClock(data.scaledClock);
const realClock = new SystemClock();
/** Opened with the first collector: by then the node has initialised the store. */
let batcher: Batcher | undefined;
const collectors = new Map<string, Collector>();

const notice = (name: string, ...args: unknown[]): void => port.postMessage({ notice: name, args });

/** How often a `done` notice carries the collector's counters. */
const STATS_EVERY_MS = 200;
/** When each collector's counters last went out with a notice. */
const statsSentMs = new Map<string, number>();

function statsOf(id: string): CollectorWorkerStats {
  return { collector: collectorOf(id).stats(), batcher: batcher!.stats() };
}

function collectorOf(id: string): Collector {
  const c = collectors.get(id);
  if (c === undefined) throw new Error(`no collector ${id} on this worker`);
  return c;
}

async function open(id: string, config: CollectorConfig): Promise<readonly string[]> {
  // Records come in per-second bursts: batches of up to 5000 rows (still at
  // most 1 s old) spend less on each append and transaction than 1000.
  batcher ??= new Batcher(store, {
    spoolDir: data.spoolDir,
    spoolMaxBytes: data.spoolMaxBytes,
    clock: realClock,
    maxRows: 5000,
  });
  const collector = new Collector(
    {
      pipeline: new PrivacyPipeline(config.privacy),
      batcher,
      clock,
      logger: { warn: (...args: unknown[]) => notice('warn', id, args.map(String).join(' ')) },
      holidays:
        config.holidaysText === null
          ? new HolidayCalendar([])
          : parseHolidays(config.holidaysText, 'holidaysFile'),
      profiles:
        config.profiles === null
          ? noProfiles
          : new MapProfileProvider(config.profiles.map, config.profiles.name),
      signals: new EventSignals(config.eventHalfLifeMs),
      onLoss: (kind, rows) => notice('loss', id, kind, rows),
    },
    {
      profileParam: config.profileParam,
      source: config.source,
      graceMs: config.graceMs,
      ...(config.recordsPerTokenSecond === undefined
        ? {}
        : { recordsPerTokenSecond: config.recordsPerTokenSecond }),
    },
  );
  collectors.set(id, collector);
  return collector.reads;
}

serveStore(port, store as TimeSeriesStore & EncodedSink, {
  methods: {
    collectorOpen: (id, config) => open(id as string, config as CollectorConfig),
    collect: (id, batch) => {
      const collector = collectorOf(id as string);
      const b = batch as DecisionBatch;
      collector.collectBatch(b);
      // The node's thread counts what is still on its way; every STATS_EVERY_MS
      // the notice also carries the counters, which status reads when this
      // thread is busy (collector-port.ts).
      const now = clock.now();
      if (now - (statsSentMs.get(id as string) ?? 0) >= STATS_EVERY_MS) {
        statsSentMs.set(id as string, now);
        notice('done', id, b.decisions, statsOf(id as string));
      } else notice('done', id, b.decisions);
    },
    signal: (id, event) => collectorOf(id as string).signals.add(event as SignalEvent),
    signalPrune: (id, nowMs) => collectorOf(id as string).signals.prune(nowMs as number),
    collectorStats: (id): CollectorWorkerStats => statsOf(id as string),
    collectorClose: async (id): Promise<CollectorWorkerStats | undefined> => {
      const c = collectors.get(id as string);
      collectors.delete(id as string);
      statsSentMs.delete(id as string);
      if (c === undefined || batcher === undefined) return undefined;
      c.close();
      await batcher.flush(); // written, or in the spool (never waits for a store that is down)
      return { collector: c.stats(), batcher: batcher.stats() };
    },
  },
  beforeClose: async () => {
    for (const collector of collectors.values()) collector.close();
    collectors.clear();
    await batcher?.close();
  },
  onPostError: (method, err) => notice('warn', '', `collection worker: ${method} failed: ${String(err)}`),
});
