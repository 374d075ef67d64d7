// The embedded store on a file: rows survive a close and reopen, and a store
// used before init says so.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateError } from '../../lib/index.ts';
import { createDuckDbStore, type EventRow } from '../../store/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'headroom-duckdb-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('duckdb store - a file store keeps its rows across close and reopen', async (t) => {
  const path = join(dir, 'data', 'headroom.duckdb'); // the data folder is created
  const first = createDuckDbStore({ path });
  await first.init();
  await first.insertEvents([
    { id: 'e1', source: 'feed', topic: 'launch', timeMs: 1000, value: 2, tokens: ['a'] },
  ]);
  await first.close();
  const second = createDuckDbStore({ path });
  await second.init();
  await second.init(); // idempotent
  t.deepEqual(await second.events(0, 2000), [
    { id: 'e1', source: 'feed', topic: 'launch', timeMs: 1000, value: 2, tokens: ['a'] },
  ]);
  await second.close();
});

test('duckdb store - use before init is a state error', async (t) => {
  const s = createDuckDbStore({ path: ':memory:' });
  await t.throwsAsync(s.records(0, 1), {
    instanceOf: StateError,
    message: 'duckdb store is not open (call init)',
  });
});

test('duckdb store - a batch mixing known and new ids lands the new ones once, first writes kept', async (t) => {
  const s = createDuckDbStore({ path: ':memory:' });
  await s.init();
  const event = (id: string, value: number): EventRow => ({
    id,
    source: 'feed',
    topic: 'launch',
    timeMs: 1000 + Number(id.slice(1)),
    value,
    tokens: [],
  });
  await s.insertEvents([event('e1', 1), event('e2', 2)]);
  // A replayed batch that partly landed before: its known ids are refused by
  // the key, so the direct append lands nothing and the batch goes again
  // ignoring them; the appender must be usable afterwards.
  await s.insertEvents([event('e3', 3), event('e1', 10), event('e4', 4)]);
  await s.insertEvents([event('e5', 5)]);
  t.deepEqual(
    (await s.events(0, 5000)).map((e) => [e.id, e.value]),
    [
      ['e1', 1],
      ['e2', 2],
      ['e3', 3],
      ['e4', 4],
      ['e5', 5],
    ],
  );
  await s.close();
});
