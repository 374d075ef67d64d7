import test from 'ava';
import { BehaviourWindow, ErrorCode, InputError } from '../../lib/index.ts';
import type { BucketCounts, WindowSnapshot } from '../../lib/index.ts';

const T0 = 1_764_000_000_000; // a whole minute
const zero: BucketCounts = { requests: 0, allowed: 0, denied: 0, cost: 0 };
const c = (requests: number, allowed: number, cost: number): BucketCounts => ({
  requests,
  allowed,
  denied: requests - allowed,
  cost,
});

test('window - counts land in aligned 1 s and 1 min buckets, oldest first', (t) => {
  const w = new BehaviourWindow();
  w.record(T0 + 100, true, 1);
  w.record(T0 + 900, false, 2);
  w.record(T0 + 2_500, true, 3);
  const s = w.series('1s', 4, T0 + 3_999);
  t.is(s.startMs, T0);
  t.is(s.stepMs, 1_000);
  t.deepEqual(s.buckets, [c(2, 1, 3), zero, c(1, 1, 3), zero]);
  const m = w.series('1m', 2, T0 + 3_999);
  t.is(m.startMs, T0 - 60_000);
  t.deepEqual(m.buckets, [zero, c(3, 2, 6)]);
  t.deepEqual(w.sum('1s', 900, T0 + 3_999), c(3, 2, 6));
  t.deepEqual(w.totals(), c(3, 2, 6));
  t.is(w.lastMs, T0 + 2_500);
});

test('window - old buckets fall off the ring and skipped buckets read as zero', (t) => {
  const w = new BehaviourWindow({ fineBuckets: 5, coarseBuckets: 3 });
  for (let s = 0; s < 5; s++) w.record(T0 + s * 1_000, true, 1);
  t.deepEqual(
    w.series('1s', 5, T0 + 4_000).buckets.map((b) => b.requests),
    [1, 1, 1, 1, 1],
  );
  w.record(T0 + 7_000, false, 1); // skips seconds 5 and 6, pushes 0-2 out
  t.deepEqual(
    w.series('1s', 5, T0 + 7_000).buckets.map((b) => b.requests),
    [1, 1, 0, 0, 1],
  );
  // Queried far ahead: everything is older than the ring.
  t.deepEqual(w.series('1s', 5, T0 + 60_000).buckets, [zero, zero, zero, zero, zero]);
  // A jump longer than the whole ring clears it.
  w.record(T0 + 1_000_000, true, 1);
  t.deepEqual(
    w.series('1s', 5, T0 + 1_000_000).buckets.map((b) => b.requests),
    [0, 0, 0, 0, 1],
  );
  t.deepEqual(w.totals(), c(7, 6, 7));
});

test('window - a time slightly in the past goes to its own bucket, one too old to the oldest', (t) => {
  const w = new BehaviourWindow({ fineBuckets: 4, coarseBuckets: 2 });
  w.record(T0 + 3_500, true, 1);
  w.record(T0 + 1_200, true, 1); // 2 s back (skew after a hand-off), still held
  t.deepEqual(
    w.series('1s', 4, T0 + 3_500).buckets.map((b) => b.requests),
    [0, 1, 0, 1],
  );
  w.record(T0 - 50_000, false, 1); // older than the ring: counted in the oldest bucket
  t.deepEqual(
    w.series('1s', 4, T0 + 3_500).buckets.map((b) => b.requests),
    [1, 1, 0, 1],
  );
  t.is(w.lastMs, T0 + 3_500, 'lastMs never goes back');
  t.deepEqual(w.sum('1m', 2, T0 + 3_500), c(3, 2, 3));
});

test('window - a refund turns an allowed request into a denied one', (t) => {
  const w = new BehaviourWindow();
  w.record(T0 + 999, true, 1);
  w.record(T0 + 999, true, 1);
  w.recordRefund(T0 + 999);
  t.deepEqual(w.series('1s', 1, T0 + 999).buckets, [c(2, 1, 2)]);
  t.deepEqual(w.series('1m', 1, T0 + 999).buckets, [c(2, 1, 2)]);
  w.recordRefund(T0 + 999);
  w.recordRefund(T0 + 999); // nothing allowed left: no negative counts
  t.deepEqual(w.series('1s', 1, T0 + 999).buckets, [c(2, 0, 2)]);
  t.deepEqual(w.totals(), c(2, 0, 2));
});

test('window - a restored snapshot answers series() identically and keeps counting', (t) => {
  const w = new BehaviourWindow({ fineBuckets: 30, coarseBuckets: 10 });
  for (let i = 0; i < 200; i++) w.record(T0 + i * 997, i % 3 !== 0, 1 + (i % 4));
  const snap = JSON.parse(JSON.stringify(w.toJSON())) as WindowSnapshot;
  const r = BehaviourWindow.fromJSON(snap);
  t.deepEqual(r.options, w.options);
  t.is(r.lastMs, w.lastMs);
  t.deepEqual(r.totals(), w.totals());
  for (const now of [T0 + 150_000, T0 + 198_403, T0 + 220_000]) {
    t.deepEqual(r.series('1s', 30, now), w.series('1s', 30, now));
    t.deepEqual(r.series('1m', 10, now), w.series('1m', 10, now));
  }
  w.record(T0 + 200_000, true, 5);
  r.record(T0 + 200_000, true, 5);
  t.deepEqual(r.toJSON(), w.toJSON());
  t.true(snap.fine.buckets.length <= 30, 'only non-empty buckets are sent');
});

test('window - an empty window snapshots and restores', (t) => {
  const w = new BehaviourWindow();
  t.is(w.lastMs, Number.NEGATIVE_INFINITY);
  const r = BehaviourWindow.fromJSON(JSON.parse(JSON.stringify(w.toJSON())) as WindowSnapshot);
  t.is(r.lastMs, Number.NEGATIVE_INFINITY);
  t.deepEqual(r.series('1m', 3, T0).buckets, [zero, zero, zero]);
});

test('window - bad options, queries and snapshots are InputErrors', (t) => {
  const err = t.throws(() => new BehaviourWindow({ fineBuckets: 0, colour: 1 } as never), {
    instanceOf: InputError,
    message:
      'window.fineBuckets must be an integer from 1 to 1048576, got 0; window.colour is not a known option',
  });
  t.is(err?.code, ErrorCode.InvalidOptions);
  const w = new BehaviourWindow({ fineBuckets: 10 });
  t.throws(() => w.series('1s', 11, T0), {
    instanceOf: InputError,
    message: /^count must be an integer from 1 to 10/,
  });
  t.throws(() => w.series('1h' as never, 1, T0), { instanceOf: InputError, message: /^resolution must be/ });
  const good = w.toJSON();
  const bad: unknown[] = [
    null,
    { ...good, v: 2 },
    { ...good, fine: { head: 'x', buckets: [] } },
    { ...good, fine: { head: 5, buckets: [[99, 1, 1, 1]] } }, // bucket outside the ring
    { ...good, fine: { head: 5, buckets: [[5, 1, 2, 1]] } }, // more allowed than requests
    { ...good, totals: { requests: -1, allowed: 0, cost: 0 } },
  ];
  for (const s of bad)
    t.throws(() => BehaviourWindow.fromJSON(s as WindowSnapshot), { instanceOf: InputError });
});

test('window - merge adds another window bucket by bucket', (t) => {
  const a = new BehaviourWindow({ fineBuckets: 10, coarseBuckets: 5 });
  const b = new BehaviourWindow({ fineBuckets: 20, coarseBuckets: 5 });
  a.record(T0 + 1_000, true, 1);
  a.record(T0 + 3_000, false, 2);
  b.record(T0 + 1_500, true, 4);
  b.record(T0 + 5_000, true, 1);
  b.record(T0 - 15_000, true, 1); // older than a's 10 s ring: only the 1 min ring still holds it
  a.merge(b);
  const s = a.series('1s', 10, T0 + 5_000);
  t.deepEqual(
    s.buckets.map((x) => x.requests),
    [0, 0, 0, 0, 0, 2, 0, 1, 0, 1],
  );
  t.deepEqual(s.buckets[5], c(2, 2, 5));
  t.deepEqual(a.totals(), c(5, 4, 9));
  t.is(a.lastMs, T0 + 5_000);
  t.deepEqual(a.sum('1m', 2, T0 + 5_000), c(5, 4, 9));
});
