/**
 * One column layout for both adapters: each table's columns, their portable
 * type, and the conversion between a row object and column values. Maps
 * (params, profile, events) are JSON text: ClickHouse 18.16 has no Map type.
 */
import type { RowKind, RowOf } from './types.ts';

/** Portable column types. */
export type ColumnType = 'str' | 'nstr' | 'int' | 'small' | 'float' | 'bool' | 'json' | 'list';

export interface Column {
  /** SQL column name. */
  col: string;
  /** Row field name. */
  field: string;
  type: ColumnType;
  /** The field is optional: SQL NULL reads back as absent. */
  optional?: boolean;
  /** Written when the field is absent (a NOT NULL column added after rows existed). */
  dflt?: string;
}

const c = (col: string, field: string, type: ColumnType, optional = false): Column => ({
  col,
  field,
  type,
  optional,
});

/** Table name, columns, key columns and time column of each kind. */
export interface TableSpec {
  table: string;
  columns: readonly Column[];
  /** Key columns: ids are kept once (first write), replacing keys keep the latest write. */
  key: readonly string[];
  replacing: boolean;
  /** The column retention and range reads use. */
  timeCol: string;
}

export const TABLES: { readonly [K in RowKind]: TableSpec } = {
  records: {
    table: 'records',
    columns: [
      c('id', 'id', 'str'),
      c('time_ms', 'timeMs', 'int'),
      c('token', 'token', 'str'),
      c('op', 'op', 'nstr', true),
      c('params', 'params', 'json'),
      c('allow', 'allow', 'bool'),
      c('rule_id', 'ruleId', 'nstr'),
      c('cost', 'cost', 'float'),
      c('second_of_minute', 'secondOfMinute', 'small'),
      c('minute_of_hour', 'minuteOfHour', 'small'),
      c('hour_of_day', 'hourOfDay', 'small'),
      c('day_of_week', 'dayOfWeek', 'small'),
      c('day_of_year', 'dayOfYear', 'small'),
      c('holiday', 'holiday', 'bool'),
      c('profile', 'profile', 'json'),
      c('region', 'region', 'nstr', true),
      c('events', 'events', 'json'),
    ],
    key: ['id'],
    replacing: false,
    timeCol: 'time_ms',
  },
  buckets: {
    table: 'buckets',
    columns: [
      c('token', 'token', 'str'),
      c('resolution', 'resolution', 'str'),
      c('start_ms', 'startMs', 'int'),
      c('requests', 'requests', 'int'),
      c('allowed', 'allowed', 'int'),
      c('denied', 'denied', 'int'),
      c('cost', 'cost', 'float'),
      // The writing collector: owners that hand a token over mid-bucket each
      // write their part, and reads sum across sources.
      { col: 'source', field: 'source', type: 'str', dflt: '' },
    ],
    key: ['token', 'resolution', 'start_ms', 'source'],
    replacing: true,
    timeCol: 'start_ms',
  },
  events: {
    table: 'events',
    columns: [
      c('id', 'id', 'str'),
      c('source', 'source', 'str'),
      c('topic', 'topic', 'str'),
      c('time_ms', 'timeMs', 'int'),
      c('value', 'value', 'float'),
      c('tokens', 'tokens', 'list'),
    ],
    key: ['id'],
    replacing: false,
    timeCol: 'time_ms',
  },
  forecasts: {
    table: 'forecasts',
    columns: [
      c('token', 'token', 'str'),
      c('made_ms', 'madeMs', 'int'),
      c('horizon_ms', 'horizonMs', 'int'),
      c('target_ms', 'targetMs', 'int'),
      c('p10', 'p10', 'float'),
      c('p50', 'p50', 'float'),
      c('p90', 'p90', 'float'),
      c('model', 'model', 'str'),
    ],
    key: ['token', 'model', 'made_ms', 'horizon_ms'],
    replacing: true,
    timeCol: 'made_ms',
  },
  decisions: {
    table: 'decisions',
    columns: [
      c('id', 'id', 'str'),
      c('time_ms', 'timeMs', 'int'),
      c('pool', 'pool', 'str'),
      c('kind', 'kind', 'str'),
      c('token', 'token', 'nstr', true),
      c('amount', 'amount', 'float'),
      c('detail', 'detail', 'str'),
    ],
    key: ['id'],
    replacing: false,
    timeCol: 'time_ms',
  },
  links: {
    table: 'token_links',
    columns: [
      c('from_token', 'fromToken', 'str'),
      c('to_token', 'toToken', 'str'),
      c('time_ms', 'timeMs', 'int'),
    ],
    key: ['from_token', 'to_token'],
    replacing: false,
    timeCol: 'time_ms',
  },
};

/** Column value for writing: maps become JSON text, booleans stay booleans, absent becomes null. */
export function toColumnValue(col: Column, row: object): unknown {
  const v = (row as Record<string, unknown>)[col.field] ?? col.dflt;
  switch (col.type) {
    case 'json':
      return JSON.stringify(v ?? {});
    case 'nstr':
      return v ?? null;
    case 'list':
      return v ?? [];
    default:
      return v;
  }
}

/** Rebuilds a row object from column values as either backend returns them. */
export function fromColumns<K extends RowKind>(kind: K, values: Record<string, unknown>): RowOf[K] {
  const row: Record<string, unknown> = {};
  for (const col of TABLES[kind].columns) {
    const v = values[col.col];
    switch (col.type) {
      case 'int':
      case 'small':
      case 'float':
        row[col.field] = Number(v);
        break;
      case 'bool':
        row[col.field] = v === true || v === 1 || v === '1';
        break;
      case 'json':
        row[col.field] = typeof v === 'string' && v !== '' ? JSON.parse(v) : {};
        break;
      case 'list':
        row[col.field] = Array.isArray(v) ? v.map(String) : [];
        break;
      case 'nstr':
        if (v === null || v === undefined) {
          if (!col.optional) row[col.field] = null;
        } else row[col.field] = String(v);
        break;
      default:
        row[col.field] = String(v);
    }
  }
  return row as unknown as RowOf[K];
}

/**
 * The first problem with a row's fields, or `undefined` when it fits its
 * table. The batcher checks rows on `add`, so that a batch the store would
 * always refuse never blocks the spool behind it.
 */
export function rowProblem(
  kind: RowKind,
  row: object,
): { field: string; expected: string; value: unknown } | undefined {
  const r = row as Record<string, unknown>;
  for (const col of TABLES[kind].columns) {
    const v = r[col.field];
    if (v === undefined && col.dflt !== undefined) continue;
    let expected: string | undefined;
    switch (col.type) {
      case 'str':
        if (typeof v !== 'string') expected = 'a string';
        break;
      case 'nstr':
        if (v !== undefined && v !== null && typeof v !== 'string') expected = 'a string or absent';
        break;
      case 'int':
        if (!Number.isSafeInteger(v) || (v as number) < 0) expected = 'a non-negative integer';
        break;
      case 'small':
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 65_535)
          expected = 'an integer from 0 to 65535';
        break;
      case 'float':
        if (typeof v !== 'number' || !Number.isFinite(v)) expected = 'a finite number';
        break;
      case 'bool':
        if (typeof v !== 'boolean') expected = 'true or false';
        break;
      case 'json':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) expected = 'an object';
        break;
      case 'list':
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) expected = 'an array of strings';
        break;
    }
    if (expected !== undefined) return { field: `${kind}.${col.field}`, expected, value: v };
  }
  return undefined;
}
