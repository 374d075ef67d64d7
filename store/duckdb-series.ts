/**
 * `tokenSeries` on DuckDB: every token's requests per step in one query. The
 * tokens read (each asked-for token and its aliases, with the positions
 * whose series they add to) go in a temporary table, not one query
 * parameter each (see LOOKUP_PARAMS in duckdb-store.ts). The query's rows
 * (one per stored bucket row and position) are streamed, a chunk at a time,
 * and their number columns read from the chunk's vectors straight into the
 * series: no row objects, no BigInts, no result held whole. They are
 * summed here, not by a GROUP BY: DuckDB builds no hash table of every
 * position and step.
 */
import duckdb from '@duckdb/node-bindings';
import { DuckDBTypeId, type DuckDBConnection } from '@duckdb/node-api';
import { ColumnChunks, appendInto } from './duckdb-chunks.ts';
import { zeroSeries, type StepPlan } from './shared.ts';

/** The temporary table of tokens read and the positions they add to. */
const SERIES_TOKENS = 'series_tokens';

/** Writes the temporary table's rows (one per token and position). */
export const seriesTokenChunks = (): ColumnChunks =>
  new ColumnChunks([
    { col: 'token', field: 'token', type: 'str' },
    { col: 'pos', field: 'pos', type: 'small' },
  ]);

/**
 * A column of a result chunk (of a type with no NULL) as a view of its
 * vector's data, as `@duckdb/node-api`'s vectors read it, without their
 * per-value accessors.
 */
function column<T extends Int32Array | Float64Array>(
  chunk: duckdb.DataChunk,
  c: number,
  rows: number,
  Type: { new (b: ArrayBufferLike, offset: number, length: number): T; BYTES_PER_ELEMENT: number },
): T {
  const data = duckdb.vector_get_data(duckdb.data_chunk_get_vector(chunk, c), rows * Type.BYTES_PER_ELEMENT);
  return new Type(data.buffer, data.byteOffset, rows);
}

/**
 * The series of `count` positions, zero-filled, from the buckets of
 * `plan.resolution` in `[plan.firstMs, plan.endMs)`: `sources` maps each
 * token read to the positions its rows add to.
 */
export async function readSeries(
  conn: DuckDBConnection,
  chunks: ColumnChunks,
  plan: StepPlan,
  stepMs: number,
  count: number,
  sources: ReadonlyMap<string, readonly number[]>,
): Promise<Float64Array[]> {
  const series = zeroSeries(count, plan.steps);
  if (plan.steps === 0 || sources.size === 0) return series;
  const tokens: string[] = [];
  const positions: number[] = [];
  for (const [token, at] of sources) {
    for (const p of at) {
      tokens.push(token);
      positions.push(p);
    }
  }
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${SERIES_TOKENS} (token VARCHAR NOT NULL, pos INTEGER NOT NULL)`,
  );
  try {
    await appendInto(conn, SERIES_TOKENS, { columns: [tokens, positions], rows: tokens.length }, chunks);
    // Positions and steps fit an INTEGER (planSeries bounds their product);
    // sums of integer counts below 2^53 are exact as DOUBLE.
    const result = await conn.stream(
      `SELECT m.pos AS pos, ((b.start_ms - $1) // $2)::INTEGER AS i, b.requests::DOUBLE AS n
       FROM buckets b JOIN ${SERIES_TOKENS} m ON b.token = m.token
       WHERE b.resolution = $3 AND b.start_ms >= $1 AND b.start_ms < $4`,
      [BigInt(plan.firstMs), BigInt(stepMs), plan.resolution, BigInt(plan.endMs)],
    );
    // The views below read raw vector data: the columns must be what the casts say.
    const types = [0, 1, 2].map((c) => result.columnTypeId(c));
    if (types.join() !== [DuckDBTypeId.INTEGER, DuckDBTypeId.INTEGER, DuckDBTypeId.DOUBLE].join())
      throw new TypeError(`tokenSeries read columns of types ${types.join(', ')}`);
    for (let chunk = await result.fetchChunk(); chunk !== null; chunk = await result.fetchChunk()) {
      const rows = chunk.rowCount;
      if (rows === 0) break;
      const pos = column(chunk.chunk, 0, rows, Int32Array);
      const step = column(chunk.chunk, 1, rows, Int32Array);
      const n = column(chunk.chunk, 2, rows, Float64Array);
      for (let r = 0; r < rows; r++) {
        // Summed here, not by a GROUP BY: a token's parts (sources, aliases) add up the same.
        const v = series[pos[r]!]!;
        const i = step[r]!;
        v[i] = v[i]! + n[r]!;
      }
    }
  } finally {
    await conn.run(`DROP TABLE ${SERIES_TOKENS}`);
  }
  return series;
}
