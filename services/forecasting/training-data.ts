/**
 * Where the trainer's series come from: the store (recent 1 s buckets of
 * its active tokens) when the node has one, else the live token actors'
 * windows on this node. Both read a fixed span (an hour, the windows' 15
 * min) padded with zeros before the first request; {@link sinceFirstDemand}
 * cuts that padding off, so that the history the trainer measures (and
 * trains on) is the demand it has actually seen.
 */
import type { ActorHost, TokenActor } from '../../actors/index.ts';
import type { Clock, TokenKey } from '../../lib/index.ts';
import { MAX_SERIES_VALUES, type TimeSeriesStore } from '../../store/index.ts';

/** Demand series of several tokens on one grid. */
export interface TrainingData {
  series: Float64Array[];
  timestamps: Float64Array;
  stepMs: number;
}

/** Gathers recent training data; undefined when there is none. */
export type TrainingSource = () => Promise<TrainingData | undefined>;

const grid = (startMs: number, n: number, stepMs: number): Float64Array =>
  Float64Array.from({ length: n }, (_v, i) => startMs + i * stepMs);

/**
 * The last `slots` complete seconds of every live actor with at least one
 * request in them. Read a stretch of at most `sliceMs` at a time, the event
 * loop yielded between: every node answers the trainer's `training.series`
 * from this (every 30 s while the first run waits for history), and 200
 * windows of 900 slots read in one go held a node's checks for 25-40 ms
 * (issue 15).
 */
export function liveTrainingSource(
  host: ActorHost<TokenKey, TokenActor>,
  clock: Clock,
  slots: number,
  maxTokens: number,
  sliceMs = 2,
): TrainingSource {
  return async () => {
    const end = clock.now() - 1000;
    const series: Float64Array[] = [];
    let startMs = 0;
    let n = 0;
    // performance.now, not the Clock: it measures work done, not domain time.
    let t0 = performance.now();
    let read = 0;
    for (const key of host.keys()) {
      if (series.length >= maxTokens) break;
      if (++read % 8 === 0 && performance.now() - t0 >= sliceMs) {
        await new Promise((r) => setImmediate(r));
        t0 = performance.now();
      }
      const a = host.peek(key);
      if (a === undefined) continue;
      const count = Math.min(slots, a.window.options.fineBuckets);
      const s = a.window.series('1s', count, end);
      const v = Float64Array.from(s.buckets, (b) => b.requests);
      if (!v.some((x) => x > 0)) continue;
      if (n === 0 || v.length === n) {
        startMs = s.startMs;
        n = v.length;
        series.push(v);
      }
    }
    return series.length === 0 ? undefined : { series, timestamps: grid(startMs, n, 1000), stepMs: 1000 };
  };
}

/**
 * The last `slots` steps of up to `maxTokens` tokens active in them, from the
 * store: every token's series in one `tokenSeries` read (a few when tokens
 * times slots pass MAX_SERIES_VALUES), not a `tokenBuckets` read per token,
 * which with a store on a worker thread cloned an object per step (720,000
 * for 200 tokens of an hour's seconds).
 */
export function storeTrainingSource(
  store: TimeSeriesStore,
  clock: Clock,
  slots: number,
  stepMs: number,
  maxTokens: number,
): TrainingSource {
  return async () => {
    const toMs = Math.floor(clock.now() / stepMs) * stepMs;
    const fromMs = toMs - slots * stepMs;
    const tokens = (await store.activeTokens(fromMs, toMs)).slice(0, maxTokens);
    const series: Float64Array[] = [];
    const perRead = Math.max(1, Math.floor(MAX_SERIES_VALUES / Math.max(1, slots)));
    for (let at = 0; at < tokens.length; at += perRead) {
      // fromMs and toMs are aligned to stepMs: each series is `slots` long, from fromMs.
      for (const v of await store.tokenSeries(tokens.slice(at, at + perRead), fromMs, toMs, stepMs)) {
        if (v.some((x) => x > 0)) series.push(v);
      }
    }
    return series.length === 0 ? undefined : { series, timestamps: grid(fromMs, slots, stepMs), stepMs };
  };
}

/**
 * `data` from the first slot in which any token had demand; undefined when
 * none had any. Slots before it are not quiet demand but no data (the node
 * was not running, or the tokens did not exist yet).
 */
export function sinceFirstDemand(data: TrainingData): TrainingData | undefined {
  let first = data.timestamps.length;
  for (const v of data.series) {
    const i = v.findIndex((x) => x > 0);
    if (i >= 0 && i < first) first = i;
  }
  if (first >= data.timestamps.length) return undefined;
  if (first === 0) return data;
  return {
    series: data.series.map((v) => v.slice(first)),
    timestamps: data.timestamps.slice(first),
    stepMs: data.stepMs,
  };
}
