// Privacy end to end: traffic with known user ids, e-mails and IPs goes
// through the anonymisation pipeline into both stores; a scan of every table
// finds none of the raw values. A key rotation keeps a token's series
// continuous in both stores.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import {
  createClickHouseStore,
  createDuckDbStore,
  type BucketRow,
  type RequestRecord,
  type TimeSeriesStore,
} from '../../store/index.ts';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
let server: ClickHouseServer | undefined;
const stores: Record<string, TimeSeriesStore> = {};

test.before(async () => {
  server = await startClickHouseServer();
  stores['duckdb'] = createDuckDbStore({ path: ':memory:' });
  stores['clickhouse'] = createClickHouseStore({ url: server.url, database: 'privacy' });
  for (const s of Object.values(stores)) await s.init();
});

test.after.always(async () => {
  for (const s of Object.values(stores)) await s.close();
  await server?.dispose();
});

const KEYS = [
  { id: 'k1', secret: 'first-secret-0123456789' },
  { id: 'k2', secret: 'second-secret-0123456789', activeFromMs: T0 + 5000 },
];

function pipeline(): PrivacyPipeline {
  return new PrivacyPipeline({
    keys: KEYS,
    overlapMs: 60_000,
    params: { op: 'keep', user: 'hash', ip: 'truncate' },
    profile: { tier: 'keep', email: 'hash', ageDays: { kind: 'generalise', bands: [30, 365] } },
    quasiIdentifiers: ['tier', 'ageDays'],
    k: 2,
    ipRegions: [{ prefix: '203.0.113.0/24', region: 'ap-south' }],
  });
}

/** Builds the records a token actor would emit, through the pipeline. */
function traffic(p: PrivacyPipeline, raws: string[]): { records: RequestRecord[]; buckets: BucketRow[] } {
  const records: RequestRecord[] = [];
  const buckets: BucketRow[] = [];
  for (let i = 0; i < 30; i++) {
    const user = `customer-${i % 6}`;
    const email = `${user}@mail.example.org`;
    const ip = i % 2 === 0 ? `203.0.113.${i + 10}` : `2001:db8:77:${i}::9`;
    raws.push(user, email, ip);
    const timeMs = T0 + i * 1000;
    const a = p.anonymise(
      {
        tokenKey: `user=${user}`,
        params: { op: 'read', user, ip, email },
        profile: { tier: 'gold', email, ageDays: i },
        ip,
      },
      timeMs,
    );
    records.push({
      id: p.hash(`req-${i}`, timeMs),
      timeMs,
      token: a.token,
      op: 'read',
      params: a.params,
      allow: true,
      ruleId: 'per-user',
      cost: 1,
      secondOfMinute: i % 60,
      minuteOfHour: 0,
      hourOfDay: 12,
      dayOfWeek: 5,
      dayOfYear: 324,
      holiday: false,
      profile: a.profile,
      ...(a.region === undefined ? {} : { region: a.region }),
      events: {},
    });
    buckets.push({
      token: a.token,
      resolution: '1s',
      startMs: timeMs,
      requests: 1,
      allowed: 1,
      denied: 0,
      cost: 1,
    });
  }
  return { records, buckets };
}

for (const name of ['duckdb', 'clickhouse']) {
  test.serial(`privacy scan (${name}) - no raw user id, e-mail or IP in any table`, async (t) => {
    const s = stores[name]!;
    const p = pipeline();
    const raws: string[] = [];
    const { records, buckets } = traffic(p, raws);
    await s.insertRecords(records);
    await s.insertBuckets(buckets);
    await s.insertEvents([
      { id: 'e1', source: 'news', topic: 'launch', timeMs: T0, value: 1, tokens: [records[0]!.token] },
    ]);
    const dump = await s.dumpAll();
    for (const table of s
      .tables()
      .filter((x) => x !== 'forecasts' && x !== 'decisions' && x !== 'token_links')) {
      t.true(dump.includes(`${table}\t`), `dump covers ${table}`);
    }
    // The server's own logs are scanned too.
    const logs =
      name === 'clickhouse'
        ? (
            await Promise.all(
              ['server.log', 'server.err.log'].map((f) =>
                readFile(join(server!.dir, f), 'utf8').catch(() => ''),
              ),
            )
          ).join('\n')
        : '';
    for (const raw of new Set(raws)) {
      t.false(dump.includes(raw), `${raw} found in ${name}`);
      t.false(logs.includes(raw), `${raw} found in ${name} logs`);
    }
    t.true(records.some((r) => r.region === 'ap-south'));
  });

  test.serial(
    `privacy rotation (${name}) - a token's series stays continuous across a key rotation`,
    async (t) => {
      const s = stores[name]!;
      const p = pipeline();
      const rows: BucketRow[] = [];
      const tokens = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const a = p.anonymise({ tokenKey: 'user=rotating' }, T0 + 100_000 + i * 1000);
        tokens.add(a.token);
        if (a.links.length > 0) await s.insertLinks(a.links);
        rows.push({
          token: a.token,
          resolution: '1s',
          startMs: T0 + 100_000 + i * 1000,
          requests: i + 1,
          allowed: i + 1,
          denied: 0,
          cost: 0,
        });
      }
      await s.insertBuckets(rows);
      // The rotation took effect at T0 + 5 s, so every hash here is already k2.
      t.is(tokens.size, 1);
      // Series written under the old key before the rotation, linked at first sight after it.
      const q = pipeline();
      const before = q.anonymise({ tokenKey: 'user=linked' }, T0 + 1000);
      const after = q.anonymise({ tokenKey: 'user=linked' }, T0 + 6000);
      t.not(before.token, after.token);
      t.deepEqual(after.links, [{ fromToken: before.token, toToken: after.token, timeMs: T0 + 6000 }]);
      await s.insertBuckets([
        {
          token: before.token,
          resolution: '1s',
          startMs: T0 + 1000,
          requests: 3,
          allowed: 3,
          denied: 0,
          cost: 0,
        },
        {
          token: after.token,
          resolution: '1s',
          startMs: T0 + 6000,
          requests: 4,
          allowed: 4,
          denied: 0,
          cost: 0,
        },
      ]);
      await s.insertLinks(after.links);
      const series = await s.tokenBuckets(after.token, T0, T0 + 8000, 1000);
      t.deepEqual(
        series.map((b) => b.requests),
        [0, 3, 0, 0, 0, 0, 4, 0],
      );
      t.true(
        (await s.activeTokens(T0, T0 + 2000)).includes(after.token),
        'the old hash is reported under its new name',
      );
    },
  );
}
