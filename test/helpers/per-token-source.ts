// The trainer's store source as it was before `tokenSeries`: a `tokenBuckets`
// read per token, its requests placed by bucket start. The peer of
// bench/training-read.ts and the reference of test/integration/training-store.test.ts.
import type { Clock } from '../../lib/index.ts';
import type { TrainingSource } from '../../services/index.ts';
import type { TimeSeriesStore } from '../../store/index.ts';

export function perTokenSource(
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
    for (const token of tokens) {
      const v = new Float64Array(slots);
      for (const row of await store.tokenBuckets(token, fromMs, toMs, stepMs)) {
        const i = Math.round((row.startMs - fromMs) / stepMs);
        if (i >= 0 && i < slots) v[i] = row.requests;
      }
      if (v.some((x) => x > 0)) series.push(v);
    }
    const timestamps = Float64Array.from({ length: slots }, (_v, i) => fromMs + i * stepMs);
    return series.length === 0 ? undefined : { series, timestamps, stepMs };
  };
}
