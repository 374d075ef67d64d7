// The store on a worker thread: errors cross with their class and code, a
// closed or unreachable store fails the way the Batcher expects (it spools),
// and a process that holds an idle worker store still exits on its own,
// whether tsx came from --import or from tsx's register() (bin/headroom.js).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ErrorCode, InputError, SimulatedClock, StateError } from '../../lib/index.ts';
import { Batcher, createWorkerStore } from '../../store/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('store worker - bad options fail before a worker starts; bad reads are input errors', async (t) => {
  t.throws(() => createWorkerStore({ adapter: 'duckdb', options: { path: '' } }), {
    instanceOf: InputError,
  });
  const store = createWorkerStore({ adapter: 'duckdb', options: { path: ':memory:' } });
  try {
    await store.init();
    const err = await t.throwsAsync(store.tokenBuckets('t', T0, T0 + 1000, 1500), {
      instanceOf: InputError,
      message: 'stepMs must be a positive multiple of 1000, got 1500',
    });
    t.is(err.code, ErrorCode.InvalidField);
    t.is(err.field, 'stepMs');
    t.deepEqual(store.tables(), ['records', 'buckets', 'events', 'forecasts', 'decisions', 'token_links']);
  } finally {
    await store.close();
  }
  await store.close(); // idempotent
  await t.throwsAsync(store.records(T0, T0 + 1), { instanceOf: StateError, message: /closed/ });
});

test('store worker - a large batch is encoded in slices, yet inserts land in call order (a later replacing write wins)', async (t) => {
  const store = createWorkerStore({ adapter: 'duckdb', options: { path: ':memory:' } });
  try {
    await store.init();
    const row = (i: number, p50: number) => ({
      token: `k.${i}`,
      madeMs: T0,
      horizonMs: 5000,
      targetMs: T0 + 5000,
      p10: p50,
      p50,
      p90: p50,
      model: 'hybrid',
    });
    const big = [...Array(3000).keys()].map((i) => row(i, 1));
    // Not awaited in between: the small batch is encoded at once, the big one over several turns.
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const first = store.insertForecasts(big);
    const second = store.insertForecasts([row(7, 2)]);
    await Promise.all([first, second]);
    clearInterval(ticker);
    const got = await store.forecasts('k.7', T0, T0 + 10_000);
    t.deepEqual(
      got.map((r) => r.p50),
      [2],
    );
    t.is((await store.forecasts('k.2999', T0, T0 + 10_000)).length, 1);
    t.log(`timer turns while the batches were encoded and written: ${turns}`);
  } finally {
    await store.close();
  }
});

test('store worker - an unreachable ClickHouse fails inserts as StoreFailed and the batcher spools', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-worker-spool-'));
  const store = createWorkerStore({
    adapter: 'clickhouse',
    options: { url: 'http://127.0.0.1:9', requestTimeoutMs: 2000 },
  });
  const batcher = new Batcher(store, { spoolDir: dir, clock: new SimulatedClock(T0), maxRows: 10 });
  try {
    const err = await t.throwsAsync(
      store.insertDecisions([]).then(() => store.init()),
      {
        instanceOf: StateError,
      },
    );
    t.is(err.code, ErrorCode.StoreFailed);
    batcher.add('decisions', { id: 'd1', timeMs: T0, pool: 'db', kind: 'grant', amount: 1, detail: '{}' });
    await batcher.flush();
    t.like(batcher.stats(), { accepted: 1, inserted: 0, spooled: 1 });
    t.regex(batcher.stats().lastError ?? '', /clickhouse insert into decisions failed/);
  } finally {
    await batcher.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

const script = (register: boolean): string => `
${register ? "import { register } from 'tsx/esm/api'; register();" : ''}
const { createWorkerStore } = await import(${JSON.stringify(join(ROOT, 'store/index.ts'))});
const store = createWorkerStore({ adapter: 'duckdb', options: { path: ':memory:' } });
await store.init();
await store.insertEvents([{ id: 'e1', source: 's', topic: 'launch', timeMs: ${T0}, value: 2, tokens: [] }]);
const levels = await store.eventLevels(${T0}, ${T0 + 2000}, 1000);
console.log(JSON.stringify(levels.map((l) => l.count)));
// No close: an idle worker store must not keep the process alive.
`;

for (const [how, args, register] of [
  ['--import tsx', ['--import', 'tsx'], false],
  ["tsx's register()", [], true],
] as const) {
  test(`store worker - runs with ${how}, and an idle one lets the process exit`, (t) => {
    const r = spawnSync(process.execPath, [...args, '--input-type=module', '-e', script(register)], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout.trim(), '[1,0]');
  });
}
