/**
 * Writing encoded batches (encoded.ts: one array per column) into DuckDB
 * data chunks for the appender, column by column: a few N-API calls per
 * column and chunk instead of one per value (`appendVarchar`,
 * `appendDouble`... and `endRow` per row), which made a third of the
 * collection worker's time (issue 15; bench/duckdb-append.ts).
 *
 * Numbers and booleans are built in a JS typed array and copied into their
 * vector in one call (`copy_data_to_vector` of `@duckdb/node-bindings`, the
 * package under `@duckdb/node-api`, whose vector classes pay a BigInt per
 * value and per validity bit); strings go in one call each, once per
 * distinct string of a chunk.
 */
import duckdb from '@duckdb/node-bindings';
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  INTEGER,
  LIST,
  VARCHAR,
  listValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
} from '@duckdb/node-api';
import type { Column, ColumnType, TableSpec } from './columns.ts';

/** The same types for a data chunk (which has no constraints). */
const CHUNK_TYPE: Record<ColumnType, DuckDBType> = {
  str: VARCHAR,
  nstr: VARCHAR,
  int: BIGINT,
  small: INTEGER,
  float: DOUBLE,
  bool: BOOLEAN,
  json: VARCHAR,
  list: LIST(VARCHAR),
};

/** Rows per data chunk: DuckDB's vector size (2048 in its releases), the most a chunk holds. */
const CHUNK_ROWS = duckdb.vector_size();
/** Bytes of a VARCHAR slot (a `string_t`: length, then 12 bytes inline or a 4-byte prefix and a pointer). */
const STRING_T = 16;
const TWO_32 = 2 ** 32;

/**
 * One column's values for a chunk, built in JS and copied into its vector
 * in one call. Every number is written in the machine's byte order, which
 * is DuckDB's; the int64 split and the validity bytes below also assume
 * little-endian, as every platform `@duckdb/node-bindings` ships for is.
 */
class Scratch {
  readonly buffer = new ArrayBuffer(CHUNK_ROWS * STRING_T);
  readonly f64 = new Float64Array(this.buffer);
  readonly i64 = new BigInt64Array(this.buffer);
  readonly i32 = new Int32Array(this.buffer);
  readonly u32 = new Uint32Array(this.buffer);
  readonly u8 = new Uint8Array(this.buffer);
  /** Validity bits (1: valid), as DuckDB's uint64 words; written only when a value is null. */
  readonly valid = new Uint8Array(Math.ceil(CHUNK_ROWS / 64) * 8);
  #nulls = false;
  /** Value slots a VARCHAR column copies from an earlier one: slot, source, slot, source... */
  readonly repeats: number[] = [];

  setNull(i: number): void {
    if (!this.#nulls) {
      this.valid.fill(0xff);
      this.#nulls = true;
    }
    this.valid[i >> 3]! &= ~(1 << (i & 7));
  }

  /** Copies the first `bytes` of the values, and the validity when a value was null, into `vector`. */
  flush(vector: duckdb.Vector, bytes: number, n: number): void {
    if (bytes > 0) duckdb.copy_data_to_vector(vector, 0, this.buffer, 0, bytes);
    this.flushValidity(vector, n);
  }

  flushValidity(vector: duckdb.Vector, n: number): void {
    if (!this.#nulls) return;
    this.#nulls = false;
    duckdb.vector_ensure_validity_writable(vector);
    duckdb.copy_data_to_vector_validity(vector, 0, this.valid.buffer, 0, Math.ceil(n / 64) * 8);
  }

  /** Forgets the nulls of a column whose fill threw. */
  discard(): void {
    this.#nulls = false;
  }
}

/** Writes `values[from, from + n)` of one column into its chunk vector's slots `0..n-1`. */
type ColumnFill = (
  chunk: DuckDBDataChunk,
  c: number,
  values: readonly unknown[],
  from: number,
  n: number,
  s: Scratch,
) => void;

function typeError(col: Column, expected: string, v: unknown): TypeError {
  return new TypeError(`${col.col} must be ${expected}, got ${typeof v} ${String(v)}`);
}

/**
 * The fill of each column type. The values stored, and the values refused,
 * are those of the per-value appender calls this replaced
 * (`appendBigInt(BigInt(Math.trunc(v)))`, `appendInteger(v)`,
 * `appendDouble(v)`, `appendBoolean(v)`, `appendVarchar(String(v))`,
 * `appendList(v.map(String))`, `appendNull()` for `null` and `undefined`):
 * a BIGINT out of int64 range, an INTEGER that is not an int32, a number
 * or boolean column given another JS type all throw. Strings keep NUL
 * characters (both write by length).
 */
function fillOf(col: Column, unique: boolean): ColumnFill {
  switch (col.type) {
    case 'int':
      return (chunk, c, values, from, n, s) => {
        for (let i = 0; i < n; i++) {
          const v = values[from + i];
          if (v === null || v === undefined) {
            s.setNull(i);
            continue;
          }
          const t = Math.trunc(v as number);
          if (Number.isSafeInteger(t)) {
            // Two 32-bit words instead of a BigInt per value; floor keeps the
            // two's complement of negative values.
            const hi = Math.floor(t / TWO_32);
            s.u32[2 * i] = t - hi * TWO_32;
            s.i32[2 * i + 1] = hi;
          } else {
            const b = BigInt(t); // NaN and infinities throw here, as before
            if (BigInt.asIntN(64, b) !== b)
              throw new RangeError(`${col.col} must be a BIGINT (int64), got ${b}`);
            s.i64[i] = b;
          }
        }
        s.flush(duckdb.data_chunk_get_vector(chunk.chunk, c), n * 8, n);
      };
    case 'small':
      return (chunk, c, values, from, n, s) => {
        for (let i = 0; i < n; i++) {
          const v = values[from + i];
          if (v === null || v === undefined) s.setNull(i);
          else if (typeof v !== 'number') throw typeError(col, 'a number', v);
          else if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
            throw new RangeError(`${col.col} must be an INTEGER (int32), got ${v}`);
          else s.i32[i] = v;
        }
        s.flush(duckdb.data_chunk_get_vector(chunk.chunk, c), n * 4, n);
      };
    case 'float':
      return (chunk, c, values, from, n, s) => {
        for (let i = 0; i < n; i++) {
          const v = values[from + i];
          if (v === null || v === undefined) s.setNull(i);
          else if (typeof v === 'number') s.f64[i] = v;
          else throw typeError(col, 'a number', v);
        }
        s.flush(duckdb.data_chunk_get_vector(chunk.chunk, c), n * 8, n);
      };
    case 'bool':
      return (chunk, c, values, from, n, s) => {
        for (let i = 0; i < n; i++) {
          const v = values[from + i];
          if (v === null || v === undefined) s.setNull(i);
          else if (typeof v === 'boolean') s.u8[i] = v ? 1 : 0;
          else throw typeError(col, 'a boolean', v);
        }
        s.flush(duckdb.data_chunk_get_vector(chunk.chunk, c), n * duckdb.sizeof_bool, n);
      };
    case 'list':
      // Lists (event tokens) are few: the library's list vector is enough.
      return (chunk, c, values, from, n) => {
        const vector = chunk.getColumnVector(c);
        for (let i = 0; i < n; i++) {
          const v = values[from + i];
          vector.setItem(i, v === null || v === undefined ? null : listValue((v as unknown[]).map(String)));
        }
        vector.flush();
      };
    default:
      return unique ? fillUniqueVarchar : fillVarchar;
  }
}

/**
 * VARCHAR values: each string is copied into the vector by one N-API call,
 * so a string repeated in the chunk (a batch's tokens, rules and JSON maps
 * repeat) is assigned once and its slot's 16 bytes are copied to the other
 * slots. A copied `string_t` points into the same chunk's string heap,
 * which lives until the chunk is reset (after the append): DuckDB's own
 * vectors share strings the same way.
 */
const fillVarchar: ColumnFill = (chunk, c, values, from, n, s) => {
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
  const repeats = s.repeats;
  repeats.length = 0;
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const v = values[from + i];
    if (v === null || v === undefined) {
      s.setNull(i);
      continue;
    }
    const str = typeof v === 'string' ? v : String(v);
    const first = seen.get(str);
    if (first !== undefined) repeats.push(i, first);
    else {
      seen.set(str, i);
      duckdb.vector_assign_string_element(vector, i, str);
    }
  }
  if (repeats.length > 0) {
    // The slots as DuckDB filled them (a copy), the repeats' words copied
    // from their first slot, and all of it written back.
    const bytes = n * STRING_T;
    s.u8.set(duckdb.vector_get_data(vector, bytes));
    const words = s.u32;
    for (let k = 0; k < repeats.length; k += 2) {
      const to = repeats[k]! * 4;
      const src = repeats[k + 1]! * 4;
      words[to] = words[src]!;
      words[to + 1] = words[src + 1]!;
      words[to + 2] = words[src + 2]!;
      words[to + 3] = words[src + 3]!;
    }
    duckdb.copy_data_to_vector(vector, 0, s.buffer, 0, bytes);
  }
  s.flushValidity(vector, n);
};

/** VARCHAR values that do not repeat (see ColumnChunks): one N-API call each, no map of repeats. */
const fillUniqueVarchar: ColumnFill = (chunk, c, values, from, n, s) => {
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
  for (let i = 0; i < n; i++) {
    const v = values[from + i];
    if (v === null || v === undefined) s.setNull(i);
    else duckdb.vector_assign_string_element(vector, i, typeof v === 'string' ? v : String(v));
  }
  s.flushValidity(vector, n);
};

/**
 * Appends encoded batches (one array per column) of one table layout to an
 * appender a data chunk at a time, a column at a time: a few N-API calls
 * per column and chunk instead of one per value (bench/duckdb-append.ts).
 * Holds one chunk, reused (one connection writes one batch at a time).
 */
export class ColumnChunks {
  readonly #chunk: DuckDBDataChunk;
  readonly #fills: readonly ColumnFill[];
  readonly #scratch = new Scratch();

  /**
   * `unique`: a column whose values do not repeat within a batch (a
   * table's one key column, which encodeRows keeps once): written without
   * looking for repeats. A hint only: a repeat there is written in full.
   */
  constructor(columns: readonly Column[], unique?: string) {
    this.#chunk = DuckDBDataChunk.create(columns.map((col) => CHUNK_TYPE[col.type]));
    this.#fills = columns.map((col) => fillOf(col, col.col === unique));
  }

  /** Appends the first `rows` values of each column to `a`; not flushed. */
  appendTo(a: DuckDBAppender, columns: readonly (readonly unknown[])[], rows: number): void {
    const fills = this.#fills;
    if (columns.length !== fills.length)
      throw new RangeError(`a batch of ${columns.length} columns for a table of ${fills.length}`);
    const chunk = this.#chunk;
    try {
      for (let from = 0; from < rows; from += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, rows - from);
        chunk.rowCount = n;
        for (let c = 0; c < fills.length; c++) fills[c]!(chunk, c, columns[c]!, from, n, this.#scratch);
        a.appendDataChunk(chunk);
        chunk.reset(); // frees its strings; validity is all valid again
      }
    } finally {
      chunk.reset();
      this.#scratch.discard();
    }
  }
}

/** The chunk writer of a table's columns. */
export function columnChunks(spec: TableSpec): ColumnChunks {
  return new ColumnChunks(spec.columns, spec.key.length === 1 ? spec.key[0] : undefined);
}

/**
 * Appends rows given by column (an encoded batch's) to `table`, a data chunk
 * at a time, and flushes them; the appender is closed either way, and what
 * a failed append had not flushed is dropped.
 */
export async function appendInto(
  conn: DuckDBConnection,
  table: string,
  { columns, rows }: { columns: readonly (readonly unknown[])[]; rows: number },
  chunks: ColumnChunks,
): Promise<void> {
  const a = await conn.createAppender(table);
  try {
    chunks.appendTo(a, columns, rows);
    a.flushSync();
  } catch (err) {
    a.clear(); // drops the rows, so that closing does not flush them again
    throw err;
  } finally {
    a.closeSync();
  }
}
