// The collection path end to end, beside each store client's raw insert rate,
// and check throughput with collection on and off, all in one run.
//   node --import tsx bench/collection.ts [records=100000] [batch=5000] [checkSeconds=5] [--checks-only] [--no-forecast] [--rounds=3]
//   node --import tsx bench/collection.ts [records=100000] [batch=5000] --sampling[=20] [--rounds=3]
// (1) records/s through observer -> anonymisation -> bucket aggregation ->
//     batcher -> store, for DuckDB and ClickHouse, beside the same records
//     written straight through each client (DuckDB appender, ClickHouse
//     JSONEachRow insert) into an identical table; ratio = ours / raw.
//     Row "duckdb/w" runs the adapter on a worker thread (createWorkerStore)
//     with the collector on this thread; row "duckdb/node" is the path a node
//     runs: decisions cross in batches (CollectorPort) to the collection
//     worker, which runs the collector, the batcher and the adapter.
// (2) checks/s of an in-process node over the NATS API (closed loop, 64 in
//     flight), store none (collection off) vs DuckDB (collection on, the
//     adapter on a worker thread), and the process's CPU per check (all its
//     threads: main, store worker, GC helpers) and the main thread's alone.
//     Then the latency (p50, p99) of checks sent at half the best off rate
//     (open loop), off and on. --checks-only runs this part only;
//     --no-forecast runs both nodes without forecasting.
// --sampling[=K] runs instead the collection path alone (DuckDB: on this
//     thread into a file, and as a node runs it), each with every record and
//     with at most K records per token and second (collector option
//     recordsPerTokenSecond, default 20), alternating: decisions/s, records
//     written, CPU per decision (all threads: collector, batcher, DuckDB) and
//     the DuckDB file's bytes per million decisions. The items are 100 tokens
//     at 100 decisions a second each.
// --port[=K] runs instead the node's path alone (CollectorPort on this
//     thread -> collection worker -> DuckDB in memory, records capped at K per
//     token and second, default 20) for two workloads: 100 tokens at 100
//     decisions/s each (10 a ms), and 1,000 tokens cycling at 200 a ms (the
//     client bench's 1,000 users at ~200k decisions/s offered); the CPU per
//     decision of the main thread (the check path's share: the port) and of
//     the other threads (the collection worker, DuckDB, GC helpers) apart,
//     median of --rounds after a warm-up run. Run it from two trees in turn
//     to compare builds (the script uses only CollectorPort's public API).
// ClickHouse: $CLICKHOUSE_URL if set, else a server started for the run.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from 'nats';
import { SystemClock, type RuleDecision, type TokenKey } from '../lib/index.ts';
import { PrivacyPipeline } from '../lib/privacy/index.ts';
import type { CollectorConfig } from '../services/collection/index.ts';
import { CollectorPort, openCollectionWorker } from '../services/collection/index.ts';
import { Collector } from '../collection/index.ts';
import {
  compileNodeOptions,
  defaultNodePrivacy,
  startNode,
  type HeadroomNode,
  type TakeItem,
} from '../services/index.ts';
import {
  Batcher,
  createClickHouseStore,
  createDuckDbStore,
  createWorkerStore,
  type WorkerStore,
  type RequestRecord,
  type TimeSeriesStore,
} from '../store/index.ts';
import { rawClickHouse, rawDuckDb } from './raw-insert.ts';
import { startClickHouseServer, type ClickHouseServer } from '../test/helpers/clickhouse-server.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const N = Number(args[0] ?? 100_000);
const BATCH = Number(args[1] ?? 5000);
const CHECK_S = Number(args[2] ?? 5);
const CHECKS_ONLY = flags.includes('--checks-only');
/** Both nodes without forecasting (its inference and forecast rows), to see collection alone. */
const NO_FORECAST = flags.includes('--no-forecast');
const USERS = 100;
/** Each path runs this many times, alternating with its peer; the best run of each counts. */
const ROUNDS = Number(flags.find((f) => f.startsWith('--rounds='))?.slice(9) ?? 3);
/** --sampling[=K]: records uncapped vs at most K per token and second, the collection path alone. */
const SAMPLING = flags.find((f) => f === '--sampling' || f.startsWith('--sampling='));
const CAP = SAMPLING === undefined || SAMPLING === '--sampling' ? 20 : Number(SAMPLING.slice(11));
const T0 = Date.now();

const privacyOptions = {
  ...defaultNodePrivacy(),
  keys: [{ id: 'bench', secret: 'bench-secret-0123456789abcdef' }],
};
const pipeline = (): PrivacyPipeline => new PrivacyPipeline(privacyOptions);

const items: TakeItem[] = Array.from({ length: N }, (_, i) => {
  const user = `user-${i % USERS}@bench.example`;
  return {
    token: `per-user|user=${user}` as TokenKey,
    rule: { id: 'per-user', rate: 100, periodMs: 1000, burst: 100, mode: 'enforce' },
    cost: 1,
    params: { user, op: 'read', ip: `203.0.113.${i % 250}` },
    atMs: T0 + Math.floor(i / 10), // 10 records per ms: N/10 ms of traffic
  };
});
const decision = (i: number): RuleDecision => ({
  token: '',
  ruleId: 'per-user',
  mode: 'enforce',
  allow: i % 10 !== 0,
  limit: 100,
  remaining: 1,
  retryAfterMs: 0,
});

const logger = { warn: (m: unknown) => console.error(String(m)) };

/** The records the collection path makes of `items`, for the raw clients to write. */
function collectedRecords(): RequestRecord[] {
  const rows: RequestRecord[] = [];
  const sink = { add: (kind: string, row: RequestRecord) => kind === 'records' && rows.push(row) };
  const c = new Collector(
    { pipeline: pipeline(), batcher: sink as unknown as Batcher, clock: new SystemClock(), logger },
    { recordsPerTokenSecond: 0 },
  );
  items.forEach((it, i) => c.decided(it, decision(i), it.atMs!));
  c.close();
  return rows;
}

let run = 0;

/** One run of the collection path: decisions/s, bucket and record rows, CPU µs per decision (all threads). */
interface PathRun {
  rate: number;
  buckets: number;
  records: number;
  cpuUs: number;
  /** Bytes of the DuckDB file written, 0 for a store in memory. */
  bytes: number;
}

/** CPU µs per decision of this process (every thread) since `cpu0`. */
const cpuPerDecision = (cpu0: NodeJS.CpuUsage): number => {
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / N;
};

/**
 * Observer calls -> Collector -> Batcher -> store, until the store has every
 * row. Decisions arrive in chunks of one batch, each processed as a tick
 * would, with the event loop free in between. `make` gets a fresh folder
 * for a store file (store.duckdb there is measured after the store closes).
 * `cap`: the collector's recordsPerTokenSecond (0: a record per decision, as
 * the raw clients write).
 */
async function viaCollector(make: (dir: string) => TimeSeriesStore, cap = 0): Promise<PathRun> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-bench-collect-'));
  const store = make(dir);
  await store.init();
  const clock = new SystemClock();
  const batcher = new Batcher(store, {
    maxRows: BATCH,
    maxDelayMs: 1000,
    spoolDir: join(dir, 'spool'),
    clock,
  });
  const c = new Collector({ pipeline: pipeline(), batcher, clock, logger }, { recordsPerTokenSecond: cap });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const end = Math.min(N, i + BATCH);
    for (let j = i; j < end; j++) c.decided(items[j]!, decision(j), items[j]!.atMs!);
    // As the collector's tick does: process the queue and write the rows due at
    // the traffic's time, then yield, so that the batcher's flush runs beside
    // the next chunk (on the worker thread, for a worker store).
    c.process(items[end - 1]!.atMs!);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  c.close();
  await batcher.drain();
  const ms = performance.now() - t0;
  const cpuUs = cpuPerDecision(cpu0);
  const stats = c.stats();
  await batcher.close();
  await store.close();
  const file = join(dir, 'store.duckdb');
  const bytes = existsSync(file) ? statSync(file).size : 0;
  rmSync(dir, { recursive: true, force: true });
  if (stats.records + stats.recordsSampledOut !== N || (cap === 0 && stats.records !== N))
    throw new Error(`collected ${stats.records} records (${stats.recordsSampledOut} sampled out) of ${N}`);
  return { rate: (N / ms) * 1000, buckets: stats.buckets, records: stats.records, cpuUs, bytes };
}

/**
 * The collection worker the node path writes through, one for the run (as a
 * node's lives as long as the node: its code is warm), its rows in memory.
 */
let nodeStore: WorkerStore | undefined;
let nodeDir = '';
async function nodeWorker(): Promise<WorkerStore> {
  if (nodeStore !== undefined) return nodeStore;
  nodeDir = mkdtempSync(join(tmpdir(), 'headroom-bench-node-'));
  const store = openCollectionWorker(
    { adapter: 'duckdb', options: { path: ':memory:' } },
    { spoolDir: join(nodeDir, 'spool'), spoolMaxBytes: 1 << 30, initOnUse: false },
  );
  await store.init();
  return (nodeStore = store);
}

/**
 * As a node runs collection: observer calls -> CollectorPort -> (batches to
 * the collection worker) -> Collector -> Batcher -> DuckDB, until the worker
 * has written every row (each round with a collector of its own on the one
 * worker). Decisions arrive in chunks of one batch, moved as a
 * tick would, with the event loop free in between. `live`: the decisions are
 * stamped from this run's start on, as a live node's are; otherwise their
 * times are the items' (in the past after the first round, so that the
 * worker writes each second at once and counts the rest of a replayed
 * second in the oldest open one: a fresh record sample per chunk).
 */
async function viaNode(cap = 0, live = false): Promise<PathRun> {
  const store = await nodeWorker();
  const shift = live ? Date.now() - T0 : 0;
  const feed = live ? items.map((it) => ({ ...it, atMs: it.atMs! + shift })) : items;
  const config: CollectorConfig = {
    privacy: privacyOptions,
    holidaysText: null,
    profiles: null,
    profileParam: 'user',
    eventHalfLifeMs: 300_000,
    source: 'bench',
    graceMs: 2000,
    recordsPerTokenSecond: cap,
  };
  const port = await CollectorPort.open(
    { worker: store, id: `bench-${++run}`, clock: new SystemClock(), logger },
    config,
    { maxQueue: N + 1 },
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const end = Math.min(N, i + BATCH);
    for (let j = i; j < end; j++) port.decided(feed[j]!, decision(j), feed[j]!.atMs!);
    port.flush();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const stats = await port.close();
  const ms = performance.now() - t0;
  const cpuUs = cpuPerDecision(cpu0);
  const c = stats?.collector;
  if (c === undefined || c.records + c.recordsSampledOut !== N || (cap === 0 && c.records !== N))
    throw new Error(`collected ${c?.records} records (${c?.recordsSampledOut} sampled out) of ${N}`);
  return { rate: (N / ms) * 1000, buckets: c.buckets, records: c.records, cpuUs, bytes: 0 };
}

/**
 * --sampling: each path with every record and with at most CAP per token
 * and second, alternating, ROUNDS times; the best rate and the median CPU
 * and bytes of each.
 */
async function samplingRuns(): Promise<void> {
  const duckFile = (dir: string): TimeSeriesStore => createDuckDbStore({ path: join(dir, 'store.duckdb') });
  const paths: [string, (cap: number) => Promise<PathRun>][] = [
    ['duckdb', (cap) => viaCollector(duckFile, cap)],
    ['duckdb/node', (cap) => viaNode(cap, true)],
  ];
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(
    `collection path alone: ${N} decisions, ${USERS} tokens at ${(N / USERS / (N / 10 / 1000)).toFixed(0)} decisions/s each, batch ${BATCH}, ${ROUNDS} alternating rounds`,
  );
  console.log(
    '(duckdb: collector, batcher and a DuckDB file on this thread; duckdb/node: as a node runs it, DuckDB in memory, decisions stamped from the run on)',
  );
  console.log(
    'path         records/token/s   best decisions/s   records written   CPU µs/decision (median)   file bytes per 1M decisions',
  );
  for (const [name, path] of paths) {
    const runs: Record<string, PathRun[]> = { off: [], on: [] };
    for (let i = 0; i < ROUNDS; i++) {
      runs['off']!.push(await path(0));
      runs['on']!.push(await path(CAP));
    }
    for (const [label, rs] of Object.entries(runs)) {
      const best = rs.reduce((x, y) => (y.rate > x.rate ? y : x));
      const bytes = median(rs.map((r) => r.bytes));
      console.log(
        `${name.padEnd(12)} ${(label === 'off' ? 'every (0)' : `at most ${CAP}`).padStart(15)}   ${Math.round(best.rate).toString().padStart(16)}   ${best.records.toString().padStart(15)}   ${median(
          rs.map((r) => r.cpuUs),
        )
          .toFixed(2)
          .padStart(24)}   ${
          bytes === 0
            ? '-'.padStart(27)
            : Math.round((bytes / N) * 1e6)
                .toString()
                .padStart(27)
        }`,
      );
    }
  }
}

/** CPU seconds (user + system) of this process's main thread, from /proc (Linux; NaN elsewhere). */
function mainThreadCpuS(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

interface CheckRun {
  rate: number;
  records: number;
  /** CPU of the whole process (every thread) per check, µs. */
  cpuUs: number;
  /** CPU of the main thread (client and node) per check, µs. */
  mainUs: number;
}

/** Runs `fn` against a fresh in-process node (its own data folder) with one per-user rule. */
async function withNode<T>(
  natsUrl: string,
  store: 'none' | 'duckdb',
  fn: (nc: NatsConnection, node: HeadroomNode) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-bench-check-'));
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      {
        natsUrl,
        nodeId: `bench-${store}-${++run}`,
        dataDir: dir,
        logLevel: 'error',
        store,
        ...(NO_FORECAST ? { forecast: false } : {}),
      },
    ),
  );
  const nc = await connect({ servers: natsUrl });
  try {
    const put = JSON.parse(
      (
        await nc.request(
          'headroom.v1.rules.put',
          JSON.stringify({ id: 'per-user', key: ['user'], rate: 200, period: '1s' }),
        )
      ).string(),
    ) as { error?: unknown };
    if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
    return await fn(nc, node);
  } finally {
    await nc.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const checkBody = (w: number, i: number): string =>
  JSON.stringify({
    params: { user: `user-${(w * 7919 + i) % 1000}@bench.example`, op: 'read', ip: '203.0.113.7' },
  });

/** Checks/s of one in-process node over the NATS API: 64 requests in flight for CHECK_S seconds. */
function checkRate(natsUrl: string, store: 'none' | 'duckdb'): Promise<CheckRun> {
  return withNode(natsUrl, store, async (nc, node) => {
    let done = 0;
    const deadline = performance.now() + CHECK_S * 1000;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuS();
    await Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        for (let i = 0; performance.now() < deadline; i++) {
          await nc.request('headroom.v1.check', checkBody(w, i));
          done++;
        }
      }),
    );
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const mainUs = ((mainThreadCpuS() - main0) * 1e6) / done;
    const records = (await node.collection.stats())?.collector.decided ?? 0;
    return { rate: (done / ms) * 1000, records, cpuUs: (cpu.user + cpu.system) / done, mainUs };
  });
}

/** Latency quantiles (ms) of checks sent at a fixed `rps` for CHECK_S seconds (open loop), after 1 s at that rate. */
function pacedLatency(
  natsUrl: string,
  store: 'none' | 'duckdb',
  rps: number,
): Promise<{ p50: number; p99: number }> {
  return withNode(natsUrl, store, async (nc) => {
    const send = async (seconds: number, lat: number[] | undefined): Promise<void> => {
      const start = performance.now();
      const pending: Promise<void>[] = [];
      for (let i = 0; i < Math.floor(rps * seconds); i++) {
        const wait = start + (i * 1000) / rps - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        pending.push(
          nc
            .request('headroom.v1.check', checkBody(i % 64, i))
            .then(() => void lat?.push(performance.now() - t0)),
        );
      }
      await Promise.all(pending);
    };
    await send(1, undefined);
    const lat: number[] = [];
    await send(CHECK_S, lat);
    lat.sort((x, y) => x - y);
    const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
    return { p50: q(0.5), p99: q(0.99) };
  });
}

/** --port[=K]: the node's collection path, main thread and other threads apart. */
const PORT = flags.find((f) => f === '--port' || f.startsWith('--port='));
const PORT_K = PORT === undefined || PORT === '--port' ? 20 : Number(PORT.slice(7));

interface PortRun {
  rate: number;
  /** CPU µs per decision of the main thread, and of every other thread of the process. */
  mainUs: number;
  otherUs: number;
  records: number;
}

/**
 * `n` decisions of `tokens` tokens, `perMs` a millisecond of request time
 * (stamped from now on), through a CollectorPort to the collection worker
 * until it has written them; fed in chunks of BATCH, each flushed as a tick
 * would, with the event loop free in between.
 */
async function viaPort(tokens: number, perMs: number, n: number): Promise<PortRun> {
  const store = await nodeWorker();
  const start = Date.now();
  const feed: TakeItem[] = Array.from({ length: n }, (_, i) => {
    const user = `user-${i % tokens}@bench.example`;
    return {
      token: `per-user|user=${user}` as TokenKey,
      rule: { id: 'per-user', rate: 100, periodMs: 1000, burst: 100, mode: 'enforce' },
      cost: 1,
      params: { user, op: 'read', ip: `203.0.113.${i % 250}` },
      atMs: start + Math.floor(i / perMs),
    };
  });
  const decisions = [decision(0), decision(1)];
  const port = await CollectorPort.open(
    { worker: store, id: `bench-${++run}`, clock: new SystemClock(), logger },
    {
      privacy: privacyOptions,
      holidaysText: null,
      profiles: null,
      profileParam: 'user',
      eventHalfLifeMs: 300_000,
      source: 'bench',
      graceMs: 2000,
      recordsPerTokenSecond: PORT_K,
    },
    { maxQueue: n + 1 },
  );
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuS();
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const end = Math.min(n, i + BATCH);
    for (let j = i; j < end; j++) port.decided(feed[j]!, decisions[j % 10 === 0 ? 0 : 1]!, feed[j]!.atMs!);
    port.flush();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const stats = await port.close();
  const ms = performance.now() - t0;
  const mainUs = ((mainThreadCpuS() - main0) * 1e6) / n;
  const cpu = process.cpuUsage(cpu0);
  const c = stats?.collector;
  if (c === undefined || c.records + c.recordsSampledOut !== n || c.decided !== n)
    throw new Error(`collected ${c?.records} records (${c?.recordsSampledOut} sampled out) of ${n}`);
  return { rate: (n / ms) * 1000, mainUs, otherUs: (cpu.user + cpu.system) / n - mainUs, records: c.records };
}

async function portRuns(): Promise<void> {
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(
    `the node's collection path (CollectorPort -> collection worker -> DuckDB in memory), at most ${PORT_K} records per token and second, batch ${BATCH}, median of ${ROUNDS} rounds after a warm-up`,
  );
  console.log(
    'workload                      decisions   best decisions/s   main µs/decision   other threads µs/decision   records',
  );
  for (const [name, tokens, perMs, n] of [
    ['100 tokens at 100/s', 100, 10, N],
    ['1000 tokens, 200k/s', 1000, 200, 2 * N],
  ] as const) {
    await viaPort(tokens, perMs, n);
    const rs: PortRun[] = [];
    for (let i = 0; i < ROUNDS; i++) rs.push(await viaPort(tokens, perMs, n));
    const best = rs.reduce((x, y) => (y.rate > x.rate ? y : x));
    console.log(
      `${name.padEnd(28)} ${n.toString().padStart(10)}   ${Math.round(best.rate).toString().padStart(16)}   ${median(
        rs.map((r) => r.mainUs),
      )
        .toFixed(2)
        .padStart(16)}   ${median(rs.map((r) => r.otherUs))
        .toFixed(2)
        .padStart(25)}   ${best.records.toString().padStart(7)}`,
    );
  }
}

let server: ClickHouseServer | undefined;
const runsAlone = PORT !== undefined ? portRuns : SAMPLING !== undefined ? samplingRuns : undefined;
if (runsAlone !== undefined) {
  try {
    await runsAlone();
  } finally {
    await nodeStore?.close();
    if (nodeDir !== '') rmSync(nodeDir, { recursive: true, force: true });
  }
  process.exit(0);
}
const nats = await startNatsServer();
try {
  if (!CHECKS_ONLY) {
    let url = process.env['CLICKHOUSE_URL'];
    if (url === undefined) {
      server = await startClickHouseServer();
      url = server.url;
    }
    const chUrl = url;
    const rows = collectedRecords();
    const duck = (): TimeSeriesStore => createDuckDbStore({ path: ':memory:' });
    const ch = (): TimeSeriesStore =>
      createClickHouseStore({ url: chUrl, database: `bench_collect_${++run}` });
    // As a node runs DuckDB: the adapter on a worker thread, rows posted to it per flush.
    const duckWorker = (): TimeSeriesStore =>
      createWorkerStore({ adapter: 'duckdb', options: { path: ':memory:' } });
    // Alternate the two paths, ROUNDS times each, and keep each one's best run.
    const best = async (
      ours: () => Promise<PathRun>,
      raw: () => Promise<number>,
    ): Promise<[number, number, number]> => {
      let [x, y, b] = [0, 0, 0];
      for (let i = 0; i < ROUNDS; i++) {
        y = Math.max(y, await raw());
        const r = await ours();
        x = Math.max(x, r.rate);
        b = r.buckets;
      }
      return [x, y, b];
    };
    const results = [
      [
        'duckdb',
        ...(await best(
          () => viaCollector(duck),
          () => rawDuckDb(rows, BATCH),
        )),
      ],
      [
        'clickhouse',
        ...(await best(
          () => viaCollector(ch),
          () => rawClickHouse(chUrl, rows, BATCH),
        )),
      ],
      [
        'duckdb/w',
        ...(await best(
          () => viaCollector(duckWorker),
          () => rawDuckDb(rows, BATCH),
        )),
      ],
      [
        'duckdb/node',
        ...(await best(
          () => viaNode(),
          () => rawDuckDb(rows, BATCH),
        )),
      ],
    ] as const;
    console.log(
      `records=${N} tokens=${USERS} batch=${BATCH} (the collection path also writes the bucket rows)`,
    );
    console.log(
      '(/w: the adapter on a worker thread; /node: collector, batcher and adapter on the collection worker, as a node runs DuckDB)',
    );
    console.log('store        collection rec/s   raw client rec/s   ratio   bucket rows');
    for (const [name, ours, raw, buckets] of results) {
      console.log(
        `${name.padEnd(12)} ${Math.round(ours).toString().padStart(17)} ${Math.round(raw).toString().padStart(18)}   ${(ours / raw).toFixed(2).padStart(5)}   ${buckets}`,
      );
    }
  }

  const offRuns: CheckRun[] = [];
  const onRuns: CheckRun[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    offRuns.push(await checkRate(nats.url, 'none'));
    onRuns.push(await checkRate(nats.url, 'duckdb'));
  }
  const bestOf = (runs: CheckRun[]): CheckRun => runs.reduce((x, y) => (y.rate > x.rate ? y : x));
  const median = (xs: number[]): number => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const off = bestOf(offRuns);
  const on = bestOf(onRuns);
  const us = (runs: CheckRun[], k: 'cpuUs' | 'mainUs'): string => median(runs.map((r) => r[k])).toFixed(1);
  console.log(
    `\nchecks over NATS, one in-process node (client in the same process), 64 in flight, ${CHECK_S} s each, ${ROUNDS} alternating rounds${NO_FORECAST ? ', forecasting off' : ''}:`,
  );
  console.log(
    '                              best checks/s   per check, median: CPU all threads   main thread',
  );
  console.log(
    `collection off (store none)   ${Math.round(off.rate).toString().padStart(13)}   ${us(offRuns, 'cpuUs').padStart(27)} µs   ${us(offRuns, 'mainUs').padStart(8)} µs`,
  );
  console.log(
    `collection on  (store duckdb) ${Math.round(on.rate).toString().padStart(13)}   ${us(onRuns, 'cpuUs').padStart(27)} µs   ${us(onRuns, 'mainUs').padStart(8)} µs  (${on.records} decisions collected; adapter on a worker thread)`,
  );
  const perRound = onRuns.map((r, i) => r.rate / offRuns[i]!.rate);
  console.log(
    `ratio on/off                  ${(on.rate / off.rate).toFixed(2)} (best of each); median of the rounds' ratios ${median(perRound).toFixed(2)}`,
  );
  console.log(`rounds on/off: ${perRound.map((x) => x.toFixed(3)).join(' ')}`);

  // Latency at half the maximum rate (open loop), alternating, median of the rounds.
  const half = Math.round(off.rate / 2);
  const offLat: { p50: number; p99: number }[] = [];
  const onLat: { p50: number; p99: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    offLat.push(await pacedLatency(nats.url, 'none', half));
    onLat.push(await pacedLatency(nats.url, 'duckdb', half));
  }
  const ms = (xs: { p50: number; p99: number }[], k: 'p50' | 'p99'): string =>
    median(xs.map((x) => x[k])).toFixed(2);
  console.log(
    `\nlatency at ${half} checks/s (half the best off rate), open loop, ${CHECK_S} s each, median of ${ROUNDS} rounds:`,
  );
  console.log(`collection off   p50 ${ms(offLat, 'p50')} ms   p99 ${ms(offLat, 'p99')} ms`);
  console.log(`collection on    p50 ${ms(onLat, 'p50')} ms   p99 ${ms(onLat, 'p99')} ms`);
  console.log(
    `rounds p99 off: ${offLat.map((x) => x.p99.toFixed(2)).join(' ')}; on: ${onLat.map((x) => x.p99.toFixed(2)).join(' ')}`,
  );
} finally {
  await nodeStore?.close();
  if (nodeDir !== '') rmSync(nodeDir, { recursive: true, force: true });
  await server?.dispose();
  await nats.stop();
}
