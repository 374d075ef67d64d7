import test from 'ava';
import { InputError, mulberry32, pickWeighted, spareWeights } from '../../lib/index.ts';

test('weights - proportional to spare capacity, summing to 1', (t) => {
  const w = spareWeights([
    { id: 'a', capacity: 10, load: 0 },
    { id: 'b', capacity: 10, load: 5 },
    { id: 'c', capacity: 20, load: 5 },
  ]);
  t.deepEqual([...w.keys()], ['a', 'b', 'c']);
  t.is(w.get('a'), 10 / 30);
  t.is(w.get('b'), 5 / 30);
  t.is(w.get('c'), 15 / 30);
});

test('weights - a saturated unit keeps an epsilon floor scaled by its capacity', (t) => {
  const w = spareWeights(
    [
      { id: 'full', capacity: 4, load: 9 },
      { id: 'idle', capacity: 4, load: 0 },
    ],
    0.1,
  );
  t.is(w.get('full'), 0.4 / 4.4);
  t.is(w.get('idle'), 4 / 4.4);
  // All saturated: equal floors, so an even split rather than nothing.
  const all = spareWeights([
    { id: 'x', capacity: 2, load: 5 },
    { id: 'y', capacity: 2, load: 2 },
  ]);
  t.is(all.get('x'), 0.5);
  t.is(all.get('y'), 0.5);
  t.is(spareWeights([]).size, 0);
});

test('weights - bad capacity, load or epsilon name the field and value', (t) => {
  t.throws(() => spareWeights([{ id: 'u1', capacity: 0, load: 0 }]), {
    instanceOf: InputError,
    message: 'weights.u1.capacity must be a positive number, got 0',
  });
  t.throws(() => spareWeights([{ id: 'u1', capacity: 1, load: -1 }]), {
    instanceOf: InputError,
    message: 'weights.u1.load must be a finite number >= 0, got -1',
  });
  t.throws(() => spareWeights([], 0), {
    instanceOf: InputError,
    message: 'weights.epsilon must be a number in (0, 1], got 0',
  });
  t.throws(() => pickWeighted(new Map([['a', 1]]), 1), {
    instanceOf: InputError,
    message: 'weights.r must be a number in [0, 1), got 1',
  });
});

test('weights - pickWeighted maps the draw onto cumulative intervals', (t) => {
  const w = new Map([
    ['a', 0.2],
    ['zero', 0],
    ['b', 0.8],
  ]);
  t.is(pickWeighted(w, 0), 'a');
  t.is(pickWeighted(w, 0.1999), 'a');
  t.is(pickWeighted(w, 0.2), 'b');
  t.is(pickWeighted(w, 0.9999999), 'b');
  t.is(pickWeighted(new Map([['z', 0]]), 0.5), undefined);
  t.is(pickWeighted(new Map(), 0.5), undefined);
});

test('weights - draws follow the weights', (t) => {
  const w = spareWeights([
    { id: 'a', capacity: 3, load: 0 },
    { id: 'b', capacity: 3, load: 2 },
    { id: 'sat', capacity: 3, load: 3 },
  ]);
  const rnd = mulberry32(7);
  const counts = new Map<string, number>();
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const id = pickWeighted(w, rnd())!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const [id, weight] of w) t.true(Math.abs((counts.get(id) ?? 0) / n - weight) < 0.02, id);
  t.true((counts.get('sat') ?? 0) / n < 0.05);
});
