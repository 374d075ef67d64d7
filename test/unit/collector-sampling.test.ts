// The records' sample drawn at arrival, on the check path's thread
// (collection/collector-sample.ts, as a CollectorPort draws it): only the
// decisions that enter a token-second's reservoir cross one by one; the
// buckets, refunds and `recordsSampledOut` come out as if every decision had
// crossed, and the kept set is a uniform sample.
import test from 'ava';
import fc from 'fast-check';
import { SimulatedClock, mulberry32, type RuleDecision, type TokenKey } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { Batcher } from '../../store/index.ts';
import {
  Collector,
  DecisionBatchBuilder,
  Queued,
  type DecisionBatch,
  type ObservedItem,
} from '../../collection/index.ts';

const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);

const decision = (allow: boolean): RuleDecision => ({
  token: '',
  ruleId: 'per-user',
  mode: 'enforce',
  allow,
  limit: 10,
  remaining: 0,
  retryAfterMs: 0,
});

type Row = [string, Record<string, unknown>];

/** A collector that keeps the rows it writes, without the per-start parts (record ids, bucket source). */
function collector(k: number, seed: number): { c: Collector; rows: Row[] } {
  const rows: Row[] = [];
  const batcher = {
    tryAdd: (kind: string, row: Record<string, unknown>) => {
      const { id: _id, source: _source, ...rest } = row;
      return rows.push([kind, structuredClone(rest)]) > 0;
    },
  };
  const c = new Collector(
    {
      pipeline: new PrivacyPipeline({
        keys: [{ id: 'k1', secret: 'collector-sampling-secret-0123' }],
        params: { op: 'keep' },
        k: 1,
      }),
      batcher: batcher as unknown as Batcher,
      clock: new SimulatedClock(T0),
      logger: { warn: () => undefined },
      random: mulberry32(seed),
    },
    { graceMs: 1000, recordsPerTokenSecond: k, tickMs: 3_600_000 },
  );
  return { c, rows };
}

/** A port's batching: the builder that samples, and a send that moves its batch (cloned, as it crosses). */
function port(
  names: readonly string[],
  k: number,
  seed: number,
  deferCounts = false,
): { b: DecisionBatchBuilder; send: (into: Collector, nowMs: number) => DecisionBatch } {
  const b = new DecisionBatchBuilder(names, 4, {
    recordsPerTokenSecond: k,
    random: mulberry32(seed),
    deferCounts,
  });
  return {
    b,
    send: (into, nowMs) => {
      b.release(nowMs);
      const batch = structuredClone(b.take());
      into.collectBatch(batch, nowMs);
      return batch;
    },
  };
}

const bucketsOf = (rows: Row[]): Array<Record<string, unknown>> =>
  rows
    .filter(([kind]) => kind === 'buckets')
    .map(([, r]) => r)
    .sort((x, y) =>
      `${String(x['resolution'])}|${String(x['startMs'])}|${String(x['token'])}`.localeCompare(
        `${String(y['resolution'])}|${String(y['startMs'])}|${String(y['token'])}`,
      ),
    );

interface Ev {
  /** Decision (allow/deny), refund of an earlier decision, a refund that matches nothing, or a tick. */
  kind: 'allow' | 'deny' | 'refund' | 'stray' | 'tick';
  user: number;
  /** ms since the last event. */
  step: number;
  /** Request time behind the arrival: mostly a few ms, sometimes seconds (late). */
  lag: number;
  cost: number;
  refundable: boolean;
  /** Which earlier decision a refund is of. */
  pick: number;
}

const ev = fc.record<Ev>({
  kind: fc.constantFrom('allow', 'allow', 'allow', 'deny', 'refund', 'stray', 'tick'),
  user: fc.integer({ min: 0, max: 2 }),
  step: fc.constantFrom(0, 0, 1, 2, 5, 300),
  lag: fc.constantFrom(0, 0, 0, 0, 0, 2, 1500, 4000),
  cost: fc.constantFrom(1, 1, 2),
  refundable: fc.boolean(),
  pick: fc.nat(),
});

test('collector sampling - property: buckets, refunds and sampled-out counts equal the uncapped collector', (t) => {
  fc.assert(
    fc.property(
      fc.array(ev, { maxLength: 600 }),
      fc.integer({ min: 1, max: 3 }),
      fc.nat(),
      fc.boolean(),
      (evs, k, seed, defer) => {
        const direct = collector(0, seed);
        const sampled = collector(k, seed);
        const { b, send } = port(sampled.c.reads, k, seed + 1, defer);
        let now = T0 + 5000;
        const refundable: ObservedItem[] = [];
        let individual = 0;
        for (const e of evs) {
          now += e.step;
          if (e.kind === 'tick') {
            individual += send(sampled.c, now).n;
            direct.c.process(now);
            continue;
          }
          if (e.kind === 'refund' || e.kind === 'stray') {
            // A take is refunded at most once (the node's ledger redeems each take id once).
            const of =
              e.kind === 'refund' && refundable.length > 0
                ? refundable.splice(e.pick % refundable.length, 1)[0]
                : undefined;
            // A stray refund's cost matches no decision (costs are 1 and 2).
            const it: ObservedItem = of ?? {
              token: `t|u${e.user}` as TokenKey,
              cost: 7,
              atMs: now - e.lag,
            };
            direct.c.refunded(it, now);
            b.add(it, Queued.Refund, '', now);
            continue;
          }
          const allow = e.kind === 'allow';
          const it: ObservedItem = {
            token: `t|u${e.user}` as TokenKey,
            cost: e.cost,
            params: { op: `op${e.user % 2}` },
            atMs: now - e.lag,
            ...(e.refundable ? { refundable: true } : {}),
          };
          // Only an allowed take of several rules is ever refunded.
          if (allow && e.refundable) refundable.push(it);
          direct.c.decided(it, decision(allow), now);
          b.add(it, allow ? Queued.Allowed : Queued.Denied, 'per-user', now);
        }
        b.release(Number.POSITIVE_INFINITY); // as the port's close does
        individual += send(sampled.c, now).n;
        direct.c.close();
        sampled.c.close();
        // An ava assertion does not throw: throwing lets fast-check shrink to a counterexample.
        if (!t.deepEqual(bucketsOf(sampled.rows), bucketsOf(direct.rows))) throw new Error('buckets differ');
        const d = direct.c.stats();
        const s = sampled.c.stats();
        t.like(s, {
          decided: d.decided,
          refunds: d.refunds,
          lateRefunds: d.lateRefunds,
          unmatchedRefunds: d.unmatchedRefunds,
          held: 0,
        });
        t.is(s.records + s.recordsSampledOut, d.records, 'every decision is a record or sampled out');
        t.true(individual <= evs.length);
        // At most k records per token-second (a 1 s bucket row each; a late decision counts in
        // the oldest open second, so its record's own second may hold more).
        const seconds = sampled.rows.filter(([kind, r]) => kind === 'buckets' && r['resolution'] === '1s');
        t.true(s.records <= k * seconds.length, `${s.records} records, ${seconds.length} token-seconds`);
      },
    ),
    { numRuns: 200 },
  );
});

/** 100 tokens at 100 decisions in the second starting T0, all allowed, none refundable unless said. */
function busySecond(b: DecisionBatchBuilder, refundable = false): void {
  for (let i = 0; i < 100; i++) {
    for (let u = 0; u < 100; u++) {
      const it: ObservedItem = {
        token: `t|u${u}` as TokenKey,
        cost: 1,
        params: { op: 'read' },
        atMs: T0 + i * 10,
        ...(refundable ? { refundable } : {}),
      };
      b.add(it, Queued.Allowed, 'per-user', T0 + i * 10);
    }
  }
}

test('collector sampling - the worker receives K decisions per token-second one by one, the rest as counts', (t) => {
  // K = 20: the kept decisions (never refunded) and the counts wait for the second to end;
  // then 2,000 cross one by one and 100 counts stand for the other 8,000.
  const c = collector(20, 3);
  const { b, send } = port(c.c.reads, 20, 4, true);
  busySecond(b);
  t.is(b.length, 0, 'nothing crosses before the second ends');
  t.is(b.held, 2_000, 'the kept ones wait here, K a token');
  const batch = send(c.c, T0 + 1000);
  t.is(batch.n, 2_000, 'exactly K a token');
  t.is(batch.counted.n, 100, 'one count per token (all allowed)');
  t.is(batch.decisions, 10_000, 'the batch stands for every decision');
  t.is(b.held, 0);
  c.c.close();
  t.like(c.c.stats(), { decided: 10_000, records: 2_000, recordsSampledOut: 8_000, held: 0 });
  const seconds = c.rows.filter(([kind, r]) => kind === 'buckets' && r['resolution'] === '1s');
  t.is(seconds.length, 100);
  t.true(seconds.every(([, r]) => r['requests'] === 100 && r['allowed'] === 100));
});

test('collector sampling - refundable decisions, or counts not deferred, cross as they enter the sample', (t) => {
  // The first 20 of each token, then those that replace one: 20 * (1 + H(100) - H(20)) ~ 51.8 a token.
  const expected = 100 * 20 * (1 + [...Array(80).keys()].reduce((sum, i) => sum + 1 / (i + 21), 0));
  for (const [refundable, defer] of [
    [true, true],
    [false, false],
  ] as const) {
    const c = collector(20, 3);
    const { b, send } = port(c.c.reads, 20, 4, defer);
    busySecond(b, refundable);
    t.true(Math.abs(b.length - expected) < 300, `${b.length} cross, ~${expected.toFixed(0)} expected`);
    b.release(Number.POSITIVE_INFINITY);
    send(c.c, T0 + 1000);
    c.c.close();
    t.like(c.c.stats(), { decided: 10_000, records: 2_000, recordsSampledOut: 8_000, held: 0 });
  }
});

for (const refundable of [true, false]) {
  test(`collector sampling - every place in the second is kept equally often (chi-square)${refundable ? ', refunds unbiased' : ', kept ones held on the port'}`, (t) => {
    // As collect-sample's chi-square: 2000 seconds of one token, 40 decisions
    // each in pairs at the same ms, 8 kept; each place is expected 400 times
    // (p = 0.001 bound 72.05 for 39 degrees of freedom). One decision of each
    // pair is refunded: the records' denied share must stay near 1/2 whether
    // the refund met a kept record or a left-out decision.
    const [seconds, n, k] = [2000, 40, 8];
    const c = collector(k, 11);
    const { b, send } = port(c.c.reads, k, 12, true);
    const counts = new Array<number>(n).fill(0);
    let denied = 0;
    let records = 0;
    for (let s = 0; s < seconds; s++) {
      const base = T0 + s * 1000;
      const items: ObservedItem[] = [];
      for (let p = 0; p < n; p++) {
        const it: ObservedItem = {
          token: 't|a' as TokenKey,
          cost: 1,
          params: { op: `p${p}` },
          atMs: base + Math.floor(p / 2) * 20,
          refundable,
        };
        items.push(it);
        b.add(it, Queued.Allowed, 'per-user', base + p);
      }
      if (refundable) for (let p = 0; p < n; p += 2) b.add(items[p]!, Queued.Refund, '', base + 900);
      send(c.c, base + 999);
      c.c.process(base + 2999);
    }
    b.release(Number.POSITIVE_INFINITY);
    send(c.c, T0 + seconds * 1000 + 3000);
    c.c.close();
    for (const [kind, r] of c.rows) {
      if (kind !== 'records') continue;
      records++;
      if (r['allow'] === false) denied++;
      const params = r['params'] as Record<string, string>;
      counts[Number(params['op']!.slice(1))]!++;
    }
    t.is(records, seconds * k);
    const expected = (seconds * k) / n;
    const chi2 = counts.reduce((sum, o) => sum + (o - expected) ** 2 / expected, 0);
    t.true(chi2 < 72.05, `chi-square ${chi2.toFixed(1)} over the places ${counts.join(' ')}`);
    t.true(chi2 > 5, `a chi-square of ${chi2.toFixed(1)} is too good for random draws`);
    // Binomial-ish, 16,000 records: 1/2 +- 0.02 is over 5 standard deviations.
    const share = refundable ? 0.5 : 0;
    t.true(Math.abs(denied / records - share) < 0.02, `denied share ${(denied / records).toFixed(3)}`);
    t.like(c.c.stats(), {
      decided: seconds * n,
      recordsSampledOut: seconds * (n - k),
      refunds: refundable ? (seconds * n) / 2 : 0,
      unmatchedRefunds: 0,
      lateRefunds: 0,
    });
  });
}

test('collector sampling - K = 0: every decision crosses and the rows equal the collector fed directly', (t) => {
  const direct = collector(0, 5);
  const viaPort = collector(0, 5);
  const { b, send } = port(viaPort.c.reads, 0, 6);
  for (let i = 0; i < 2000; i++) {
    const now = T0 + i * 3;
    const it: ObservedItem = {
      token: `t|u${i % 7}` as TokenKey,
      cost: 1 + (i % 2),
      params: { op: i % 3 === 0 ? 'read' : 'write' },
      atMs: now - (i % 5),
      refundable: true,
    };
    if (i % 13 === 4) {
      direct.c.refunded(it, now);
      b.add(it, Queued.Refund, '', now);
    } else {
      direct.c.decided(it, decision(i % 9 !== 0), now);
      b.add(it, i % 9 !== 0 ? Queued.Allowed : Queued.Denied, 'per-user', now);
    }
    if (i % 100 === 99) {
      const batch = send(viaPort.c, now);
      t.is(batch.counted.n, 0);
      direct.c.process(now);
    }
  }
  send(viaPort.c, T0 + 6000);
  direct.c.process(T0 + 6000);
  direct.c.close();
  viaPort.c.close();
  t.is(viaPort.rows.filter(([kind]) => kind === 'records').length, direct.c.stats().records);
  t.deepEqual(viaPort.rows, direct.rows);
});

test('collector sampling - token-seconds are freed a second after their second; beyond the bound a decision is refused', (t) => {
  const b = new DecisionBatchBuilder([], 4, { recordsPerTokenSecond: 2, random: mulberry32(1) });
  const it = (u: number, atMs: number): ObservedItem => ({ token: `t|u${u}` as TokenKey, cost: 1, atMs });
  for (let u = 0; u < 3; u++) t.true(b.add(it(u, T0 + 10), Queued.Allowed, 'r', T0 + 10, 3));
  t.false(b.add(it(3, T0 + 10), Queued.Allowed, 'r', T0 + 10, 3), 'a fourth token-second is over the bound');
  t.true(b.add(it(0, T0 + 20), Queued.Allowed, 'r', T0 + 20, 3), 'an open one still counts');
  t.is(b.openTokenSeconds, 3);
  b.release(T0 + 1999);
  t.is(b.openTokenSeconds, 3, 'held a second after the second ends, for late requests');
  b.release(T0 + 2000);
  t.is(b.openTokenSeconds, 0);
  // A request of the released second crosses one by one, marked late.
  t.true(b.add(it(0, T0 + 30), Queued.Allowed, 'r', T0 + 2000, 3));
  const batch = b.take();
  t.is(batch.slot[batch.n - 1], -2);
  t.is(batch.decisions, 5);
});

test('collector sampling - property: counts added in bulk (addCounted) give the buckets and counts of as many decisions one by one', (t) => {
  // The bulk of a client's reported lease checks (services/check/lease-demand.ts): O(1) per bulk on
  // the port, never a record, and the worker's buckets as if each decision had crossed.
  const bulkEv = fc.record({
    kind: fc.constantFrom('allow', 'deny', 'bulk-allow', 'bulk-deny', 'tick'),
    user: fc.integer({ min: 0, max: 2 }),
    step: fc.constantFrom(0, 0, 1, 5, 300),
    lag: fc.constantFrom(0, 0, 0, 2, 1500, 4000),
    count: fc.integer({ min: 1, max: 60 }),
  });
  fc.assert(
    fc.property(
      fc.array(bulkEv, { maxLength: 300 }),
      fc.integer({ min: 0, max: 3 }),
      fc.nat(),
      fc.boolean(),
      (evs, k, seed, defer) => {
        const direct = collector(0, seed);
        const sampled = collector(k, seed);
        const { b, send } = port(sampled.c.reads, k, seed + 1, defer);
        let now = T0 + 5000;
        let ones = 0;
        for (const e of evs) {
          now += e.step;
          if (e.kind === 'tick') {
            send(sampled.c, now);
            direct.c.process(now);
            continue;
          }
          const allow = e.kind === 'allow' || e.kind === 'bulk-allow';
          const it: ObservedItem = {
            token: `t|u${e.user}` as TokenKey,
            cost: 1,
            params: { op: `op${e.user % 2}` },
            atMs: now - e.lag,
          };
          if (e.kind === 'allow' || e.kind === 'deny') {
            ones++;
            direct.c.decided(it, decision(allow), now);
            b.add(it, allow ? Queued.Allowed : Queued.Denied, 'per-user', now);
            continue;
          }
          for (let i = 0; i < e.count; i++) direct.c.decided(it, decision(allow), now);
          t.true(b.addCounted(it, allow, e.count, e.count, now));
        }
        b.release(Number.POSITIVE_INFINITY);
        const last = send(sampled.c, now);
        direct.c.close();
        sampled.c.close();
        if (!t.deepEqual(bucketsOf(sampled.rows), bucketsOf(direct.rows))) throw new Error('buckets differ');
        const d = direct.c.stats();
        const s = sampled.c.stats();
        t.is(s.decided, d.decided);
        t.true(s.records <= ones, 'only decisions added one by one become records');
        t.true(last.n <= ones);
      },
    ),
    { numRuns: 200 },
  );
});
