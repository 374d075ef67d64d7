// A store that is up but slower than the rows coming in costs disk, not
// memory: past MAX_QUEUED_ROWS waiting, the batcher moves the waiting
// batches to its spool and replays them, in order, once the store caught up;
// past what the spool can take in time, a row is refused (retryable), not dropped.
// Real DuckDB store, real spool on disk.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Batcher,
  MAX_QUEUED_ROWS,
  MAX_SPILLING_ROWS,
  createDuckDbStore,
  type RequestRecord,
} from '../../store/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

function rec(i: number): RequestRecord {
  return {
    id: `r${i}`,
    timeMs: T0 + i,
    token: `tok${i % 97}`,
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

test('batcher backlog - rows beyond MAX_QUEUED_ROWS wait on disk, and every row lands once, in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-backlog-'));
  const store = createDuckDbStore({ path: ':memory:' });
  await store.init();
  try {
    const b = new Batcher(store, { spoolDir: dir, maxRows: 5000 });
    const N = 3 * MAX_QUEUED_ROWS;
    let mostPending = 0;
    // Added in synchronous runs: the store cannot take any of a run meanwhile. Past what the
    // spool can take in time (MAX_SPILLING_ROWS waiting for it) a row is refused with a
    // retryable error, never dropped: the writer waits a moment and adds it again.
    let refused = 0;
    for (let i = 0; i < N; i++) {
      try {
        b.add('records', rec(i));
      } catch (err) {
        t.is((err as { code?: string }).code, 'HEADROOM_ERR_SPOOL_FULL');
        refused++;
        i--;
        await new Promise((r) => setTimeout(r, 20));
      }
      mostPending = Math.max(mostPending, b.stats().pendingRows);
    }
    t.log(`${refused} adds refused while the spool caught up`);
    // In memory at most: the queue, what waits for the spool, and one batch.
    t.true(mostPending <= MAX_QUEUED_ROWS + MAX_SPILLING_ROWS + 5000, `held ${mostPending} rows in memory`);
    await b.drain();
    const s = b.stats();
    t.true(s.spooled >= N - MAX_QUEUED_ROWS - 5000, `spooled ${s.spooled}`);
    t.is(s.inserted + s.replayed, N);
    t.is(s.pendingRows, 0);
    t.is(s.spoolBatches, 0);
    const ids = (await store.records(T0, T0 + N)).map((r) => r.id);
    t.is(ids.length, N);
    t.deepEqual(
      ids,
      Array.from({ length: N }, (_, i) => `r${i}`),
    );
    // A store that keeps up is written straight, without the spool.
    const before = b.stats().spooled;
    for (let i = N; i < N + 1000; i++) b.add('records', rec(i));
    await b.drain();
    t.is(b.stats().spooled, before);
    await b.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
