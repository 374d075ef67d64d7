/**
 * The DuckDB store's resident memory under a steady stream of one-off
 * users' records (issue 11), without a cluster: batches of `batch` records
 * (each a new id and a new token, as one-off users make them) written
 * through a worker store, `rate` records per second (0: as fast as the
 * store takes them), for `seconds`; with `buckets`, a bucket row per record
 * too. With `tokens` > 0, forecast-like rounds run beside the writes, as
 * services/forecasting does on a node: activeTokens over the last minute,
 * tokenBuckets for up to `tokens` of them, one by one, and two forecasts
 * each written. Every 5 s: the process's VmRSS, its anonymous memory, its
 * V8 heap, rounds and reads done. Run bench/native-memory.ts beside it for
 * the breakdown by kind and glibc's own view:
 *
 *   npx tsx bench/native-memory.ts --match bench/store-memory.ts --malloc-every 20 &
 *   MALLOC_ARENA_MAX=2 node --import tsx bench/store-memory.ts [--seconds 120] [--rate 4000]
 *     [--batch 5000] [--tokens 0] [--buckets]
 *
 * (MALLOC_ARENA_MAX=2 as bin/headroom.js sets it for a node.) With
 * `--seconds 90 --tokens 20000 --buckets`, a store that looked up a round's
 * ~190,000 active tokens with one query parameter each peaked at 734 MB
 * resident, glibc holding 343 MB (312 free); with the lookup through a
 * temporary table (store/duckdb-store.ts), 433 MB and 34 MB (12 free).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createWorkerStore, type RequestRecord } from '../store/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '5000' },
    /** Tokens read per forecast-like round (activeTokens, then tokenBuckets per token, then forecasts written); 0: no reads. */
    tokens: { type: 'string', default: '0' },
    /** Also write a bucket row per record (as the collector does for a one-off user). */
    buckets: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const BATCH = Number(values.batch);
const TOKENS = Number(values.tokens);

const T0 = Date.now();
let n = 0;
function rec(): RequestRecord {
  const i = n++;
  const user = `u${i.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  return {
    id: `${process.pid}-${i}`,
    timeMs: T0 + Math.floor((i * 1000) / Math.max(1, RATE)),
    token: `k1.${user}`,
    op: 'check',
    params: { user, plan: 'free' },
    allow: i % 10 !== 0,
    ruleId: 'per-user',
    cost: 1,
    secondOfMinute: i % 60,
    minuteOfHour: 0,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: {},
    region: null,
    events: {},
  } as unknown as RequestRecord;
}

const mb = async (): Promise<{ rss: number; anon: number }> => {
  const s = await readFile('/proc/self/status', 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), anon: Math.round(kb('RssAnon') / 1024) };
};

const dir = mkdtempSync(join(tmpdir(), 'headroom-store-memory-'));
const store = createWorkerStore({ adapter: 'duckdb', options: { path: join(dir, 'store.duckdb') } });
await store.init();
const start = Date.now();
let written = 0;
let nextReport = start + 5000;
let peak = 0;
let rounds = 0;
let reads = 0;
let stop = false;
/** Forecast-like rounds, beside the writes: what services/forecasting does per active token. */
async function reader(): Promise<void> {
  while (!stop) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = T0 + Math.floor((n * 1000) / Math.max(1, RATE));
    const active = (await store.activeTokens(now - 60_000, now + 1)).slice(0, TOKENS);
    const forecasts = [];
    for (const token of active) {
      if (stop) break;
      await store.tokenBuckets(token, now - 60_000, now, 1000);
      reads++;
      for (const h of [60_000, 300_000])
        forecasts.push({
          token,
          madeMs: now,
          horizonMs: h,
          targetMs: now + h,
          p10: 1,
          p50: 2,
          p90: 3,
          model: 'seasonal',
        });
    }
    for (let i = 0; i < forecasts.length; i += 5000)
      await store.insertForecasts(forecasts.slice(i, i + 5000));
    rounds++;
  }
}
const readerDone = TOKENS > 0 ? reader() : Promise.resolve();
try {
  while (Date.now() - start < SECONDS * 1000) {
    const rows = Array.from({ length: BATCH }, rec);
    const t = performance.now();
    await store.insertRecords(rows);
    if (values.buckets)
      await store.insertBuckets(
        rows.map((r) => ({
          token: r.token,
          resolution: '1s' as const,
          startMs: r.timeMs - (r.timeMs % 1000),
          requests: 1,
          allowed: 1,
          denied: 0,
          cost: 1,
          source: 'n1',
        })),
      );
    const ms = performance.now() - t;
    written += BATCH;
    if (RATE > 0) {
      const due = start + (written / RATE) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const m = await mb();
    peak = Math.max(peak, m.rss);
    if (Date.now() >= nextReport) {
      nextReport += 5000;
      const line = {
        s: Math.round((Date.now() - start) / 1000),
        written,
        lastInsertMs: Math.round(ms),
        ...m,
        heapMb: Math.round(process.memoryUsage().heapUsed / 1048576),
        rounds,
        reads,
      };
      console.log(JSON.stringify(line));
    }
  }
  stop = true;
  await readerDone;
  const m = await mb();
  console.log(
    JSON.stringify({
      done: true,
      rounds,
      reads,
      written,
      perS: Math.round(written / SECONDS),
      peakRss: peak,
      ...m,
    }),
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
