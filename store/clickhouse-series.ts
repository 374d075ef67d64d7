/**
 * `tokenSeries` on ClickHouse (18.16 and later): one query per
 * {@link TOKENS_PER_QUERY} tokens read. Each sums requests by token and
 * step over the buckets deduplicated by key as `tokenBuckets` reads them
 * (latest version first, `LIMIT 1 BY` the key). A token comes back as its
 * 1-based place in the query's list (`transform`, there in 18.16, which has
 * no query parameters), so the answer is TabSeparated numbers only: no
 * string to unescape, no row objects.
 */
import { chInt, chString } from './clickhouse-schema.ts';
import { TABLES } from './columns.ts';
import { zeroSeries, type StepPlan } from './shared.ts';

/**
 * Tokens one query reads at most: each is written twice in its text, which
 * ClickHouse bounds (`max_query_size`, 256 KiB by default).
 */
const TOKENS_PER_QUERY = 1000;

/**
 * The series of `count` positions, zero-filled, from `table` (the buckets
 * table, database-qualified): `sources` maps each token read to the
 * positions its rows add to; `query` runs one SELECT and returns its text.
 */
export async function readSeries(
  table: string,
  plan: StepPlan,
  stepMs: number,
  count: number,
  sources: ReadonlyMap<string, readonly number[]>,
  query: (sql: string) => Promise<string>,
): Promise<Float64Array[]> {
  const series = zeroSeries(count, plan.steps);
  if (plan.steps === 0) return series;
  const all = [...sources];
  for (let from = 0; from < all.length; from += TOKENS_PER_QUERY) {
    const part = all.slice(from, from + TOKENS_PER_QUERY);
    const names = part.map(([t]) => chString(t)).join(', ');
    const places = part.map((_, i) => i + 1).join(', ');
    const inner =
      `SELECT token, start_ms, requests FROM ${table} ` +
      `WHERE resolution = ${chString(plan.resolution)} AND start_ms >= ${chInt(plan.firstMs)} ` +
      `AND start_ms < ${chInt(plan.endMs)} AND token IN (${names}) ` +
      `ORDER BY version DESC LIMIT 1 BY ${TABLES.buckets.key.join(', ')}`;
    const text = await query(
      `SELECT transform(token, [${names}], [${places}], 0) AS k, ` +
        `intDiv(start_ms - ${chInt(plan.firstMs)}, ${chInt(stepMs)}) AS i, sum(requests) AS n ` +
        `FROM (${inner}) GROUP BY k, i`,
    );
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const [k, i, n] = line.split('\t').map(Number) as [number, number, number];
      // A token's rows add to its own series and to those of the tokens it was renamed to.
      for (const p of part[k - 1]![1]) {
        const v = series[p]!;
        v[i] = v[i]! + n;
      }
    }
  }
  return series;
}
