/**
 * The load loops the NATS benches share: a closed loop (`width` callers,
 * each sending its next request when the last one answered) and an open
 * loop (requests at a fixed rate, whatever the answers), with latency
 * quantiles in ms and throughput per second.
 */

export interface Result {
  /** Decisions (or requests) per second. */
  rps: number;
  p50: number;
  p99: number;
  /** Calls answered. */
  n: number;
  errors: number;
}

/** One call; resolves false for an error reply, rejects when unanswered. */
export type Call = () => Promise<boolean>;

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Sorts `lat` in place; `per` decisions per call (a batch's size). */
export function summarise(lat: number[], seconds: number, errors: number, per = 1): Result {
  lat.sort((a, b) => a - b);
  return {
    rps: (lat.length * per) / seconds,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    n: lat.length,
    errors,
  };
}

/** `width` callers in a loop for `seconds`. */
export async function closedLoop(call: Call, seconds: number, width: number, per = 1): Promise<Result> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          if (!(await call())) errors++;
          lat.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  return summarise(lat, seconds, errors, per);
}

/** What an open loop measured: every answered call's latency (ms, unsorted), its length and errors. */
export interface OpenRun {
  lat: number[];
  seconds: number;
  errors: number;
}

/** `rps` calls a second for `seconds`, each started on time: the raw latencies (see openLoop). */
export async function openLoopRun(call: Call, rps: number, seconds: number): Promise<OpenRun> {
  const lat: number[] = [];
  let errors = 0;
  const start = performance.now();
  const total = Math.floor(rps * seconds);
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rps - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(
      call().then(
        (ok) => {
          if (!ok) errors++;
          lat.push(performance.now() - t0);
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(pending);
  return { lat, seconds: (performance.now() - start) / 1000, errors };
}

/** `rps` calls a second for `seconds`, each started on time. */
export async function openLoop(call: Call, rps: number, seconds: number): Promise<Result> {
  const run = await openLoopRun(call, rps, seconds);
  return summarise(run.lat, run.seconds, run.errors);
}

/** Several open-loop runs of one responder as one: latencies pooled, time and errors summed. */
export function pooled(runs: readonly OpenRun[]): Result {
  return summarise(
    runs.flatMap((r) => r.lat),
    runs.reduce((s, r) => s + r.seconds, 0),
    runs.reduce((s, r) => s + r.errors, 0),
  );
}
