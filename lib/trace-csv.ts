import { ErrorCode, InputError, invalidField } from './errors.ts';

// CSV rows and cells of a trace file: the helpers behind lib/traces.ts.

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses a timestamp as UTC milliseconds: `YYYY-MM-DD HH:MM[:SS[.frac]]`
 * (an ISO `T` and a zone are accepted), or a number of epoch seconds
 * (milliseconds when above 1e11). Returns NaN when it is neither.
 */
export function parseTimestamp(text: string): number {
  const s = text.trim().replace(/^"|"$/g, '');
  const m = TS_RE.exec(s);
  if (m) {
    const [, y, mo, d, h, mi, sec, frac, zone] = m;
    let ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, sec ? +sec : 0);
    if (frac) ms += Number(frac) * 1000;
    if (zone && zone !== 'Z') {
      const sign = zone.startsWith('-') ? -1 : 1;
      const digits = zone.slice(1).replace(':', '');
      ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
    }
    return ms;
  }
  if (s !== '' && /^-?\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    return Math.abs(n) > 1e11 ? n : n * 1000;
  }
  return Number.NaN;
}

export interface Rows {
  header: string[];
  rows: string[][];
  /** 1-based line number in the file of each row. */
  lines: number[];
}

export function splitRows(text: string): Rows {
  const all = text.split(/\r?\n/);
  let headerLine = -1;
  for (let i = 0; i < all.length; i++) {
    if (all[i]!.trim() !== '') {
      headerLine = i;
      break;
    }
  }
  if (headerLine < 0)
    throw new InputError(ErrorCode.InvalidField, 'trace must have a header and rows, got an empty file', {
      field: 'trace',
    });
  const header = all[headerLine]!.split(',').map((c) => c.trim());
  const rows: string[][] = [];
  const lines: number[] = [];
  for (let i = headerLine + 1; i < all.length; i++) {
    const line = all[i]!;
    if (line.trim() === '') continue;
    rows.push(line.split(','));
    lines.push(i + 1);
  }
  if (rows.length === 0)
    throw new InputError(ErrorCode.InvalidField, 'trace must have at least one data row, got only a header', {
      field: 'trace',
    });
  return { header, rows, lines };
}

export function cellNumber(r: Rows, i: number, col: number, what: string): number {
  const raw = r.rows[i]![col];
  const v = raw === undefined ? Number.NaN : Number(raw.trim());
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(v)) {
    throw invalidField(`trace line ${r.lines[i]} ${what} (column ${col + 1})`, 'a number', raw ?? null);
  }
  return v;
}

export function cellTime(r: Rows, i: number): number {
  const raw = r.rows[i]![0] ?? '';
  const t = parseTimestamp(raw);
  if (!Number.isFinite(t))
    throw invalidField(
      `trace line ${r.lines[i]} timestamp (column 1)`,
      'a timestamp like 2015-02-26 21:42:53',
      raw,
    );
  return t;
}

/** The median of the positive gaps between sorted distinct times. */
export function medianStep(times: number[]): number {
  const sorted = [...new Set(times)].sort((a, b) => a - b);
  const gaps: number[] = [];
  for (let i = 1; i < sorted.length; i++) gaps.push(sorted[i]! - sorted[i - 1]!);
  if (gaps.length === 0) return 0;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}
