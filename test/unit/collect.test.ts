import test from 'ava';
import { CollectionWindow, RefundOutcome, buildRecord, calendarFeatures } from '../../lib/index.ts';
import type { CollectedBucket } from '../../lib/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

/** Holds one decision of `token` (anonymised as `h(token)` unless `hash` is given). */
function add(
  w: CollectionWindow,
  token: string,
  atMs: number,
  allow: boolean,
  cost = 1,
  hash?: string,
): void {
  w.add(
    token,
    { atMs, allow, ruleId: 'per-user', cost },
    {
      parts: { token: hash ?? `h(${token})`, params: { op: 'read' }, profile: {} },
      calendar: calendarFeatures(atMs),
      events: {},
    },
  );
}

const sorted = (b: CollectedBucket[]): CollectedBucket[] =>
  [...b].sort(
    (x, y) =>
      y.resolution.localeCompare(x.resolution) || x.startMs - y.startMs || x.token.localeCompare(y.token),
  );

test('collect - a record carries the decision, anonymised parts, calendar and events', (t) => {
  const at = Date.UTC(2026, 10, 20, 12, 34, 56, 7);
  const r = buildRecord(
    { id: 'x1', atMs: at, allow: false, ruleId: 'per-user', cost: 3 },
    { token: 'k1.abc', params: { op: 'read', plan: 'pro' }, profile: { tier: 'gold' }, region: 'eu-west' },
    calendarFeatures(at),
    { launch: 4 },
  );
  t.deepEqual(r, {
    id: 'x1',
    timeMs: at,
    token: 'k1.abc',
    op: 'read',
    params: { op: 'read', plan: 'pro' },
    allow: false,
    ruleId: 'per-user',
    cost: 3,
    secondOfMinute: 56,
    minuteOfHour: 34,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: { tier: 'gold' },
    region: 'eu-west',
    events: { launch: 4 },
  });
  const bare = buildRecord(
    { id: 'x2', atMs: at, allow: true, ruleId: null, cost: 1 },
    { token: 't', params: {}, profile: {} },
    calendarFeatures(at),
    {},
  );
  t.false('op' in bare);
  t.false('region' in bare);
});

test('collect - 1 s and 1 min buckets per token, written once closed plus the grace', (t) => {
  const w = new CollectionWindow(2000);
  add(w, 'a', T0 + 100, true, 2);
  add(w, 'a', T0 + 900, false);
  add(w, 'b', T0 + 500, true);
  add(w, 'a', T0 + 1500, true);
  t.is(w.heldRecords, 4);
  // Second [T0, T0+1000) closes at T0+1000; with the grace it is due at T0+3000.
  t.deepEqual(w.due(T0 + 2999), { records: [], buckets: [] });
  const first = w.due(T0 + 3000);
  t.is(first.records.length, 3);
  t.deepEqual(sorted(first.buckets), [
    { token: 'h(a)', resolution: '1s', startMs: T0, requests: 2, allowed: 1, denied: 1, cost: 3 },
    { token: 'h(b)', resolution: '1s', startMs: T0, requests: 1, allowed: 1, denied: 0, cost: 1 },
  ]);
  const second = w.due(T0 + 4000);
  t.is(second.records.length, 1);
  t.deepEqual(second.buckets, [
    { token: 'h(a)', resolution: '1s', startMs: T0 + 1000, requests: 1, allowed: 1, denied: 0, cost: 1 },
  ]);
  // The minute is due at T0 + 62 s.
  t.deepEqual(w.due(T0 + 61_999).buckets, []);
  t.deepEqual(sorted(w.due(T0 + 62_000).buckets), [
    { token: 'h(a)', resolution: '1m', startMs: T0, requests: 3, allowed: 2, denied: 1, cost: 4 },
    { token: 'h(b)', resolution: '1m', startMs: T0, requests: 1, allowed: 1, denied: 0, cost: 1 },
  ]);
  t.is(w.heldRecords, 0);
});

test('collect - a refund in time turns the record and both buckets from allowed into denied', (t) => {
  const w = new CollectionWindow(2000);
  add(w, 'a', T0 + 10, true);
  add(w, 'a', T0 + 20, true, 5);
  t.is(w.refund('a', T0 + 20, 5), RefundOutcome.Applied);
  // The same decision cannot be refunded twice; another token's refund does not match.
  t.is(w.refund('a', T0 + 20, 5), RefundOutcome.Unmatched);
  t.is(w.refund('b', T0 + 10, 1), RefundOutcome.Unmatched);
  const out = w.all();
  t.deepEqual(
    out.records.map((r) => [r.timeMs - T0, r.allow]),
    [
      [10, true],
      [20, false],
    ],
  );
  t.deepEqual(sorted(out.buckets), [
    { token: 'h(a)', resolution: '1s', startMs: T0, requests: 2, allowed: 1, denied: 1, cost: 6 },
    { token: 'h(a)', resolution: '1m', startMs: T0, requests: 2, allowed: 1, denied: 1, cost: 6 },
  ]);
});

test('collect - a late refund still corrects the open minute and is reported late', (t) => {
  const w = new CollectionWindow(1000);
  add(w, 'a', T0 + 10, true);
  const first = w.due(T0 + 2000);
  t.is(first.records[0]!.allow, true);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Late);
  t.deepEqual(w.all().buckets, [
    { token: 'h(a)', resolution: '1m', startMs: T0, requests: 1, allowed: 0, denied: 1, cost: 1 },
  ]);
});

test('collect - a decision for a second already written counts in the oldest open bucket, never replacing a row', (t) => {
  const w = new CollectionWindow(1000);
  add(w, 'a', T0 + 10, true);
  t.is(w.due(T0 + 2000).buckets.length, 1);
  add(w, 'a', T0 + 500, true);
  const out = w.all();
  t.is(out.records[0]!.timeMs, T0 + 500); // the record keeps its time
  t.deepEqual(sorted(out.buckets), [
    { token: 'h(a)', resolution: '1s', startMs: T0 + 1000, requests: 1, allowed: 1, denied: 0, cost: 1 },
    { token: 'h(a)', resolution: '1m', startMs: T0, requests: 2, allowed: 2, denied: 0, cost: 2 },
  ]);
});

test('collect - after a key rotation the bucket is named by the latest hash', (t) => {
  const w = new CollectionWindow(1000);
  add(w, 'a', T0 + 10, true);
  add(w, 'a', T0 + 20, true, 1, 'k2.new');
  t.deepEqual(
    w.all().buckets.map((b) => [b.resolution, b.token, b.requests]),
    [
      ['1s', 'k2.new', 2],
      ['1m', 'k2.new', 2],
    ],
  );
});

test('collect - a held decision is written as the record buildRecord makes, named by the prefix and its number', (t) => {
  const w = new CollectionWindow(1000, 'boot');
  const at = T0 + 1234;
  const features = {
    parts: { token: 'k1.abc', params: { op: 'read', plan: 'pro' }, profile: { tier: 'gold' }, region: 'eu' },
    calendar: calendarFeatures(at),
    events: { launch: 2 },
  };
  for (let i = 0; i < 37; i++) w.add('a', { atMs: at, allow: i % 2 === 0, ruleId: 'r', cost: i }, features);
  w.add('b', { atMs: at + 1, allow: true, ruleId: null, cost: 1 }, features);
  const { records } = w.all();
  t.is(records.length, 38);
  t.deepEqual(
    records[36],
    buildRecord(
      { id: 'boot10', atMs: at, allow: true, ruleId: 'r', cost: 36 },
      features.parts,
      features.calendar,
      features.events,
    ),
  );
  t.deepEqual(
    records.map((r) => r.id),
    Array.from({ length: 38 }, (_, i) => `boot${i.toString(36)}`),
  );
  t.is(records[37]!.ruleId, null);
  t.is(w.heldRecords, 0);
});

test('collect - refunds flip the earliest matching allowed decision, each once, whatever order they come in', (t) => {
  const w = new CollectionWindow(2000);
  // Three identical allowed decisions of a, with others of a and b between them.
  add(w, 'a', T0 + 10, true);
  add(w, 'b', T0 + 10, true);
  add(w, 'a', T0 + 10, true);
  add(w, 'a', T0 + 10, false);
  add(w, 'a', T0 + 20, true, 2);
  add(w, 'a', T0 + 10, true);
  // The last one first, then the first, then the middle: each takes the earliest still allowed.
  t.is(w.refund('a', T0 + 20, 2), RefundOutcome.Applied);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Applied);
  t.is(w.refund('a', T0 + 20, 2), RefundOutcome.Unmatched);
  // After the list's tail was removed, a new decision is still found.
  add(w, 'a', T0 + 30, true, 3);
  t.is(w.refund('a', T0 + 30, 3), RefundOutcome.Applied);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Applied);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Applied);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Unmatched);
  add(w, 'a', T0 + 10, true);
  t.is(w.refund('a', T0 + 10, 1), RefundOutcome.Applied);
  const out = w.all();
  t.deepEqual(
    out.records.map((r) => [r.token, r.timeMs - T0, r.allow]),
    [
      ['h(a)', 10, false],
      ['h(b)', 10, true],
      ['h(a)', 10, false],
      ['h(a)', 10, false],
      ['h(a)', 20, false],
      ['h(a)', 10, false],
      ['h(a)', 30, false],
      ['h(a)', 10, false],
    ],
  );
  t.deepEqual(sorted(out.buckets), [
    { token: 'h(a)', resolution: '1s', startMs: T0, requests: 7, allowed: 0, denied: 7, cost: 10 },
    { token: 'h(b)', resolution: '1s', startMs: T0, requests: 1, allowed: 1, denied: 0, cost: 1 },
    { token: 'h(a)', resolution: '1m', startMs: T0, requests: 7, allowed: 0, denied: 7, cost: 10 },
    { token: 'h(b)', resolution: '1m', startMs: T0, requests: 1, allowed: 1, denied: 0, cost: 1 },
  ]);
});
