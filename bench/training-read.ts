// The trainer's read of its training data from the store (services/forecasting
// training-data.ts, storeTrainingSource), beside the peer it replaced: a
// tokenBuckets read per token, each answered as one row object per step and
// cloned from the store's worker. A DuckDB file store on a worker thread (as a
// node runs it) filled through that worker with `tokens` tokens x `seconds`
// of 1 s buckets; then the two paths alternate, `rounds` times each, over the
// same window. Per training read: wall ms, and the CPU ms of this (the node's)
// thread and of the rest of the process (the store's worker, DuckDB), medians.
// Checks once that both paths give the same training data.
//   npx tsx bench/training-read.ts [--tokens 200] [--seconds 3600] [--rounds 7]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { SimulatedClock } from '../lib/index.ts';
import { storeTrainingSource, type TrainingData, type TrainingSource } from '../services/index.ts';
import { createWorkerStore, type BucketRow, type TimeSeriesStore } from '../store/index.ts';
import { perTokenSource } from '../test/helpers/per-token-source.ts';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '3600' },
    rounds: { type: 'string', default: '7' },
  },
});
const TOKENS = Number(values.tokens);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const STEP_MS = 1000;
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

/** Keyed-hash-like names, as a node stores them. */
const token = (k: number): string => `k1.${(k * 2654435761).toString(36).padStart(22, '0')}`;

async function fill(store: TimeSeriesStore): Promise<number> {
  let rows = 0;
  let batch: BucketRow[] = [];
  for (let s = 0; s < SECONDS; s++) {
    for (let k = 0; k < TOKENS; k++) {
      // Every token busy most seconds, quiet in one of 17 (zero-filled steps between).
      const n = (s * ((k % 16) + 1) + k) % 17;
      if (n === 0) continue;
      batch.push({
        token: token(k),
        resolution: '1s',
        startMs: T0 + s * 1000,
        requests: n,
        allowed: n,
        denied: 0,
        cost: n,
      });
      if (batch.length === 20_000) {
        rows += batch.length;
        await store.insertBuckets(batch);
        batch = [];
      }
    }
  }
  rows += batch.length;
  await store.insertBuckets(batch);
  return rows;
}

interface Run {
  wallMs: number;
  mainCpuMs: number;
  otherCpuMs: number;
}

async function timed(read: TrainingSource): Promise<{ run: Run; data: TrainingData | undefined }> {
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const t0 = performance.now();
  const data = await read();
  const wallMs = performance.now() - t0;
  const main = process.threadCpuUsage(main0);
  const all = process.cpuUsage(cpu0);
  const mainCpuMs = (main.user + main.system) / 1000;
  return { run: { wallMs, mainCpuMs, otherCpuMs: (all.user + all.system) / 1000 - mainCpuMs }, data };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const dir = mkdtempSync(join(tmpdir(), 'headroom-training-read-'));
const store = createWorkerStore({ adapter: 'duckdb', options: { path: join(dir, 'store.duckdb') } });
try {
  await store.init();
  const f0 = performance.now();
  const rows = await fill(store);
  console.log(
    `filled ${rows} bucket rows (${TOKENS} tokens x ${SECONDS} s) through the worker in ${((performance.now() - f0) / 1000).toFixed(1)} s`,
  );
  const clock = new SimulatedClock(T0 + SECONDS * 1000);
  const paths: Record<string, TrainingSource> = {
    'per token (tokenBuckets)': perTokenSource(store, clock, SECONDS, STEP_MS, TOKENS),
    'bulk (tokenSeries)': storeTrainingSource(store, clock, SECONDS, STEP_MS, TOKENS),
  };
  const runs = new Map<string, Run[]>(Object.keys(paths).map((k) => [k, []]));
  const first = new Map<string, TrainingData | undefined>();
  // A warm-up read of each, then alternations (order swapped every round).
  for (const read of Object.values(paths)) await read();
  for (let r = 0; r < ROUNDS; r++) {
    const names = Object.keys(paths);
    for (const name of r % 2 === 0 ? names : names.reverse()) {
      const { run, data } = await timed(paths[name]!);
      runs.get(name)!.push(run);
      if (!first.has(name)) first.set(name, data);
    }
  }
  const [a, b] = [...first.values()];
  if (!isDeepStrictEqual(a, b)) throw new Error('the two paths gave different training data');
  console.log(
    `same training data from both: ${a?.series.length ?? 0} series of ${a?.timestamps.length ?? 0} steps`,
  );
  console.log(`median of ${ROUNDS} reads each (alternated):`);
  console.log('path                       wall ms   main-thread CPU ms   other threads CPU ms');
  const med: Record<string, Run> = {};
  for (const [name, rs] of runs) {
    med[name] = {
      wallMs: median(rs.map((x) => x.wallMs)),
      mainCpuMs: median(rs.map((x) => x.mainCpuMs)),
      otherCpuMs: median(rs.map((x) => x.otherCpuMs)),
    };
    const m = med[name];
    console.log(
      `${name.padEnd(26)} ${m.wallMs.toFixed(1).padStart(7)}   ${m.mainCpuMs.toFixed(1).padStart(18)}   ${m.otherCpuMs.toFixed(1).padStart(20)}`,
    );
  }
  const [old, bulk] = Object.values(med) as [Run, Run];
  console.log(
    `bulk vs per token: wall ${(old.wallMs / bulk.wallMs).toFixed(1)}x faster, main-thread CPU ${(old.mainCpuMs / bulk.mainCpuMs).toFixed(1)}x less`,
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
