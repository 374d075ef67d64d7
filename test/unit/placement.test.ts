import test from 'ava';
import { ownerOf, Placement } from '../../lib/index.ts';

const KEYS = Array.from(
  { length: 20_000 },
  (_, i) => `per-user|user=u${i}|op=${i % 7 === 0 ? 'Put' : 'Get'}`,
);
const FOUR = ['node-1', 'node-2', 'node-3', 'node-4'];

test('placement - deterministic and independent of node order or duplicates', (t) => {
  const a = new Placement(FOUR);
  const b = new Placement(['node-4', 'node-2', 'node-1', 'node-3', 'node-2']);
  t.deepEqual(b.nodes, FOUR);
  for (const k of KEYS.slice(0, 2000)) {
    t.is(a.owner(k), b.owner(k));
    t.is(ownerOf(k, FOUR), a.owner(k));
  }
  t.true(a.sameNodes(['node-3', 'node-1', 'node-2', 'node-4']));
  t.false(a.sameNodes(FOUR.slice(1)));
});

test('placement - no nodes, no owner; one node owns everything', (t) => {
  t.is(new Placement([]).owner('k'), undefined);
  t.is(ownerOf('k', ['solo']), 'solo');
});

test('placement - keys spread evenly over 4 nodes (25% +- 3%)', (t) => {
  const p = new Placement(FOUR);
  const counts = new Map<string, number>();
  for (const k of KEYS) {
    const o = p.owner(k) as string;
    counts.set(o, (counts.get(o) ?? 0) + 1);
  }
  const shares = FOUR.map((n) => (counts.get(n) ?? 0) / KEYS.length);
  t.log(`shares: ${shares.map((s) => `${(s * 100).toFixed(2)}%`).join(' ')}`);
  for (const s of shares) t.true(s > 0.22 && s < 0.28, `share ${s}`);
});

test('placement - a joining 5th node takes about 1/5 of the keys, all of its own', (t) => {
  const before = new Placement(FOUR);
  const after = new Placement([...FOUR, 'node-5']);
  let moved = 0;
  for (const k of KEYS) {
    const o = after.owner(k);
    if (o !== before.owner(k)) {
      moved++;
      t.is(o, 'node-5'); // keys only ever move to the new node
    }
  }
  const frac = moved / KEYS.length;
  t.log(`join 4 -> 5: ${(frac * 100).toFixed(2)}% of keys moved (ideal 20%)`);
  t.true(frac > 0.15 && frac < 0.25);
});

test('placement - a leaving node moves only its own keys (about 1/4)', (t) => {
  const before = new Placement(FOUR);
  const after = new Placement(FOUR.filter((n) => n !== 'node-2'));
  let moved = 0;
  let survivorsMoved = 0;
  for (const k of KEYS) {
    const was = before.owner(k);
    if (after.owner(k) !== was) {
      moved++;
      if (was !== 'node-2') survivorsMoved++;
    }
  }
  const frac = moved / KEYS.length;
  t.log(`leave 4 -> 3: ${(frac * 100).toFixed(2)}% of keys moved (ideal 25%)`);
  t.is(survivorsMoved, 0);
  t.true(frac > 0.2 && frac < 0.3);
});

test('placement - similar node names still spread evenly (seeds are mixed)', (t) => {
  const nodes = Array.from({ length: 10 }, (_, i) => `headroom-${i}`);
  const p = new Placement(nodes);
  const counts = new Map<string, number>();
  for (const k of KEYS) counts.set(p.owner(k) as string, (counts.get(p.owner(k) as string) ?? 0) + 1);
  const shares = nodes.map((n) => (counts.get(n) ?? 0) / KEYS.length);
  t.log(`10 nodes, min ${Math.min(...shares).toFixed(4)} max ${Math.max(...shares).toFixed(4)}`);
  for (const s of shares) t.true(s > 0.08 && s < 0.12, `share ${s}`);
});
