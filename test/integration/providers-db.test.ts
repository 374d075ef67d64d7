import anyTest from 'ava';
import type { TestFn } from 'ava';
import pg from 'pg';
import {
  ErrorCode,
  InputError,
  QuantilePolicy,
  SimulatedClock,
  horizonsForLead,
  leadSteps,
} from '../../lib/index.ts';
import { PoolManager } from '../../actors/index.ts';
import type { AllocationDecision } from '../../actors/index.ts';
import { DbProvider, compileDbProviderOptions } from '../../services/pools/index.ts';

// CI starts PostgreSQL on 127.0.0.1:5432 (trust auth); without one these
// tests fail with the message below rather than skip.
const PG = { host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres' };

const test = anyTest as TestFn<{ admin: pg.Client; providers: DbProvider[] }>;

test.before(async (t) => {
  const admin = new pg.Client({
    ...PG,
    application_name: 'headroom-test-admin',
    connectionTimeoutMillis: 3000,
  });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `providers-db needs PostgreSQL on ${PG.host}:${PG.port} (user ${PG.user}, trust auth): ${String(err)}`,
      { cause: err },
    );
  }
  t.context = { admin, providers: [] };
});

test.after.always(async (t) => {
  for (const p of t.context.providers ?? []) await p.close();
  await t.context.admin?.end();
});

let seq = 0;
function provider(
  t: { context: { providers: DbProvider[] } },
  extra: Record<string, unknown> = {},
): DbProvider {
  const name = `headroom-test-${process.pid}-${++seq}`;
  const p = new DbProvider(compileDbProviderOptions({ ...PG, applicationName: name, ...extra }));
  t.context.providers.push(p);
  return p;
}

async function serverCount(admin: pg.Client, p: DbProvider): Promise<number> {
  const r = await admin.query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
    [p.options.applicationName],
  );
  return Number(r.rows[0]!.n);
}

async function until(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('db provider - opens and warms connections ahead of demand, counted on the server', async (t) => {
  const p = provider(t);
  t.is(await serverCount(t.context.admin, p), 0);
  p.setUnits(5, Date.now());
  t.true(p.startingUnits(Date.now()) + p.readyUnits(Date.now()) === 5);
  await p.whenReady(10_000);
  t.is(p.readyUnits(Date.now()), 5);
  t.is(p.startingUnits(Date.now()), 0);
  // Open before any request borrowed one: the server already sees all five.
  t.is(await serverCount(t.context.admin, p), 5);
  const s = p.startup();
  t.is(s.count, 5);
  t.true(s.p90Ms !== null && s.p90Ms >= 0);
  t.log(`connection start-up: mean ${s.meanMs?.toFixed(1)} ms, p90 ${s.p90Ms} ms`);
  const r = await p.withConnection((c) => c.query<{ one: number }>('SELECT 1 AS one'));
  t.is(r.rows[0]!.one, 1);
  t.is(await serverCount(t.context.admin, p), 5, 'a borrow reuses a warm connection');
});

test('db provider - shrinks after the burst, closing connections on the server', async (t) => {
  const p = provider(t, { connectionsPerUnit: 2 });
  p.setUnits(3, Date.now());
  await p.whenReady(10_000);
  t.is(await serverCount(t.context.admin, p), 6);
  p.setUnits(1, Date.now());
  await until(async () => (await serverCount(t.context.admin, p)) === 2, 'two connections on the server');
  t.is(p.readyUnits(Date.now()), 1);
  // A borrowed connection above the target is closed when it comes back.
  p.setUnits(2, Date.now());
  await p.whenReady(10_000);
  let release!: () => void;
  const held = p.withConnection(() => new Promise<void>((r) => (release = r)));
  p.setUnits(0, Date.now());
  await until(async () => (await serverCount(t.context.admin, p)) === 1, 'only the borrowed connection');
  release();
  await held;
  await until(async () => (await serverCount(t.context.admin, p)) === 0, 'no connection');
  t.is(p.readyUnits(Date.now()), 0);
});

test('db provider - bad options list every problem in one error', (t) => {
  const err = t.throws(() => compileDbProviderOptions({ port: 0, connectionsPerUnit: -1, hots: 'x' }), {
    instanceOf: InputError,
  });
  t.is(err.code, ErrorCode.InvalidOptions);
  t.regex(err.message, /db\.port must be an integer from 1 to 65535, got 0/);
  t.regex(err.message, /db\.connectionsPerUnit must be an integer from 1 to 1000, got -1/);
  t.regex(err.message, /db\.hots is not a known option/);
  const p = provider(t);
  t.throws(() => p.setUnits(-2, 0), {
    instanceOf: InputError,
    message: 'units must be an integer >= 0, got -2',
  });
});

test('db provider - a server that does not answer is reported, not hidden', async (t) => {
  const errors: string[] = [];
  const p = new DbProvider(compileDbProviderOptions({ ...PG, port: 1, connectTimeoutMs: 1000 }), {
    onError: (e) => errors.push(e.message),
  });
  t.context.providers.push(p);
  p.setUnits(1, Date.now());
  await t.throwsAsync(p.whenReady(1500), { message: /0 of 1 connections open after 1500 ms/ });
  t.true(p.errors >= 1);
  t.regex(errors[0] ?? '', /cannot open a connection to 127\.0\.0\.1:1\/postgres/);
  p.setUnits(0, Date.now());
});

test('db provider - a pool manager opens the connections before a predicted burst', async (t) => {
  const db = provider(t);
  const count = (): Promise<number> => serverCount(t.context.admin, db);
  // Measure the start-up first: it sets the manager's lead time.
  db.setUnits(1, Date.now());
  await db.whenReady(10_000);
  const STEP = 1000;
  const lead = leadSteps(db.startup().p90Ms!, STEP);
  const horizons = horizonsForLead(lead);
  const clock = new SimulatedClock(0);
  const decisions: AllocationDecision[] = [];
  const pool = new PoolManager(
    {
      name: 'pg',
      unitCapacity: 10,
      minUnits: 1,
      maxUnits: 10,
      stepMs: STEP,
      leadSteps: lead,
      leaseTtlMs: 2 * STEP,
    },
    { clock, provider: db, policy: new QuantilePolicy(0.5), sink: (d) => decisions.push(d) },
  );
  // Requests per step: 8, a burst of 40 at steps 8-9, then 8 again; the forecast is exact.
  const BURST = 8;
  const demand = (s: number): number => (s === BURST || s === BURST + 1 ? 40 : 8);
  const onServer: number[] = [];
  for (let s = 0; s < 14; s++) {
    // Start of step s: what is open before any of its requests arrive.
    onServer[s] = await count();
    if (s === BURST) {
      // The burst borrows four connections at once: all already warm, none opened now.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const busy = Array.from({ length: 4 }, () => db.withConnection(() => gate));
      t.is(await count(), 4);
      release();
      await Promise.all(busy);
    }
    clock.set((s + 1) * STEP);
    const p50 = horizons.map((h) => demand(s + h));
    pool.want({ token: 'orders', priority: 1, wants: { horizons, p10: p50, p50, p90: p50 } });
    pool.tick({ step: s, demand: demand(s), served: demand(s), throttled: 0 });
    // The step passes (longer than the measured start-up): whatever was asked for opens.
    await db.whenReady(10_000);
  }
  t.log(`lead ${lead} step(s); connections at each step start: ${onServer.join(',')}`);
  t.is(onServer[BURST - 1 - lead - 1], 1, 'not opened too early');
  t.is(onServer[BURST], 4, 'open and warm when the burst arrives');
  t.is(onServer[BURST + 1], 4);
  t.is(onServer[13], 1, 'closed after the burst');
  const provision = decisions.find((d) => d.kind === 'provision');
  t.is(provision?.toUnits, 4);
  t.true(provision!.atMs <= (BURST - lead) * STEP, 'asked for a lead time ahead');
  t.deepEqual(provision!.forecast.horizons, horizons);
});
