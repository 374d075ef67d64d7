/**
 * A store whose `init` is retried on use: a node starts even while its
 * ClickHouse is down (batches spool), and the tables are created on the
 * first call after the server is back.
 */
import type { EncodedSink, TimeSeriesStore } from '../../store/index.ts';

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
  return {
    init,
    insertRecords: after((r) => inner.insertRecords(r)),
    insertBuckets: after((r) => inner.insertBuckets(r)),
    insertEvents: after((r) => inner.insertEvents(r)),
    insertForecasts: after((r) => inner.insertForecasts(r)),
    insertDecisions: after((r) => inner.insertDecisions(r)),
    insertLinks: after((r) => inner.insertLinks(r)),
    tokenBuckets: after((t, f, to, s) => inner.tokenBuckets(t, f, to, s)),
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
