// The batcher in front of a real DuckDB store that can be switched "down":
// batching by size and time, spooling, in-order replay, restart with a spool
// on disk, the spool bound, and a torn spool line. Time is simulated.
import test from 'ava';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, InputError, SimulatedClock, StateError } from '../../lib/index.ts';
import { Batcher, createDuckDbStore, type RequestRecord, type TimeSeriesStore } from '../../store/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const dirs: string[] = [];
const stores: TimeSeriesStore[] = [];

test.after.always(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'headroom-spool-'));
  dirs.push(d);
  return d;
}

function rec(i: number): RequestRecord {
  return {
    id: `r${i}`,
    timeMs: T0 + i,
    token: `tok${i % 7}`,
    params: { op: 'read' },
    allow: true,
    ruleId: 'rule-1',
    cost: 1,
    secondOfMinute: 0,
    minuteOfHour: 0,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: {},
    events: {},
  };
}

/** A real store whose inserts fail while `down`, logging each insert attempt. */
class FlakyStore {
  down = false;
  readonly calls: { kind: string; ids: string[]; ok: boolean }[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];
  readonly store: TimeSeriesStore;

  constructor(inner: TimeSeriesStore) {
    const wrap =
      (kind: string, fn: (rows: never[]) => Promise<void>) =>
      async (rows: never[]): Promise<void> => {
        const ok = !this.down;
        this.calls.push({ kind, ids: rows.map((r: { id?: string }) => r.id ?? ''), ok });
        this.#waiters = this.#waiters.filter((w) => (this.calls.length >= w.n ? (w.resolve(), false) : true));
        if (!ok) throw new Error('connect ECONNREFUSED (simulated)');
        await fn(rows);
      };
    this.store = {
      ...inner,
      init: () => inner.init(),
      close: () => inner.close(),
      records: (a, b) => inner.records(a, b),
      tables: () => inner.tables(),
      dumpAll: () => inner.dumpAll(),
      insertRecords: wrap('records', (r) => inner.insertRecords(r)),
      insertBuckets: wrap('buckets', (r) => inner.insertBuckets(r)),
      insertEvents: wrap('events', (r) => inner.insertEvents(r)),
      insertForecasts: wrap('forecasts', (r) => inner.insertForecasts(r)),
      insertDecisions: wrap('decisions', (r) => inner.insertDecisions(r)),
      insertLinks: wrap('links', (r) => inner.insertLinks(r)),
    };
  }

  /** Resolves once `n` insert attempts have happened (a count latch, no sleeps). */
  attempts(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

async function setup(): Promise<{ flaky: FlakyStore; clock: SimulatedClock; dir: string }> {
  const inner = createDuckDbStore({ path: ':memory:' });
  await inner.init();
  stores.push(inner);
  return { flaky: new FlakyStore(inner), clock: new SimulatedClock(T0), dir: tempDir() };
}

const storedIds = async (s: TimeSeriesStore): Promise<string[]> =>
  (await s.records(0, T0 * 2)).map((r) => r.id);

test('batcher - flushes by size and by time', async (t) => {
  const { flaky, clock, dir } = await setup();
  const b = new Batcher(flaky.store, { maxRows: 3, maxDelayMs: 1000, spoolDir: dir, clock });
  for (let i = 0; i < 3; i++) b.add('records', rec(i));
  await flaky.attempts(1);
  t.deepEqual(flaky.calls[0]!.ids, ['r0', 'r1', 'r2']);
  b.add('records', rec(3));
  clock.advance(999);
  t.is(flaky.calls.length, 1, 'not before maxDelayMs');
  clock.advance(1);
  await flaky.attempts(2);
  t.deepEqual(flaky.calls[1]!.ids, ['r3']);
  await b.close();
  t.deepEqual(await storedIds(flaky.store), ['r0', 'r1', 'r2', 'r3']);
  t.like(b.stats(), { accepted: 4, inserted: 4, spooled: 0, failures: 0, spoolBytes: 0 });
});

test('batcher - failed batches go to the spool and replay in order, once each', async (t) => {
  const { flaky, clock, dir } = await setup();
  const b = new Batcher(flaky.store, { maxRows: 10, spoolDir: dir, clock, retryBaseMs: 500 });
  flaky.down = true;
  for (let i = 0; i < 25; i++) b.add('records', rec(i));
  b.add('buckets', {
    token: 'tok1',
    resolution: '1s',
    startMs: T0,
    requests: 2,
    allowed: 2,
    denied: 0,
    cost: 2,
  });
  await b.flush();
  t.like(b.stats(), { spooled: 26, failures: 1, inserted: 0 });
  t.true(b.stats().spoolBytes > 0);
  t.true(existsSync(join(dir, 'spool.jsonl')));
  clock.advance(500); // first retry: still down
  await b.flush();
  t.is(b.stats().failures, 2);
  flaky.down = false;
  const drained = b.drain();
  clock.advance(1000); // backoff doubled
  await drained;
  t.deepEqual(
    await storedIds(flaky.store),
    Array.from({ length: 25 }, (_, i) => `r${i}`),
  );
  const ok = flaky.calls.filter((c) => c.ok);
  t.deepEqual(
    ok.map((c) => [c.kind, c.ids[0]]),
    [
      ['records', 'r0'],
      ['records', 'r10'],
      ['records', 'r20'],
      ['buckets', ''],
    ],
    'replayed in the order accepted',
  );
  t.like(b.stats(), { replayed: 26, spoolBytes: 0, pendingRows: 0 });
  t.false(existsSync(join(dir, 'spool.jsonl')), 'an empty spool leaves no file');
  await b.close();
});

test('batcher - a restart replays the spool left on disk, with no duplicates', async (t) => {
  const { flaky, clock, dir } = await setup();
  const first = new Batcher(flaky.store, { maxRows: 5, spoolDir: dir, clock });
  flaky.down = true;
  for (let i = 0; i < 20; i++) first.add('records', rec(i));
  await first.close(); // the process goes away with 20 rows in the spool
  t.like(first.stats(), { spooled: 20, spoolBatches: 4, batches: 0 });
  // Some of them reached the store before the "crash" (the ack was lost).
  flaky.down = false;
  await flaky.store.insertRecords([rec(0), rec(1), rec(7)]);
  const second = new Batcher(flaky.store, { maxRows: 5, spoolDir: dir, clock });
  t.is(second.stats().spoolBatches, 4, 'the depth of a spool found on disk is counted on open');
  await second.drain();
  const ids = await storedIds(flaky.store);
  t.is(ids.length, 20);
  t.is(new Set(ids).size, 20);
  t.like(second.stats(), { replayed: 20, batches: 4, spoolBatches: 0, spoolBytes: 0, corrupt: 0 });
  await second.close();
});

test('batcher - past the spool bound add throws SpoolFull and counts it; nothing is dropped', async (t) => {
  const { flaky, clock, dir } = await setup();
  const b = new Batcher(flaky.store, { maxRows: 5, spoolDir: dir, clock, spoolMaxBytes: 4000 });
  flaky.down = true;
  let accepted = 0;
  let refused: unknown;
  for (let i = 0; i < 200 && refused === undefined; i++) {
    try {
      b.add('records', rec(i));
      accepted++;
      if (accepted % 5 === 0) await b.flush();
    } catch (err) {
      refused = err;
    }
  }
  t.true(refused instanceof StateError);
  t.is((refused as StateError).code, ErrorCode.SpoolFull);
  t.regex((refused as StateError).message, /spool in .* is full \(\d+ bytes, spoolMaxBytes 4000\)/);
  t.throws(() => b.add('records', rec(999)), { instanceOf: StateError, message: /is full/ });
  t.is(b.stats().spoolFull, 2);
  t.true(b.stats().spoolBytes <= 4000);
  t.true(b.stats().pendingRows > 0, 'the batch the spool refused is held, not dropped');
  flaky.down = false;
  const drained = b.drain();
  clock.advance(60_000);
  await drained;
  t.is((await storedIds(flaky.store)).length, accepted);
  t.notThrows(() => b.add('records', rec(1000)), 'accepts again once drained');
  await b.close();
});

test('batcher - tryAdd returns false past the spool bound, counted as add counts it, and true once drained', async (t) => {
  const { flaky, clock, dir } = await setup();
  const b = new Batcher(flaky.store, { maxRows: 5, spoolDir: dir, clock, spoolMaxBytes: 4000 });
  flaky.down = true;
  t.is(b.refusal, undefined);
  let accepted = 0;
  for (let i = 0; i < 200 && b.tryAdd('records', rec(i)); i++) {
    accepted++;
    if (accepted % 5 === 0) await b.flush();
  }
  t.true(accepted > 0 && accepted < 200, `accepted ${accepted}`);
  t.is(b.refusal, ErrorCode.SpoolFull);
  t.false(b.tryAdd('records', rec(999)));
  t.is(b.stats().spoolFull, 2, 'the refusal that ended the loop and the one after it');
  t.throws(() => b.add('records', rec(998)), { instanceOf: StateError, message: /is full/ });
  t.is(b.stats().spoolFull, 3, 'add and tryAdd count refusals alike');
  flaky.down = false;
  const drained = b.drain();
  clock.advance(60_000);
  await drained;
  t.is(b.refusal, undefined);
  t.true(b.tryAdd('records', rec(1000)));
  t.throws(() => b.tryAdd('records', { ...rec(1001), id: '' }), { instanceOf: InputError, message: /id/ });
  t.is(b.stats().spoolFull, 3, 'a bad row is no refusal');
  await b.close();
  t.is(b.refusal, ErrorCode.Unavailable);
  t.false(b.tryAdd('records', rec(1002)));
  t.is((await storedIds(flaky.store)).length, accepted + 1, 'every accepted row stored, none refused');
});

test('batcher - a torn spool line is skipped and counted, the rest replays', async (t) => {
  const { flaky, clock, dir } = await setup();
  const first = new Batcher(flaky.store, { maxRows: 2, spoolDir: dir, clock });
  flaky.down = true;
  for (let i = 0; i < 4; i++) first.add('records', rec(i));
  await first.close();
  const file = join(dir, 'spool.jsonl');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.is(lines.length, 2);
  appendFileSync(file, lines[0]!.slice(0, 40)); // a crash mid-append
  flaky.down = false;
  const second = new Batcher(flaky.store, { maxRows: 2, spoolDir: dir, clock });
  await second.drain();
  t.deepEqual(await storedIds(flaky.store), ['r0', 'r1', 'r2', 'r3']);
  t.like(second.stats(), { replayed: 4, corrupt: 1 });
  await second.close();
});

test('batcher - bad options and rows are input errors naming the field', async (t) => {
  const { flaky, clock } = await setup();
  const err = t.throws(
    () => new Batcher(flaky.store, { maxRows: 0, spoolMaxBytes: -1, clock, colour: 'x' } as never),
    { instanceOf: InputError },
  );
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(
    err?.message,
    'batcher.maxRows must be a positive integer, got 0; batcher.spoolMaxBytes must be a positive integer, got -1; ' +
      'batcher.colour is not a known option (known: maxRows, maxDelayMs, spoolDir, spoolMaxBytes, retryBaseMs, retryMaxMs, clock); ' +
      'batcher.spoolDir is required',
  );
  const b = new Batcher(flaky.store, { spoolDir: tempDir(), clock });
  t.throws(() => b.add('records', { ...rec(1), id: '' }), {
    instanceOf: InputError,
    message: 'records.id must be a non-empty string, got ""',
  });
  t.throws(() => b.add('records', { ...rec(1), cost: Number.NaN }), {
    instanceOf: InputError,
    message: 'records.cost must be a finite number, got NaN',
  });
  t.throws(
    () => b.add('events', { id: 'e', source: 's', topic: 't', timeMs: 1, value: 1, tokens: [3] } as never),
    {
      instanceOf: InputError,
      message: 'events.tokens must be an array of strings, got [3]',
    },
  );
  t.throws(() => b.add('nope' as 'records', rec(1)), {
    instanceOf: InputError,
    message: /^kind must be one of records/,
  });
  await b.close();
  t.throws(() => b.add('records', rec(1)), { instanceOf: StateError, message: 'batcher is closed' });
});
