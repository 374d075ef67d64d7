// `headroom loadgen` against one real node on a real nats-server: a small
// per-second trace written here is played over HTTP (in-process, runLoadgen)
// and over NATS (the command as a user runs it). The rule is a per-minute
// quota, so what it allows does not hang on the machine's timing: its burst
// (20) is allowed, the rest of the run adds at most one more.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { InputError, parseTrace } from '../../lib/index.ts';
import { runLoadgen, stepCounts } from '../../cli/index.ts';
import type { LoadgenResult } from '../../cli/index.ts';
import { compileNatsConnect, natsAuthFromEnv } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { BIN, client, putRuleEverywhere, startNodeProcess } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

interface Ctx {
  nats: NatsServer;
  node: NodeProcess;
  nc: NatsConnection;
  dir: string;
  traceFile: string;
}
const test = anyTest as TestFn<Ctx>;

/** Requests per second of the trace: under the quota, then across it. */
const COUNTS = [5, 10, 30, 5];
const QUOTA = 20;

function traceCsv(counts: readonly number[]): string {
  const rows = counts.map((n, i) => `2024-01-01 00:00:${String(i).padStart(2, '0')},${n}`);
  return `timestamp,value\n${rows.join('\n')}\n`;
}

test.before(async (t) => {
  t.context.dir = await mkdtemp(join(tmpdir(), 'headroom-loadgen-'));
  t.context.traceFile = join(t.context.dir, 'trace.csv');
  await writeFile(t.context.traceFile, traceCsv(COUNTS));
  t.context.nats = await startNatsServer();
  t.context.node = await startNodeProcess({
    nodeId: 'loadgen-1',
    args: [
      '--nats',
      t.context.nats.url,
      '--data-dir',
      t.context.dir,
      '--http-port',
      '0',
      '--forecast',
      'false',
    ],
  });
  t.context.nc = await client(t.context.nats.url);
  await putRuleEverywhere(t.context.nc, { id: 'quota', key: ['user'], rate: QUOTA, period: '1m' });
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.node?.stop('SIGKILL');
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

/**
 * The figures every run must show, `scale` times the trace: every step's
 * count sent and answered, the burst allowed, then denials once it is spent.
 */
function assertQuota(t: ExecutionContext<Ctx>, r: LoadgenResult, scale: number): void {
  const expected = stepCounts(COUNTS, scale);
  t.is(r.sent, Math.round(COUNTS.reduce((a, b) => a + b, 0) * scale));
  t.deepEqual(
    r.steps.map((s) => [s.t, s.sent]),
    expected.map((n, i) => [i, n]),
  );
  t.is(r.errors, 0);
  t.is(r.allowed + r.denied, r.sent);
  for (const s of r.steps) t.is(s.allowed + s.denied + s.errors, s.sent, `step ${s.t}`);
  // The quota's burst is allowed whatever the timing; its refill over a run of seconds adds at most one.
  t.true(r.allowed >= QUOTA && r.allowed <= QUOTA + 1, `allowed ${r.allowed}`);
  let before = 0;
  let allowedAfter = 0;
  for (const s of r.steps) {
    // Steps wholly inside the burst: nothing denied. Steps after it: at most the refill's one.
    if (before + s.sent <= QUOTA) t.is(s.denied, 0, `step ${s.t} is inside the burst`);
    if (before >= QUOTA) allowedAfter += s.allowed;
    before += s.sent;
  }
  t.true(allowedAfter <= 1, `${allowedAfter} allowed after the burst`);
  t.true(r.steps.some((s) => s.denied > 0));
}

test.serial(
  'loadgen - over HTTP, in-process: every step sent at the trace rate, the quota enforced',
  async (t) => {
    const trace = parseTrace(traceCsv(COUNTS));
    const r = await runLoadgen({
      trace,
      target: { kind: 'http', url: t.context.node.httpUrl! },
      params: { user: 'http-user' },
      speedup: 2,
    });
    assertQuota(t, r, 1);
    // Four trace seconds at speedup 2 take two real seconds (a loaded machine may take longer).
    t.true(r.seconds >= 1.9, `${r.seconds} s`);
  },
);

test.serial('loadgen - over NATS, the command with --scale --json prints the same figures', async (t) => {
  const scale = 1.5;
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        BIN,
        'loadgen',
        '--trace',
        t.context.traceFile,
        '--nats',
        t.context.nats.url,
        '--params',
        '{"user":"nats-user"}',
        '--speedup',
        '4',
        '--scale',
        String(scale),
        '--json',
      ],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
  t.is(r.code, 0, r.stderr);
  assertQuota(t, JSON.parse(r.stdout) as LoadgenResult, scale);
});

test.serial(
  'loadgen - a slice with --from/--steps plays only those steps, at their trace time',
  async (t) => {
    const r = await runLoadgen({
      trace: parseTrace(traceCsv(COUNTS)),
      target: { kind: 'nats', spec: compileNatsConnect(t.context.nats.url, natsAuthFromEnv({})) },
      params: { user: 'slice-user' },
      speedup: 4,
      from: 1,
      steps: 2,
    });
    t.deepEqual(
      r.steps.map((s) => [s.t, s.sent]),
      [
        [1, 10],
        [2, 30],
      ],
    );
    t.true(r.allowed >= QUOTA && r.allowed <= QUOTA + 1, `allowed ${r.allowed}`);
  },
);

test.serial('loadgen - an abort stops sending and returns the steps begun', async (t) => {
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 300);
  const r = await runLoadgen(
    {
      trace: parseTrace(traceCsv(COUNTS)),
      target: { kind: 'http', url: t.context.node.httpUrl! },
      params: { user: 'abort-user' },
    },
    { signal: stop.signal },
  );
  // A trace of four seconds at speedup 1, stopped within the first one.
  t.true(r.steps.length >= 1 && r.steps.length <= 2, `${r.steps.length} steps`);
  t.true(r.sent < COUNTS.reduce((a, b) => a + b, 0));
  t.is(r.errors, 0);
});

test('loadgen - bad options are refused naming the flag', async (t) => {
  const trace = parseTrace(traceCsv(COUNTS));
  const target = { kind: 'http', url: 'http://127.0.0.1:1' } as const;
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ speedup: 0 }, '--speedup'],
    [{ scale: -1 }, '--scale'],
    [{ from: 4 }, '--from'],
    [{ steps: 0 }, '--steps'],
    [{ from: 2, steps: 3 }, '--steps'],
    [{ concurrency: 1.5 }, '--concurrency'],
    [{ token: 'nope' }, '--token'],
    [{ params: { user: [1] } }, '--params.user'],
  ];
  for (const [bad, field] of cases) {
    const err = await t.throwsAsync(runLoadgen({ trace, target, ...bad }), { instanceOf: InputError });
    t.is(err?.field, field, JSON.stringify(bad));
  }
});
