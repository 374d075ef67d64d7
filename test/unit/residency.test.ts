// Residency: entries in order of last activity through their own links (no
// Map re-insertion per touch), walks that survive deletes and touches, the
// idle sweep, and a hot key touched beside many others staying cheap.
import test from 'ava';
import { Residency } from '../../actors/index.ts';
import { SimulatedClock, mulberry32 } from '../../lib/index.ts';

interface Entry {
  readonly key: string;
  lastActiveMs: number;
  older: Entry | undefined;
  newer: Entry | undefined;
}
const entry = (key: string): Entry => ({ key, lastActiveMs: 0, older: undefined, newer: undefined });

function setup(idleMs = 1000): { clock: SimulatedClock; r: Residency<string, Entry>; idle: string[] } {
  const clock = new SimulatedClock(0);
  const idle: string[] = [];
  const r = new Residency<string, Entry>(clock, idleMs, 100, (e) => {
    idle.push(e.key);
    r.delete(e.key);
  });
  return { clock, r, idle };
}

test('residency - touch and delete keep least-recent-first order, as a Map re-insertion would', (t) => {
  const { r } = setup();
  const model = new Map<string, Entry>();
  const rnd = mulberry32(7);
  const entries = Array.from({ length: 20 }, (_, i) => entry(`k${i}`));
  for (let i = 0; i < 2000; i++) {
    const e = entries[Math.floor(rnd() * entries.length)]!;
    if (rnd() < 0.2) {
      t.is(r.delete(e.key), model.delete(e.key));
    } else {
      r.touch(e.key, e);
      model.delete(e.key);
      model.set(e.key, e);
    }
    if (i % 50 === 0) {
      t.deepEqual([...r.keys()], [...model.keys()], `step ${i}`);
      const newestFirst: string[] = [];
      r.walkNewest((e) => newestFirst.push(e.key) > 0);
      t.deepEqual(newestFirst, [...model.keys()].reverse(), `step ${i}, newest first`);
      t.is(r.size, model.size);
    }
  }
  t.deepEqual([...r.values()], [...model.values()]);
  r.close();
});

test('residency - a walk skips entries deleted ahead of it and visits a touched one again as the newest', (t) => {
  const { r } = setup();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(entry) as [Entry, Entry, Entry, Entry];
  for (const e of [a, b, c, d]) r.touch(e.key, e);
  const seen: string[] = [];
  for (const e of r.values()) {
    seen.push(e.key);
    if (e.key === 'a') {
      r.delete('b'); // the next one: not visited
      r.touch('a', a); // the current one moves to the end: visited again
    }
    if (seen.length > 10) break;
  }
  t.deepEqual(seen, ['a', 'c', 'd', 'a']);
  t.deepEqual([...r.keys()], ['c', 'd', 'a']);
  r.close();
});

test('residency - the sweep reports entries idle for idleMs, oldest first, and re-arms for the rest', (t) => {
  const { clock, r, idle } = setup(1000);
  r.touch('a', entry('a'));
  clock.advance(400);
  r.touch('b', entry('b'));
  clock.advance(700); // a idle 1100 ms, b 700 ms
  t.deepEqual(idle, ['a']);
  clock.advance(400);
  t.deepEqual(idle, ['a', 'b']);
  t.is(r.size, 0);
  r.close();
});

test('residency - one key touched beside 100,000 others stays O(1)', (t) => {
  const { r } = setup(1e12);
  for (let i = 0; i < 100_000; i++) r.touch(`k${i}`, entry(`k${i}`));
  const hot = entry('hot');
  const started = performance.now();
  const others = [...r.values()];
  for (let i = 0; i < 100_000; i++) {
    r.touch('hot', hot);
    r.touch(others[i]!.key, others[i]!); // another moves past it, so the hot key moves every time
  }
  const ms = performance.now() - started;
  // A Map delete + set per touch took ~40 s here on Node 22; the list takes milliseconds.
  t.true(ms < 2000, `100,000 touches of one key took ${ms.toFixed(0)} ms`);
  t.is([...r.keys()].at(-2), 'hot');
  r.close();
});

test('residency - walk visits from the least recent and stops when told', (t) => {
  const { r } = setup();
  for (const k of ['a', 'b', 'c', 'd']) r.touch(k, entry(k));
  r.touch('a', r.get('a')!);
  const seen: string[] = [];
  r.walk((e) => {
    seen.push(e.key);
    if (e.key === 'c') r.delete('c'); // the visited entry may go
    return e.key !== 'd';
  });
  t.deepEqual(seen, ['b', 'c', 'd']);
  t.deepEqual(r.keyList(), ['b', 'd', 'a']);
  t.deepEqual(r.keyList(2), ['b', 'd']);
  r.close();
});

test('residency - walkNewest visits from the most recent and stops when told', (t) => {
  const { r } = setup();
  for (const k of ['a', 'b', 'c', 'd']) r.touch(k, entry(k));
  r.touch('a', r.get('a')!);
  const seen: string[] = [];
  r.walkNewest((e) => {
    seen.push(e.key);
    if (e.key === 'd') r.delete('d'); // the visited entry may go
    return e.key !== 'c';
  });
  t.deepEqual(seen, ['a', 'd', 'c']);
  t.deepEqual(r.keyList(), ['b', 'c', 'a']);
  r.close();
});

test('residency - refresh of the entry held is touch without the lookup: same order, same time', (t) => {
  const a = setup();
  const b = setup();
  const rnd = mulberry32(11);
  const inA = Array.from({ length: 12 }, (_, i) => entry(`k${i}`));
  const inB = Array.from({ length: 12 }, (_, i) => entry(`k${i}`));
  for (let i = 0; i < inA.length; i++) {
    a.r.touch(inA[i]!.key, inA[i]!);
    b.r.touch(inB[i]!.key, inB[i]!);
  }
  for (let i = 0; i < 500; i++) {
    const k = Math.floor(rnd() * inA.length);
    a.clock.advance(1);
    b.clock.advance(1);
    a.r.touch(inA[k]!.key, inA[k]!);
    b.r.refresh(inB[k]!);
    t.is(inB[k]!.lastActiveMs, inA[k]!.lastActiveMs);
  }
  t.deepEqual([...b.r.keys()], [...a.r.keys()]);
  // The idle sweep sees the refreshed times: the same entries go idle in the same order.
  a.clock.advance(1000);
  b.clock.advance(1000);
  t.deepEqual(b.idle, a.idle);
  t.true(a.idle.length > 0);
  a.r.close();
  b.r.close();
});
