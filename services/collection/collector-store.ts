/**
 * A store whose `init` is retried on use: a node starts even while its
 * ClickHouse is down (batches spool), and the tables are created on the
 * first call after the server is back.
 */
import { INSERT_METHOD } from '../../store/index.ts';
import type { EncodedSink, TimeSeriesStore } from '../../store/index.ts';

/** The store's named inserts (`insertRecords` ... `insertLinks`). */
type InsertName = (typeof INSERT_METHOD)[keyof typeof INSERT_METHOD];

/** The store, and its encoded insert when it has one (an adapter does). */
export function initOnUse<S extends TimeSeriesStore & Partial<EncodedSink>>(
  inner: S,
): TimeSeriesStore & Partial<EncodedSink> {
  let ready: Promise<void> | undefined;
  const init = (): Promise<void> => {
    ready ??= inner.init().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
  const after =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await init();
      return await fn(...a);
    };
  // One wrapper per named insert, from the store's own list of them.
  const inserts = Object.fromEntries(
    Object.values(INSERT_METHOD).map((name) => {
      const insert = inner[name] as (rows: readonly unknown[]) => Promise<void>;
      return [name, after((rows: readonly unknown[]) => insert.call(inner, rows))];
    }),
  ) as Pick<TimeSeriesStore, InsertName>;
  return {
    init,
    ...inserts,
    tokenBuckets: after((t, f, to, s) => inner.tokenBuckets(t, f, to, s)),
    tokenSeries: after((t, f, to, s) => inner.tokenSeries(t, f, to, s)),
    activeTokens: after((f, t) => inner.activeTokens(f, t)),
    events: after((f, t, topic) => inner.events(f, t, topic)),
    eventLevels: after((f, t, s, topic) => inner.eventLevels(f, t, s, topic)),
    forecasts: after((t, f, to) => inner.forecasts(t, f, to)),
    records: after((f, t) => inner.records(f, t)),
    decisions: after((f, t) => inner.decisions(f, t)),
    enforceRetention: after((n) => inner.enforceRetention(n)),
    close: () => inner.close(),
    tables: () => inner.tables(),
    dumpAll: after(() => inner.dumpAll()),
    ...(inner.insertEncoded === undefined
      ? {}
      : {
          insertEncoded: after((b: Parameters<EncodedSink['insertEncoded']>[0]) => inner.insertEncoded!(b)),
        }),
  };
}
