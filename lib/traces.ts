import { invalidField, show } from './errors.ts';
import { cellNumber, cellTime, medianStep, parseTimestamp, splitRows } from './trace-csv.ts';
import type { Rows } from './trace-csv.ts';

export { parseTimestamp } from './trace-csv.ts';

/**
 * Trace loaders: pure parsing of demand traces (CSV text in, a regular time
 * grid of per-token demand out). No I/O here; the caller reads the file.
 */
export const TraceFormat = {
  /** `timestamp,value` with a header (NAB, WorldCup98). */
  Series: 'series',
  /** `timestamp,token,value[,feature columns]`. */
  Long: 'long',
  /** One row per request, its timestamp first (Azure LLM trace); bucketed. */
  Arrivals: 'arrivals',
} as const;
export type TraceFormat = (typeof TraceFormat)[keyof typeof TraceFormat];

/** `auto` or one of {@link TraceFormat}. */
export type TraceFormatOption = TraceFormat | 'auto';

/** A trace on a regular grid: `values[k][i]` is token k's demand in slot i. */
export interface Trace {
  format: TraceFormat;
  /** Why `auto` chose this format (or "given"). */
  formatReason: string;
  /** Grid step in milliseconds. */
  intervalMs: number;
  /** Start of each slot, ms since the epoch (UTC). */
  timestamps: Float64Array;
  tokens: string[];
  values: Float64Array[];
  /** Extra numeric columns of a `long` trace, per name then per token (NaN where absent). */
  features: Record<string, Float64Array[]>;
  /** Grid slots that had no row and were filled (forward fill for series, 0 for long). */
  filledSlots: number;
}

export interface ParseTraceOptions {
  /** @default 'auto' */
  format?: TraceFormatOption;
  /** Bucket width for `arrivals`. @default 1 */
  bucketSeconds?: number;
}

/** Guesses the format from the header and the first rows. */
export function detectFormat(text: string): { format: TraceFormat; reason: string } {
  const r = splitRows(text.slice(0, 200_000));
  const sample = r.rows.slice(0, 500);
  const second = sample.map((row) => row[1]?.trim() ?? '');
  if (sample.every((row) => row.length >= 3) && second.some((c) => c !== '' && !Number.isFinite(Number(c)))) {
    return { format: TraceFormat.Long, reason: 'the second column holds non-numeric token names' };
  }
  const times = sample.map((row) => parseTimestamp(row[0] ?? ''));
  if (times.some((t) => !Number.isFinite(t))) {
    return { format: TraceFormat.Series, reason: 'the first column is not all timestamps; trying series' };
  }
  const step = medianStep(times);
  // A sampled series has gaps that are whole multiples of its step (missing
  // samples); request arrivals have gaps of any length.
  let regular = 0;
  for (let i = 1; i < times.length; i++) {
    const r = (times[i]! - times[i - 1]!) / step;
    if (r >= 1 - 1e-9 && Math.abs(r - Math.round(r)) < 1e-6) regular++;
  }
  if (step > 0 && regular >= 0.95 * (times.length - 1)) {
    return { format: TraceFormat.Series, reason: `timestamps are evenly spaced (${step / 1000} s)` };
  }
  return { format: TraceFormat.Arrivals, reason: 'timestamps are irregular, one row per request' };
}

/** Parses CSV text into a {@link Trace}. Bad rows throw an InputError naming line and column. */
export function parseTrace(text: string, options: ParseTraceOptions = {}): Trace {
  const format = options.format ?? 'auto';
  if (!['auto', 'series', 'long', 'arrivals'].includes(format)) {
    throw invalidField('format', 'one of auto, series, long, arrivals', format);
  }
  const bucketSeconds = options.bucketSeconds ?? 1;
  if (!(typeof bucketSeconds === 'number' && Number.isFinite(bucketSeconds) && bucketSeconds > 0)) {
    throw invalidField('bucketSeconds', 'a positive number', bucketSeconds);
  }
  let chosen: TraceFormat;
  let reason = 'given';
  if (format === 'auto') {
    const d = detectFormat(text);
    chosen = d.format;
    reason = d.reason;
  } else {
    chosen = format;
  }
  const r = splitRows(text);
  if (chosen === TraceFormat.Arrivals)
    return { ...parseArrivals(r, bucketSeconds * 1000), formatReason: reason };
  if (chosen === TraceFormat.Long) return { ...parseLong(r), formatReason: reason };
  return { ...parseSeries(r), formatReason: reason };
}

type Parsed = Omit<Trace, 'formatReason'>;

function grid(start: number, step: number, n: number): Float64Array {
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) ts[i] = start + i * step;
  return ts;
}

function slotCount(start: number, end: number, step: number): number {
  const n = Math.round((end - start) / step) + 1;
  if (n > 50_000_000) throw invalidField('trace', `at most 50,000,000 grid slots`, n);
  return n;
}

function parseSeries(r: Rows): Parsed {
  const n = r.rows.length;
  const times = new Array<number>(n);
  const vals = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    times[i] = cellTime(r, i);
    vals[i] = cellNumber(r, i, 1, 'value');
  }
  const step = medianStep(times);
  if (!(step > 0)) throw invalidField('trace', 'at least two distinct timestamps', n);
  const start = times.reduce((a, b) => Math.min(a, b), Infinity);
  const end = times.reduce((a, b) => Math.max(a, b), -Infinity);
  const len = slotCount(start, end, step);
  const values = new Float64Array(len).fill(Number.NaN);
  for (let i = 0; i < n; i++) values[Math.round((times[i]! - start) / step)] = vals[i]!;
  let filled = 0;
  for (let i = 0; i < len; i++) {
    if (Number.isNaN(values[i]!)) {
      // Forward fill: a missing sample most likely repeats its neighbour.
      values[i] = i > 0 ? values[i - 1]! : (vals[0] ?? 0);
      filled++;
    }
  }
  return {
    format: TraceFormat.Series,
    intervalMs: step,
    timestamps: grid(start, step, len),
    tokens: ['series'],
    values: [values],
    features: {},
    filledSlots: filled,
  };
}

function parseLong(r: Rows): Parsed {
  const n = r.rows.length;
  const times = new Array<number>(n);
  for (let i = 0; i < n; i++) times[i] = cellTime(r, i);
  const step = medianStep(times);
  if (!(step > 0)) throw invalidField('trace', 'at least two distinct timestamps', n);
  let start = Infinity;
  let end = -Infinity;
  for (const t of times) {
    start = Math.min(start, t);
    end = Math.max(end, t);
  }
  const len = slotCount(start, end, step);
  const featureNames = r.header.slice(3);
  const tokenIndex = new Map<string, number>();
  const values: Float64Array[] = [];
  const features: Record<string, Float64Array[]> = {};
  for (const f of featureNames) features[f] = [];
  const seen: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const token = r.rows[i]![1]?.trim() ?? '';
    if (token === '')
      throw invalidField(`trace line ${r.lines[i]} token (column 2)`, 'a non-empty token', token);
    let k = tokenIndex.get(token);
    if (k === undefined) {
      k = values.length;
      tokenIndex.set(token, k);
      values.push(new Float64Array(len));
      seen.push(new Uint8Array(len));
      for (const f of featureNames) features[f]!.push(new Float64Array(len).fill(Number.NaN));
    }
    const slot = Math.round((times[i]! - start) / step);
    values[k]![slot]! += cellNumber(r, i, 2, 'value');
    seen[k]![slot] = 1;
    featureNames.forEach((f, j) => {
      const raw = r.rows[i]![3 + j];
      if (raw !== undefined && raw.trim() !== '' && Number.isFinite(Number(raw)))
        features[f]![k]![slot] = Number(raw);
    });
  }
  let filled = 0;
  for (const s of seen) for (const x of s) if (x === 0) filled++;
  return {
    format: TraceFormat.Long,
    intervalMs: step,
    timestamps: grid(start, step, len),
    tokens: [...tokenIndex.keys()],
    values,
    features,
    filledSlots: filled,
  };
}

function parseArrivals(r: Rows, bucketMs: number): Parsed {
  const n = r.rows.length;
  const times = new Float64Array(n);
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = cellTime(r, i);
    times[i] = t;
    if (t < first) first = t;
    if (t > last) last = t;
  }
  const start = Math.floor(first / bucketMs) * bucketMs;
  const len = slotCount(start, Math.floor(last / bucketMs) * bucketMs, bucketMs);
  const values = new Float64Array(len);
  for (const t of times) values[Math.floor((t - start) / bucketMs)]! += 1;
  return {
    format: TraceFormat.Arrivals,
    intervalMs: bucketMs,
    timestamps: grid(start, bucketMs, len),
    tokens: ['arrivals'],
    values: [values],
    features: {},
    filledSlots: 0,
  };
}

/** Short human description of a trace, e.g. for the CLI's stderr. */
export function describeTrace(t: Trace): string {
  return `${t.format} (${t.formatReason}); ${t.tokens.length} token(s), ${t.timestamps.length} slots of ${show(t.intervalMs / 1000)} s${t.filledSlots ? `, ${t.filledSlots} filled` : ''}`;
}
