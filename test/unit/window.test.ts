import test from 'ava';
import type { ExecutionContext } from 'ava';
import { isDeepStrictEqual } from 'node:util';
import { BehaviourWindow, ErrorCode, InputError, mulberry32 } from '../../lib/index.ts';
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
  const unknownColour = 'window.colour is not a known option (known: fineBuckets, coarseBuckets)';
  const err = t.throws(() => new BehaviourWindow({ fineBuckets: 0, colour: 1 } as never), {
    instanceOf: InputError,
    message: `window.fineBuckets must be an integer from 1 to 1048576, got 0; ${unknownColour}`,
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

// ---- Growth: the on-demand rings answer exactly as the old preallocated ones did. ----

/** The old preallocated ring, kept as the reference: every bucket of (head - size, head] in fixed arrays. */
class DenseRing {
  readonly r: Uint32Array;
  readonly a: Uint32Array;
  readonly c: Float64Array;
  head = Number.NEGATIVE_INFINITY;
  constructor(
    readonly size: number,
    readonly step: number,
  ) {
    this.r = new Uint32Array(size);
    this.a = new Uint32Array(size);
    this.c = new Float64Array(size);
  }
  slot(b: number): number {
    return ((b % this.size) + this.size) % this.size;
  }
  find(b: number): number {
    return b > this.head || b <= this.head - this.size ? -1 : this.slot(b);
  }
  add(bucket: number, r: number, a: number, c: number): void {
    let b = bucket;
    if (this.head === Number.NEGATIVE_INFINITY) this.head = b;
    else if (b > this.head) {
      for (let i = 1; i <= Math.min(b - this.head, this.size); i++) {
        const s = this.slot(this.head + i);
        this.r[s] = this.a[s] = this.c[s] = 0;
      }
      this.head = b;
    } else if (b <= this.head - this.size) b = this.head - this.size + 1;
    const s = this.slot(b);
    this.r[s] = (this.r[s] as number) + r;
    this.a[s] = (this.a[s] as number) + a;
    this.c[s] = (this.c[s] as number) + c;
  }
  held(): [number, number, number, number][] {
    const out: [number, number, number, number][] = [];
    if (this.head === Number.NEGATIVE_INFINITY) return out;
    for (let b = this.head - this.size + 1; b <= this.head; b++) {
      const s = this.slot(b);
      if ((this.r[s] as number) > 0)
        out.push([b, this.r[s] as number, this.a[s] as number, this.c[s] as number]);
    }
    return out;
  }
  series(count: number, now: number): BucketCounts[] {
    const end = Math.floor(now / this.step);
    const out: BucketCounts[] = [];
    for (let b = end - count + 1; b <= end; b++) {
      const s = this.find(b);
      out.push(s < 0 ? zero : c(this.r[s] as number, this.a[s] as number, this.c[s] as number));
    }
    return out;
  }
}

class DenseWindow {
  readonly rings: [DenseRing, DenseRing];
  constructor(fine: number, coarse: number) {
    this.rings = [new DenseRing(fine, 1_000), new DenseRing(coarse, 60_000)];
  }
  record(ms: number, allowed: boolean, cost: number): void {
    for (const g of this.rings) g.add(Math.floor(ms / g.step), 1, allowed ? 1 : 0, cost);
  }
  refund(ms: number): void {
    for (const g of this.rings) {
      const s = g.find(Math.max(Math.floor(ms / g.step), g.head - g.size + 1));
      if (s >= 0 && (g.a[s] as number) > 0) g.a[s] = (g.a[s] as number) - 1;
    }
  }
  merge(o: DenseWindow): void {
    this.rings.forEach((g, i) => {
      for (const [b, r, a, cost] of o.rings[i]?.held() ?? []) g.add(b, r, a, cost);
    });
  }
}

/** A random next time: mostly small steps, sometimes gaps past either ring, sometimes slightly (or far) back. */
function nextTime(rnd: () => number, now: number, fine: number, coarse: number): number {
  const p = rnd();
  if (p < 0.55) return now + Math.floor(rnd() * 3_000);
  if (p < 0.7) return now + Math.floor(rnd() * fine * 1_500);
  if (p < 0.8) return now + Math.floor(rnd() * coarse * 90_000);
  if (p < 0.95) return now - Math.floor(rnd() * 5_000);
  return now - Math.floor(rnd() * fine * 3_000);
}

/** t.deepEqual is slow on long arrays: compare cheaply, and let ava draw the diff only on a mismatch. */
function same(t: ExecutionContext, actual: unknown, expected: unknown, message: string): void {
  if (isDeepStrictEqual(actual, expected)) t.pass();
  else t.deepEqual(actual, expected, message);
}

function assertSame(
  t: ExecutionContext,
  w: BehaviourWindow,
  d: DenseWindow,
  now: number,
  rnd: () => number,
  tag: string,
): void {
  const [fine, coarse] = d.rings;
  const { fineBuckets, coarseBuckets } = w.options;
  same(t, w.series('1s', fineBuckets, now).buckets, fine.series(fineBuckets, now), `${tag} 1s`);
  same(t, w.series('1m', coarseBuckets, now).buckets, coarse.series(coarseBuckets, now), `${tag} 1m`);
  const later = now + Math.floor(rnd() * fineBuckets * 2_000);
  const n = 1 + Math.floor(rnd() * fineBuckets);
  same(t, w.series('1s', n, later).buckets, fine.series(n, later), `${tag} 1s later`);
  const snap = w.toJSON();
  same(
    t,
    snap.fine,
    { head: Number.isFinite(fine.head) ? fine.head : null, buckets: fine.held() },
    `${tag} fine snapshot`,
  );
  same(
    t,
    snap.coarse,
    { head: Number.isFinite(coarse.head) ? coarse.head : null, buckets: coarse.held() },
    `${tag} coarse snapshot`,
  );
}

/** Drives one window and its dense reference through the same random operations. */
function drive(rnd: () => number, w: BehaviourWindow, d: DenseWindow, start: number, ops: number): number {
  const { fineBuckets: fine, coarseBuckets: coarse } = w.options;
  let now = start;
  for (let i = 0; i < ops; i++) {
    const at = nextTime(rnd, now, fine, coarse);
    const allowed = rnd() < 0.7;
    const cost = 1 + Math.floor(rnd() * 4);
    w.record(at, allowed, cost);
    d.record(at, allowed, cost);
    now = Math.max(now, at);
    if (rnd() < 0.15) {
      const back = now - Math.floor(rnd() * fine * 1_500);
      w.recordRefund(back);
      d.refund(back);
    }
  }
  return now;
}

test('window - on-demand rings answer as the dense reference over random sequences', (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = mulberry32(seed);
    const fine = seed % 10 === 0 ? 900 : 1 + Math.floor(rnd() * 70);
    const coarse = seed % 10 === 0 ? 1440 : 1 + Math.floor(rnd() * 12);
    let w = new BehaviourWindow({ fineBuckets: fine, coarseBuckets: coarse });
    const d = new DenseWindow(fine, coarse);
    // Some sequences run around time 0 (a simulated clock), where bucket numbers turn negative.
    let now = seed % 5 === 0 ? -Math.floor(rnd() * 200_000) : T0 + Math.floor(rnd() * 100_000);
    for (let round = 0; round < 6; round++) {
      now = drive(rnd, w, d, now, Math.floor(rnd() * 60));
      assertSame(t, w, d, now, rnd, `seed ${seed} round ${round}`);
      const p = rnd();
      if (p < 0.3) {
        // Hand-off round trip: the restored window carries on identically.
        w = BehaviourWindow.fromJSON(JSON.parse(JSON.stringify(w.toJSON())) as WindowSnapshot);
      } else if (p < 0.55) {
        // Merge a window of another size that saw its own traffic.
        const oFine = 1 + Math.floor(rnd() * 80);
        const o = new BehaviourWindow({ fineBuckets: oFine, coarseBuckets: coarse });
        const od = new DenseWindow(oFine, coarse);
        drive(rnd, o, od, now - Math.floor(rnd() * 120_000), Math.floor(rnd() * 40));
        w.merge(o);
        d.merge(od);
      }
      assertSame(t, w, d, now, rnd, `seed ${seed} round ${round} after hand-off`);
    }
  }
});

test('window - the sparse form (one second recorded) answers as the dense reference', (t) => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = mulberry32(seed);
    const fine = 1 + Math.floor(rnd() * 4);
    const coarse = 1 + Math.floor(rnd() * 3);
    const w = new BehaviourWindow({ fineBuckets: fine, coarseBuckets: coarse });
    const d = new DenseWindow(fine, coarse);
    // A second somewhere in a minute (negative bucket numbers too: a simulated clock near 0).
    const second = (seed % 4 === 0 ? -T0 : T0) + Math.floor(rnd() * 60) * 1_000;
    const n = Math.floor(rnd() * 4);
    for (let i = 0; i < n; i++) {
      const at = second + Math.floor(rnd() * 1_000);
      const allowed = rnd() < 0.7;
      w.record(at, allowed, 1 + i);
      d.record(at, allowed, 1 + i);
    }
    // Refunds in the same second, another second of the same minute, other minutes, or long before.
    for (let i = Math.floor(rnd() * 3); i > 0; i--) {
      const offsets = [0, 1_000, -1_000, 59_000, -60_000, -fine * 5_000, -coarse * 200_000];
      const at = second + (offsets[Math.floor(rnd() * offsets.length)] as number) + Math.floor(rnd() * 1_000);
      w.recordRefund(at);
      d.refund(at);
    }
    const now = second + Math.floor(rnd() * 3_000);
    assertSame(t, w, d, now, rnd, `seed ${seed}`);
    t.deepEqual(w.totals().requests, n, `seed ${seed} totals`);
    const back = BehaviourWindow.fromJSON(JSON.parse(JSON.stringify(w.toJSON())) as WindowSnapshot);
    assertSame(t, back, d, now, rnd, `seed ${seed} restored`);
    // Merged into another window, and another sparse one merged into it.
    const o = new BehaviourWindow({ fineBuckets: fine, coarseBuckets: coarse });
    const od = new DenseWindow(fine, coarse);
    const at = second + Math.floor(rnd() * 3) * 1_000;
    o.record(at, true, 5);
    od.record(at, true, 5);
    w.merge(o);
    d.merge(od);
    assertSame(t, w, d, now + 2_000, rnd, `seed ${seed} merged`);
  }
});

test('window - a ring that went quiet and then busy again keeps every bucket', (t) => {
  const w = new BehaviourWindow({ fineBuckets: 100, coarseBuckets: 4 });
  const d = new DenseWindow(100, 4);
  const feed = (ms: number): void => {
    w.record(ms, true, 1);
    d.record(ms, true, 1);
  };
  for (let s = 0; s < 100; s++) feed(T0 + s * 1_000); // grows to the full ring
  feed(T0 + 195_000); // only one bucket left: the buffer shrinks
  for (let s = 196; s < 300; s += 7) feed(T0 + s * 1_000); // and grows again
  feed(T0 + 120_000); // behind the oldest held bucket, still inside the ring
  feed(T0 + 10_000); // older than the ring: the oldest bucket
  for (const now of [T0 + 294_000, T0 + 300_000, T0 + 390_000]) {
    t.deepEqual(w.series('1s', 100, now).buckets, d.rings[0].series(100, now));
    t.deepEqual(w.series('1m', 4, now).buckets, d.rings[1].series(4, now));
  }
  t.deepEqual(w.toJSON().fine.buckets, d.rings[0].held());
});

test('window - requests(count, now) equals series(1s).requests, at one request and with rings', (t) => {
  const w = new BehaviourWindow();
  const T = 1_765_000_000_000;
  w.record(T + 1500, true, 1);
  // One request held without rings.
  t.deepEqual(
    w.requests(5, T + 3000).values,
    w.series('1s', 5, T + 3000).buckets.map((b) => b.requests),
  );
  t.is(w.requests(5, T + 3000).startMs, w.series('1s', 5, T + 3000).startMs);
  for (let i = 0; i < 50; i++) w.record(T + 1000 + i * 137, i % 3 !== 0, 1);
  for (const [count, now] of [
    [1, T + 2000],
    [10, T + 8000],
    [300, T + 9000],
    [20, T + 500],
  ] as const) {
    const s = w.series('1s', count, now);
    t.deepEqual(w.requests(count, now), { startMs: s.startMs, values: s.buckets.map((b) => b.requests) });
  }
  t.throws(() => w.requests(0, T), { message: /^count must be an integer from 1 to/ });
});

test('window - minuteRequests reads a 1 min bucket as series(1m) does, NaN before creation or the ring', (t) => {
  const T = 1_765_000_020_000 - (1_765_000_020_000 % 60_000); // a whole minute
  const w = new BehaviourWindow({ fineBuckets: 10, coarseBuckets: 5 });
  t.true(Number.isNaN(w.minuteRequests(T, T + 1)), 'a minute before the creation');
  t.is(w.minuteRequests(T, T), 0, 'nothing recorded yet');
  // The sparse form: one second of three requests at T + 1 min + 30 s.
  for (let i = 0; i < 3; i++) w.record(T + 90_000, true, 1);
  t.is(w.minuteRequests(T + 60_000, T), 3);
  t.is(w.minuteRequests(T + 119_999, T), 3);
  t.is(w.minuteRequests(T + 120_000, T), 0);
  t.is(w.minuteRequests(T, T), 0);
  t.true(Number.isNaN(w.minuteRequests(T - 1, T)));
  t.true(Number.isNaN(w.minuteRequests(T + 59_000, T + 30_000)), 'the minute the window was created in');
  t.is(w.minuteRequests(T + 60_000, T + 30_000), 3);
  t.true(Number.isNaN(w.minuteRequests(T - 4 * 60_000, -Infinity)), 'older than the 5 minutes held');
  t.is(w.minuteRequests(T - 3 * 60_000, -Infinity), 0);
  // With rings, over random traffic: what series('1m') says, inside what the ring holds.
  const rnd = mulberry32(7);
  let now = T + 91_000;
  for (let i = 0; i < 400; i++) {
    now += Math.floor(rnd() * 4_000);
    w.record(now, true, 1);
    if (i % 20 === 0) now += Math.floor(rnd() * 200_000); // quiet stretches
    const s = w.series('1m', 5, w.lastMs);
    s.buckets.forEach((b, k) => {
      t.is(w.minuteRequests(s.startMs + k * 60_000 + Math.floor(rnd() * 60_000), -Infinity), b.requests);
    });
    t.true(Number.isNaN(w.minuteRequests(s.startMs - 1, -Infinity)), 'older than the ring holds');
    t.is(w.minuteRequests(w.lastMs + 60_000, -Infinity), 0, 'after the latest recorded');
  }
  // A restored window reads the same.
  const back = BehaviourWindow.fromJSON(JSON.parse(JSON.stringify(w.toJSON())) as WindowSnapshot);
  for (let k = 0; k < 6; k++) {
    const at = w.lastMs - k * 60_000;
    t.is(back.minuteRequests(at, T), w.minuteRequests(at, T));
  }
  t.true(Number.isNaN(w.minuteRequests(Number.NaN, T)));
});
