import type { RollingResult } from './rolling.ts';
import type { ForecastMetrics } from './metrics.ts';
import { addObservation, finishMetrics, newAccumulator, naiveScale } from './metrics.ts';

/** `metrics[model][horizon]`. */
export type MetricsTable = Record<string, Record<string, ForecastMetrics>>;

/**
 * Scores forecast origins `scoreFrom..scoreTo` (inclusive) of every model at
 * every horizon, pooling tokens; pairs whose target lies past the end are
 * skipped. MASE uses the in-sample naive scale of slots before `scoreFrom`.
 */
export function scoreRun(
  result: RollingResult,
  series: readonly Float64Array[],
  horizons: readonly number[],
  scoreFrom: number,
  scoreTo: number,
  models: readonly string[],
): MetricsTable {
  let scale = 0;
  for (const v of series) scale += naiveScale(v, 0, scoreFrom) || 0;
  scale /= Math.max(1, series.length);
  const table: MetricsTable = {};
  for (const name of models) {
    const f = result.forecasts.get(name);
    if (!f) continue;
    table[name] = {};
    horizons.forEach((h, hi) => {
      const acc = newAccumulator();
      series.forEach((v, tok) => {
        const q = f[tok]!;
        for (
          let o = Math.max(scoreFrom, result.runFrom);
          o <= scoreTo && o < result.runTo && o + h < v.length;
          o++
        ) {
          const j = o - result.runFrom;
          addObservation(acc, v[o + h]!, q.p10[hi]![j]!, q.p50[hi]![j]!, q.p90[hi]![j]!);
        }
      });
      table[name]![String(h)] = finishMetrics(acc, scale);
    });
  }
  return table;
}

/** The `--out` CSV header. */
export const PREDICTION_COLUMNS = 'model,index,timestamp,horizon,actual,p10,p50,p90';

/**
 * Yields `--out` CSV lines (no header) for the scored origins: one per model,
 * origin and horizon. Timestamps are the origin's, ISO UTC. A long trace with
 * several tokens gets a trailing `token` column (see the header helper).
 */
export function* predictionRows(
  result: RollingResult,
  series: readonly Float64Array[],
  timestamps: Float64Array,
  horizons: readonly number[],
  scoreFrom: number,
  scoreTo: number,
  models: readonly string[],
  tokens?: readonly string[],
): Generator<string> {
  const fmt = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 1e4) / 1e4) : '');
  for (const name of models) {
    const f = result.forecasts.get(name);
    if (!f) continue;
    for (let tok = 0; tok < series.length; tok++) {
      const v = series[tok]!;
      const q = f[tok]!;
      const suffix = tokens ? `,${tokens[tok]}` : '';
      for (let o = Math.max(scoreFrom, result.runFrom); o <= scoreTo && o < result.runTo; o++) {
        const j = o - result.runFrom;
        const ts = new Date(timestamps[o]!).toISOString();
        for (let hi = 0; hi < horizons.length; hi++) {
          const h = horizons[hi]!;
          if (o + h >= v.length) continue;
          yield `${name},${o},${ts},${h},${fmt(v[o + h]!)},${fmt(q.p10[hi]![j]!)},${fmt(q.p50[hi]![j]!)},${fmt(q.p90[hi]![j]!)}${suffix}`;
        }
      }
    }
  }
}

/** A fixed-width text table of metrics, one row per model and horizon. */
export function formatMetricsTable(metrics: MetricsTable): string {
  const cols = ['wape', 'mae', 'smape', 'mase', 'pinball', 'coverage80'] as const;
  const lines = [['model', 'horizon', ...cols, 'n'].map((c) => c.padStart(13)).join('')];
  for (const [model, byH] of Object.entries(metrics)) {
    for (const [h, m] of Object.entries(byH)) {
      lines.push(
        [model, h, ...cols.map((c) => m[c].toFixed(4)), String(m.n)].map((c) => c.padStart(13)).join(''),
      );
    }
  }
  return lines.join('\n');
}
