// The events file feed against real files: appended lines, partial lines,
// rotation (rename + new file), truncation, bad lines, and the offset kept
// across a restart.
import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SystemClock, type EventInput } from '../../lib/index.ts';
import { EventsFeed } from '../../services/collection/index.ts';

const line = (topic: string, value: number): string => `news,${topic},2026-12-01T08:00:00Z,${value}\n`;

async function feed(dir: string, got: EventInput[], warnings: string[]): Promise<EventsFeed> {
  const f = new EventsFeed(
    {
      clock: new SystemClock(),
      publish: async (e) => {
        got.push(e);
      },
      logger: { warn: (m: unknown) => warnings.push(String(m)), info: () => {} },
    },
    {
      path: join(dir, 'events.csv'),
      stateFile: join(dir, 'state.json'),
      pollMs: 60_000, // the test polls by hand
    },
  );
  await f.start();
  return f;
}

test('events feed - follows appends, rotation and truncation, and resumes at its offset', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-feed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'events.csv');
  const got: EventInput[] = [];
  const warnings: string[] = [];
  let f = await feed(dir, got, warnings);
  await f.poll(); // no file yet: nothing, no error
  await writeFile(path, `source,topic,time,value,tokens\n${line('a', 1)}${line('b', 2)}news,c,2026-12`);
  await f.poll();
  t.deepEqual(
    got.map((e) => e.topic),
    ['a', 'b'],
  );
  // The partial line completes; a bad line is skipped and logged by number, without its content.
  await appendFile(path, `-01T08:00:00Z,3\nnews,secret-user@example.com,oops,1\n`);
  await f.poll();
  t.deepEqual(
    got.map((e) => e.topic),
    ['a', 'b', 'c'],
  );
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /line 5 refused: HEADROOM_ERR_INVALID_FIELD \(line 5\.topic\)/);
  t.false(warnings[0]!.includes('secret-user'));

  // Rotation: the writer appends one more line to the old file, renames it, starts a new one.
  await appendFile(path, line('d', 4));
  await rename(path, `${path}.1`);
  await writeFile(path, line('e', 5));
  await f.poll();
  t.deepEqual(
    got.map((e) => e.topic),
    ['a', 'b', 'c', 'd', 'e'],
  );
  t.is(f.stats().rotations, 1);

  // Restart: the saved offset skips what was read.
  await f.stop();
  await appendFile(path, line('f', 6));
  f = await feed(dir, got, warnings);
  await f.poll();
  t.deepEqual(
    got.map((e) => e.topic),
    ['a', 'b', 'c', 'd', 'e', 'f'],
  );

  // Truncation in place: read again from the start.
  await writeFile(path, line('g', 7));
  await f.poll();
  t.is(got.at(-1)!.topic, 'g');
  t.is(f.stats().truncations, 1);
  t.is(f.stats().events, 2);
  await f.stop();
});
