// What a time-series store gives back of the store contract's fixtures
// (test/integration/store-contract.test.ts), through its read API and as
// stored rows, to compare one load of them with two.
import { DAY_MS } from '../../lib/index.ts';
import type {
  BucketRow,
  DecisionRow,
  EventLevelRow,
  EventRow,
  ForecastRow,
  RequestRecord,
  TimeSeriesStore,
} from '../../store/index.ts';

export interface ReadBack {
  records: RequestRecord[];
  seconds: BucketRow[];
  minutes: BucketRow[];
  active: string[];
  events: EventRow[];
  levels: EventLevelRow[];
  forecasts: ForecastRow[];
  decisions: DecisionRow[];
}

/** Every kind the fixtures written from `t0` hold, read back in ranges that cover them all. */
export async function readBack(s: TimeSeriesStore, t0: number): Promise<ReadBack> {
  return {
    records: await s.records(t0 - 6 * DAY_MS, t0 + DAY_MS),
    seconds: await s.tokenBuckets('tA', t0 - 6000, t0 + 12_000, 1000),
    minutes: await s.tokenBuckets('tA', t0, t0 + 180_000, 60_000),
    active: await s.activeTokens(t0 - 6 * DAY_MS, t0 + DAY_MS),
    events: await s.events(t0, t0 + 10_000),
    levels: await s.eventLevels(t0, t0 + 4000, 1000),
    forecasts: await s.forecasts('tA', t0, t0 + 60_000),
    decisions: await s.decisions(t0, t0 + 10),
  };
}

/** The keys of a {@link ReadBack} in read order, with the fields a double count or a lost write would change. */
export function keysOf(r: ReadBack, t0: number): Record<keyof ReadBack, Array<string | number>> {
  return {
    records: r.records.map((x) => x.id),
    seconds: r.seconds.map((b) => b.requests),
    minutes: r.minutes.map((b) => b.requests),
    active: r.active,
    events: r.events.map((e) => e.id),
    levels: r.levels.map((l) => `${l.topic}:${l.count}`),
    forecasts: r.forecasts.map((f) => `${f.model}:${f.madeMs - t0}+${f.horizonMs}:${f.p50}`),
    decisions: r.decisions.map((d) => d.id),
  };
}

/** {@link keysOf} the fixtures: each key once, its latest write winning. */
export const FIXTURE_KEYS: Record<keyof ReadBack, Array<string | number>> = {
  records: ['r99', 'r1', 'r2', 'r3'],
  // tA-old's 7 at -5 s (a rotated key), then tA's seconds 0-9 with second 3 rewritten to 100.
  seconds: [0, 7, 0, 0, 0, 0, 1, 2, 3, 100, 5, 6, 7, 8, 9, 10, 0, 0],
  minutes: [60, 0, 6],
  active: ['tA', 'tB', 'tOld'],
  events: ['e1', 'e2', 'e3'],
  levels: ['launch:0', 'launch:1', 'launch:0', 'launch:1', 'sale:0', 'sale:0', 'sale:1', 'sale:0'],
  forecasts: ['lstm:0+5000:20', 'bn:1000+5000:11', 'lstm:0+30000:12'],
  decisions: ['d1', 'd2'],
};

/** Tables that keep one row per id (the first write): a replay adds no row that differs. */
export const ID_TABLES: readonly string[] = ['records', 'events', 'decisions', 'token_links'];

/**
 * The stored rows (`dumpAll`) as sorted `table<TAB>json` lines, without
 * ClickHouse's `version` column (a write counter, not data).
 */
export async function storedRows(s: TimeSeriesStore): Promise<string[]> {
  return (await s.dumpAll())
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const tab = line.indexOf('\t');
      const { version: _, ...row } = JSON.parse(line.slice(tab + 1)) as Record<string, unknown>;
      return `${line.slice(0, tab)}\t${JSON.stringify(row)}`;
    })
    .sort();
}

/** The distinct rows of {@link ID_TABLES} among `rows` (from {@link storedRows}). */
export function distinctIdRows(rows: readonly string[]): string[] {
  return [...new Set(rows.filter((r) => ID_TABLES.includes(r.slice(0, r.indexOf('\t')))))];
}
