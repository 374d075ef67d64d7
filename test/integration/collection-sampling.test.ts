// The records' sample drawn on the check path's thread, end to end: a
// CollectorPort samples at arrival, the collection worker receives the kept
// decisions one by one and the rest as counts, and the store's buckets still
// count every decision and every refund.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SimulatedClock, mulberry32, type RuleDecision, type TokenKey } from '../../lib/index.ts';
import type { CollectionWorkerData } from '../../services/collection/index.ts';
import { CollectorPort, openCollectionWorker } from '../../services/collection/index.ts';
import type { ObservedItem } from '../../collection/index.ts';

// The worker's collector runs on the wall clock: traffic stamped a little ahead of it is held
// until the port closes (no second is written early, which would split a token-second's sample).
const T0 = Math.ceil(Date.now() / 1000) * 1000 + 10_000;

const decision = (allow: boolean): RuleDecision => ({
  token: '',
  ruleId: 'per-user',
  mode: 'enforce',
  allow,
  limit: 10,
  remaining: 1,
  retryAfterMs: 0,
});

test('collection sampling - through the worker: at most K records per token-second, buckets and refunds exact', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-sampling-'));
  const data: CollectionWorkerData = {
    spoolDir: join(dir, 'spool'),
    spoolMaxBytes: 1 << 24,
    initOnUse: false,
  };
  const store = openCollectionWorker({ adapter: 'duckdb', options: { path: ':memory:' } }, data);
  try {
    await store.init();
    // The port's clock stands at the traffic's time: the counts of each second cross when it ends.
    const clock = new SimulatedClock(T0);
    const port = await CollectorPort.open(
      { worker: store, id: 'n1', clock, logger: { warn: () => undefined }, random: mulberry32(9) },
      {
        privacy: { keys: [{ id: 'k1', secret: 'collection-sampling-secret-0123' }], params: { op: 'keep' } },
        holidaysText: null,
        profiles: null,
        profileParam: 'user',
        eventHalfLifeMs: 60_000,
        source: 'sampling-test',
        graceMs: 2000,
        recordsPerTokenSecond: 3,
      },
      { tickMs: 3_600_000 }, // moved by hand below
    );
    const [tokens, seconds, perSecond] = [10, 3, 50];
    let denied = 0;
    let refunds = 0;
    for (let s = 0; s < seconds; s++) {
      for (let i = 0; i < perSecond; i++) {
        const atMs = T0 + s * 1000 + i * 20;
        for (let u = 0; u < tokens; u++) {
          const allow = (i + u) % 5 !== 0;
          const it: ObservedItem = {
            token: `per-user|user=u${u}` as TokenKey,
            cost: 1,
            params: { user: `u${u}`, op: 'read' },
            atMs,
            refundable: true,
          };
          port.decided(it, decision(allow), atMs);
          if (!allow) denied++;
          else if (i % 7 === 3) {
            port.refunded({ ...it }, atMs + 5);
            refunds++;
          }
        }
        clock.advance(20);
        port.flush();
      }
    }
    clock.advance(5000);
    const stats = await port.close();
    const n = tokens * seconds * perSecond;
    t.like(stats?.collector, {
      decided: n,
      records: tokens * seconds * 3,
      recordsSampledOut: n - tokens * seconds * 3,
      refunds,
      unmatchedRefunds: 0,
      lateRefunds: 0,
      errors: 0,
      held: 0,
    });
    const records = await store.records(T0, T0 + 60_000);
    t.is(records.length, tokens * seconds * 3);
    t.is(new Set(records.map((r) => r.id)).size, records.length, 'ids never repeat');
    let [requests, allowed, deniedInBuckets] = [0, 0, 0];
    for (const token of await store.activeTokens(T0, T0 + 60_000)) {
      for (const b of await store.tokenBuckets(token, T0, T0 + 60_000, 60_000)) {
        requests += b.requests;
        allowed += b.allowed;
        deniedInBuckets += b.denied;
      }
    }
    t.deepEqual([requests, allowed, deniedInBuckets], [n, n - denied - refunds, denied + refunds]);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
