// `headroom call` as a user runs it (`node bin/headroom.js call ...`) against a
// real nats-server and one real node: every operation's reply on stdout, an
// error reply as one coded line and exit 1, an unknown operation exit 2, no
// server or no node exit 3 at once, and, on a nats-server started with
// ops/nats/secure.conf, the server's permission violation for the client role
// as HEADROOM_ERR_FORBIDDEN and exit 4.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { Operation } from '../../services/index.ts';
import { freePort, startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { BIN, client, request, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

const SECURE_CONF = fileURLToPath(new URL('../../ops/nats/secure.conf', import.meta.url));

interface Ctx {
  nats: NatsServer;
  node: NodeProcess;
  nc: NatsConnection;
  dir: string;
}
const test = anyTest as TestFn<Ctx>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `headroom call ...` in a child process with `env` added. */
async function call(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const t0 = performance.now();
  return await new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'call', ...args],
      { timeout: 60_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr, ms: performance.now() - t0 });
      },
    );
  });
}

/** How many `headroom call` processes {@link callEach} runs at once (two cores, some I/O in each start). */
const CALLS_AT_ONCE = 4;

/** Runs `headroom call` once per argument list, CALLS_AT_ONCE at a time; the runs in the lists' order. */
async function callEach(argLists: readonly string[][]): Promise<Run[]> {
  const runs: Run[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < argLists.length; i = next++) runs[i] = await call(argLists[i]!);
  };
  await Promise.all(Array.from({ length: CALLS_AT_ONCE }, worker));
  return runs;
}

test.before(async (t) => {
  t.context.dir = await mkdtemp(join(tmpdir(), 'headroom-cli-call-'));
  t.context.nats = await startNatsServer();
  // DuckDB store (the default): events.publish and events.list need one.
  t.context.node = await startNodeProcess({
    nodeId: 'call-1',
    args: ['--nats', t.context.nats.url, '--data-dir', t.context.dir, '--forecast', 'false'],
  });
  t.context.nc = await client(t.context.nats.url);
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.node?.stop('SIGKILL');
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

test.serial('cli call - rules.put twice, then rules.history lists both revisions', async (t) => {
  const url = t.context.nats.url;
  const rule = { id: 'cli-rule', key: ['user'], rate: 10, period: '1s' };
  for (const rate of [10, 20]) {
    const r = await call(['rules.put', JSON.stringify({ ...rule, rate }), '--nats', url]);
    t.is(r.code, 0, r.stderr);
    t.is(JSON.parse(r.stdout).rule.rate, rate, r.stdout);
  }
  const h = await call(['rules.history', '{"id":"cli-rule"}', '--nats', url]);
  t.is(h.code, 0, h.stderr);
  const reply = JSON.parse(h.stdout) as {
    id: string;
    history: Array<{ revision: number; op: string; rule?: { rate: number } }>;
  };
  t.is(reply.id, 'cli-rule');
  const byRevision = [...reply.history].sort((a, b) => a.revision - b.revision);
  t.deepEqual(
    byRevision.map((e) => [e.op, e.rule?.rate]),
    [
      ['put', 10],
      ['put', 20],
    ],
    h.stdout,
  );
});

test.serial('cli call - events.publish, then events.list returns the event', async (t) => {
  const url = t.context.nats.url;
  const topic = `deploy-${randomBytes(4).toString('hex')}`;
  const time = new Date(Date.now() - 1000).toISOString();
  const pub = await call([
    'events.publish',
    JSON.stringify({ source: 'ci', topic, time, value: 3 }),
    '--nats',
    url,
  ]);
  t.is(pub.code, 0, pub.stderr);
  t.regex(JSON.parse(pub.stdout).id, /^[0-9a-f]{32}$/);
  const query = {
    from: new Date(Date.now() - 60_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
    topic,
  };
  // The event reaches the store through the collector's batch: wait for it, then ask as a user.
  await waitUntil(
    async () => (await request(t.context.nc, 'headroom.v1.events.list', query)).events?.length === 1,
    15_000,
    'the event in the store',
  );
  const list = await call(['events.list', JSON.stringify(query), '--nats', url]);
  t.is(list.code, 0, list.stderr);
  const events = JSON.parse(list.stdout).events as Array<{ topic: string; value: number; source: string }>;
  t.is(events.length, 1, list.stdout);
  t.like(events[0], { topic, value: 3, source: 'ci' });
});

test.serial('cli call - an error reply prints the reply and one coded line, exit 1', async (t) => {
  const r = await call(['rules.get', '{"id":"no-such-rule"}', '--nats', t.context.nats.url]);
  t.is(r.code, 1);
  t.is(JSON.parse(r.stdout).error.code, 'HEADROOM_ERR_NOT_FOUND');
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, /^headroom: HEADROOM_ERR_NOT_FOUND: .*"no-such-rule"/);
});

test.serial('cli call - every operation is reachable; an unknown one exits 2 listing them', async (t) => {
  const url = t.context.nats.url;
  // status takes {}; each other operation answers {} with its own validation error (exit 1), not a usage error.
  // The 17 processes run CALLS_AT_ONCE at a time: each spends ~1.5 s of CPU loading the CLI, and one
  // by one they were most of this file's time.
  const runs = await callEach([...Operation, 'rules.frob'].map((op) => [op, '--nats', url]));
  for (const [i, op] of Operation.entries()) {
    const r = runs[i]!;
    t.true(r.code === 0 || r.code === 1, `${op}: ${r.code} ${r.stderr}`);
    const reply = JSON.parse(r.stdout) as { error?: { code: string } };
    t.not(reply.error?.code, 'HEADROOM_ERR_INTERNAL', `${op}: ${r.stdout}`);
  }
  const bad = runs[Operation.length]!;
  t.is(bad.code, 2);
  t.regex(
    bad.stderr,
    /^headroom: HEADROOM_ERR_INVALID_OPTIONS: OP must be one of check, .*events\.list.*, got "rules\.frob"/,
  );
});

test.serial('cli call - no server, or no node on the server, exits 3 at once', async (t) => {
  const port = await freePort();
  const none = await call(['status', '--nats', `nats://127.0.0.1:${port}`]);
  t.is(none.code, 3, none.stderr);
  t.regex(none.stderr, /^headroom: HEADROOM_ERR_UNAVAILABLE: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+/);
  t.true(none.ms < 10_000, `${none.ms} ms`);
  const empty = await startNatsServer();
  t.teardown(() => empty.stop());
  const nobody = await call(['status', '--nats', empty.url, '--timeout', '20s']);
  t.is(nobody.code, 3, nobody.stderr);
  t.regex(
    nobody.stderr,
    /^headroom: HEADROOM_ERR_UNAVAILABLE: no Headroom node answers headroom\.v1\.status/,
  );
  // No responders is known at once, long before the 20 s timeout.
  t.true(nobody.ms < 10_000, `${nobody.ms} ms`);
});

test.serial(
  'cli call - on a secure cluster, rules.put as client is refused by the server: exit 4',
  async (t) => {
    const pw = (): string => `hr${randomBytes(24).toString('hex')}`;
    const passwords = { node: pw(), admin: pw(), client: pw() };
    const secure = await startNatsServer({
      config: SECURE_CONF,
      env: {
        HEADROOM_NODE_PASSWORD: passwords.node,
        HEADROOM_ADMIN_PASSWORD: passwords.admin,
        HEADROOM_CLIENT_PASSWORD: passwords.client,
      },
    });
    t.teardown(() => secure.stop());
    const rule = JSON.stringify({ id: 'sec', key: ['user'], rate: 1, period: '1s' });
    const asClient = { HEADROOM_NATS_USER: 'client', HEADROOM_NATS_PASSWORD: passwords.client };
    const asAdmin = { HEADROOM_NATS_USER: 'admin', HEADROOM_NATS_PASSWORD: passwords.admin };
    // Three independent processes, run side by side.
    const [r, admin, status] = await Promise.all([
      call(['rules.put', rule, '--nats', secure.url], asClient),
      call(['rules.put', rule, '--nats', secure.url], asAdmin),
      call(['status', '--nats', secure.url], asClient),
    ]);
    t.is(r.code, 4, r.stderr);
    t.is(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, r.stderr);
    t.regex(
      lines[0]!,
      /^headroom: HEADROOM_ERR_FORBIDDEN: the NATS server refused NATS user "client": permissions violation for publish/,
    );
    t.true(lines[0]!.includes('"headroom.v1.rules.put"'), lines[0]);
    t.regex(lines[0]!, /admin role may call every operation/);
    // The same put as admin passes the server's check (and, with no node here, finds nobody: exit 3).
    t.is(admin.code, 3, admin.stderr);
    t.regex(admin.stderr, /HEADROOM_ERR_UNAVAILABLE: no Headroom node answers headroom\.v1\.rules\.put/);
    // A client may read: status reaches the server's allow list (no node: exit 3, not 4).
    t.is(status.code, 3, status.stderr);
  },
);
