// The HTTP API's defences and the rules' audit trail: malformed paths get
// coded 400s and the node keeps serving; a non-loopback host without token
// files is refused before any port opens; bearer tokens on loopback (read
// and admin); one audit line per rule change; rules.history over HTTP
// (embedded, file store) and over NATS (cluster, JetStream KV), including a
// bucket created before history was kept.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { compileNodeOptions, kvKeyOf, startNode } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, startNodeProcess, waitUntil } from '../helpers/node-process.ts';

interface Reply {
  status: number;
  json: any;
  headers: Headers;
}

async function call(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

/** The audit lines in a log, parsed, by revision (racing writes may log out of order). */
function auditLines(log: string): any[] {
  return log
    .split('\n')
    .filter((l) => l.includes('"audit":"rule"'))
    .map((l) => JSON.parse(l.slice(l.indexOf('{"audit"'))) as { revision: number })
    .sort((a, b) => a.revision - b.revision);
}

/** Revisions strictly increasing, times ISO-8601 and never going back. */
function assertOrdered(t: ExecutionContext, history: Array<{ revision: number; at: string }>): void {
  for (const [i, h] of history.entries()) {
    t.regex(h.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    if (i === 0) continue;
    const prev = history[i - 1]!;
    t.true(h.revision > prev.revision, `revision ${h.revision} after ${prev.revision}`);
    t.true(Date.parse(h.at) >= Date.parse(prev.at), `${h.at} after ${prev.at}`);
  }
}

const rule = (rate: number): Record<string, unknown> => ({
  id: 'per-user',
  key: ['user'],
  rate,
  period: '1m',
});
const LEAN = { store: 'none', forecast: false, trainer: false } as const;
const LEAN_ARGS = ['--store', 'none', '--forecast', 'false', '--trainer', 'false'];

test('http security - tokens on loopback, malformed paths, audit lines and rules.history (embedded)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-http-sec-'));
  const readToken = `read-${randomBytes(16).toString('hex')}`;
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  await writeFile(join(dir, 'read.token'), `${readToken}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'admin.token'), `${adminToken}\n`, { mode: 0o600 });
  const node = await startNodeProcess({
    nodeId: 'sec-solo',
    args: [
      ...['--data-dir', join(dir, 'data'), '--http-port', '0', ...LEAN_ARGS, '--log-level', 'info'],
      ...['--http-token-file', join(dir, 'read.token'), '--http-admin-token-file', join(dir, 'admin.token')],
    ],
  });
  try {
    const base = node.httpUrl!;
    t.regex(base, /^http:\/\/127\.0\.0\.1:\d+$/);

    // No token, a wrong one, a malformed header: 401 on every route, with a challenge.
    for (const [method, path] of [
      ['GET', '/v1/rules'],
      ['GET', '/v1/status'],
      ['POST', '/v1/rules'],
      ['DELETE', '/v1/rules/per-user'],
      ['GET', '/v1/nothing-here'],
    ] as const) {
      const none = await call(base, method, path);
      t.is(none.status, 401, `${method} ${path}`);
      t.like(none.json.error, { code: ErrorCode.Unauthorized, field: 'authorization' });
      t.is(none.headers.get('www-authenticate'), 'Bearer realm="headroom"');
      t.is((await call(base, method, path, `${readToken}x`)).status, 401);
    }
    const basic = await fetch(`${base}/v1/rules`, { headers: { authorization: `Basic ${readToken}` } });
    t.is(basic.status, 401);

    // The read token: reads yes, changes no (403), whatever the body.
    t.is((await call(base, 'GET', '/v1/rules', readToken)).status, 200);
    t.is((await call(base, 'GET', '/v1/status', readToken)).status, 200);
    for (const [method, path] of [
      ['POST', '/v1/rules'],
      ['PUT', '/v1/rules'],
      ['DELETE', '/v1/rules/per-user'],
      ['POST', '/v1/events'],
    ] as const) {
      const r = await call(base, method, path, readToken, rule(2));
      t.is(r.status, 403, `${method} ${path}`);
      t.like(r.json.error, { code: ErrorCode.Forbidden, field: 'authorization' });
    }
    t.deepEqual((await call(base, 'GET', '/v1/rules', readToken)).json.rules, []);

    // The admin token: changes, and reads too.
    t.is((await call(base, 'POST', '/v1/rules', adminToken, rule(2))).status, 200);
    t.is((await call(base, 'PUT', '/v1/rules', adminToken, rule(5))).status, 200);
    t.like((await call(base, 'GET', '/v1/rules/per-user', adminToken)).json.rule, { rate: 5 });
    t.like((await call(base, 'DELETE', '/v1/rules/per-user', adminToken)).json, { deleted: true });
    t.like((await call(base, 'DELETE', '/v1/rules/per-user', adminToken)).json, { deleted: false });
    t.is((await call(base, 'POST', '/v1/rules', adminToken, rule(7))).status, 200);
    // Writes that race each other still get one revision each.
    const racing = await Promise.all(
      [11, 12, 13, 14].map((rate) => call(base, 'PUT', '/v1/rules', adminToken, rule(rate))),
    );
    t.deepEqual(
      racing.map((r) => r.status),
      [200, 200, 200, 200],
    );

    // rules.history with the read token: every revision, oldest first.
    const h = await call(base, 'GET', '/v1/rules/per-user/history', readToken);
    t.is(h.status, 200);
    t.is(h.json.id, 'per-user');
    const history = h.json.history as Array<{ revision: number; op: string; at: string; rule?: any }>;
    t.deepEqual(
      history.map((e) => [e.revision, e.op]),
      [1, 2, 3, 4, 5, 6, 7, 8].map((rev) => [rev, rev === 3 ? 'delete' : 'put']),
    );
    t.deepEqual(
      history.slice(0, 4).map((e) => e.rule?.rate),
      [2, 5, undefined, 7],
    );
    t.deepEqual(
      history
        .slice(4)
        .map((e) => e.rule.rate)
        .sort(),
      [11, 12, 13, 14],
    );
    t.like(history[0]!.rule, { id: 'per-user', key: ['user'], period: '1m', burst: 2 });
    assertOrdered(t, history);
    const never = await call(base, 'GET', '/v1/rules/never-was/history', readToken);
    t.is(never.status, 404);
    t.like(never.json.error, { code: ErrorCode.NotFound, field: 'id' });

    // Malformed percent-encodings on every rule path: a coded 400 naming the field, never a crash.
    for (const raw of ['%ZZ', '%C0%AF', '%FF', '%', '%E0%A4%A', 'a%ZZb']) {
      for (const [method, tail] of [
        ['GET', ''],
        ['DELETE', ''],
        ['GET', '/history'],
      ] as const) {
        const r = await call(base, method, `/v1/rules/${raw}${tail}`, adminToken);
        t.is(r.status, 400, `${method} ${raw}${tail}`);
        t.like(r.json.error, { code: ErrorCode.InvalidField, field: 'id', retryable: false });
      }
      // Without a token the path is not even looked at.
      t.is((await call(base, 'GET', `/v1/rules/${raw}`)).status, 401);
    }
    // Still serving, in the same process.
    t.is(node.child.exitCode, null);
    t.like((await call(base, 'GET', '/v1/rules/per-user', readToken)).json.rule, { id: 'per-user' });
    t.is((await call(base, 'POST', '/v1/check', readToken, { params: { user: 'u1' } })).status, 200);

    // One audit line per change (the refused and the no-op delete wrote none), chained by revision.
    await waitUntil(() => auditLines(node.output()).length >= 8, 5000, 'eight audit lines');
    const audit = auditLines(node.output());
    t.is(audit.length, 8);
    t.deepEqual(audit.slice(0, 4), [
      {
        audit: 'rule',
        op: 'put',
        id: 'per-user',
        previousRevision: null,
        revision: 1,
        node: 'sec-solo',
        event: 'rule-change',
      },
      {
        audit: 'rule',
        op: 'put',
        id: 'per-user',
        previousRevision: 1,
        revision: 2,
        node: 'sec-solo',
        event: 'rule-change',
      },
      {
        audit: 'rule',
        op: 'delete',
        id: 'per-user',
        previousRevision: 2,
        revision: 3,
        node: 'sec-solo',
        event: 'rule-change',
      },
      {
        audit: 'rule',
        op: 'put',
        id: 'per-user',
        previousRevision: 3,
        revision: 4,
        node: 'sec-solo',
        event: 'rule-change',
      },
    ]);
    t.deepEqual(
      audit.slice(4).map((a) => [a.previousRevision, a.revision]),
      [
        [4, 5],
        [5, 6],
        [6, 7],
        [7, 8],
      ],
    );
    // Tokens never reach the log.
    t.false(node.output().includes(readToken));
    t.false(node.output().includes(adminToken));

    // The history is kept in the data dir, beside the rules.
    const file = JSON.parse(await readFile(join(dir, 'data', 'rules.json'), 'utf8'));
    t.is(file.version, 2);
    t.is(file.history['per-user'].length, 8);
  } finally {
    t.is(await node.stop('SIGTERM'), 0, node.output());
    await rm(dir, { recursive: true, force: true });
  }
});

test('http security - a non-loopback host without both token files is refused before anything listens', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-http-sec-'));
  try {
    const token = join(dir, 'read.token');
    await writeFile(token, 'some-read-token\n');
    const start = (flags: Record<string, unknown>): Promise<unknown> =>
      startNode(
        compileNodeOptions(
          undefined,
          {},
          {
            nodeId: 'sec-refused',
            dataDir: join(dir, 'data'),
            httpPort: 0,
            logLevel: 'error',
            ...LEAN,
            ...flags,
          },
        ),
      );
    const neither = await t.throwsAsync(start({ httpHost: '0.0.0.0' }), {
      instanceOf: InputError,
      message:
        /options\.httpTokenFile \(--http-token-file\) and options\.httpAdminTokenFile .* required when options\.httpHost is not loopback .*"0\.0\.0\.0"/,
    });
    t.is(neither.code, ErrorCode.InvalidOptions);
    t.is(neither.field, 'options.httpTokenFile');
    const noAdmin = await t.throwsAsync(start({ httpHost: '::', httpTokenFile: token }), {
      instanceOf: InputError,
      message: /options\.httpAdminTokenFile \(--http-admin-token-file\) is required/,
    });
    t.is(noAdmin.field, 'options.httpAdminTokenFile');

    // Bad token files are refused too, on any host, naming the option and never the content.
    await writeFile(join(dir, 'empty.token'), '\n');
    const empty = await t.throwsAsync(start({ httpTokenFile: join(dir, 'empty.token') }), {
      instanceOf: InputError,
      message: /options\.httpTokenFile names an empty token file/,
    });
    t.is(empty.code, ErrorCode.InvalidOptions);
    await t.throwsAsync(start({ httpTokenFile: token, httpAdminTokenFile: token }), {
      instanceOf: InputError,
      message: /options\.httpAdminTokenFile must hold a different token/,
    });
    const missing = await t.throwsAsync(start({ httpAdminTokenFile: join(dir, 'nope.token') }), {
      instanceOf: InputError,
      message: /options\.httpAdminTokenFile names a file that cannot be read \(ENOENT\)/,
    });
    t.false(missing.message.includes('some-read-token'));

    // The command refuses the same way, with the coded error on stderr and a non-zero exit.
    const refused = await startNodeProcess({
      nodeId: 'sec-refused-cli',
      args: ['--data-dir', join(dir, 'data'), '--http-port', '0', '--http-host', '0.0.0.0', ...LEAN_ARGS],
    }).catch((err: Error) => err);
    t.true(refused instanceof Error);
    t.regex((refused as Error).message, /exited with 2 before ready/);
    // The CLI's one error line: the code, then a message naming both options.
    t.regex(
      (refused as Error).message,
      /headroom: HEADROOM_ERR_INVALID_OPTIONS: options\.httpTokenFile \(--http-token-file\) and options\.httpAdminTokenFile/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('http security - rules.history over NATS keeps revisions of a bucket created with history 1, audited per change', async (t) => {
  const nats = await startNatsServer();
  const nc = await client(nats.url);
  const bucket = 'sec_rules';
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-sec-kv-'));
  let node: Awaited<ReturnType<typeof startNode>> | undefined;
  try {
    // A bucket from before history was kept: one revision per key, holding one rule.
    const old = await nc.jetstream().views.kv(bucket, { history: 1 });
    const first = await old.put(kvKeyOf('per-user'), JSON.stringify({ ...rule(1), match: {}, burst: 1 }));
    node = await startNode(
      compileNodeOptions(
        undefined,
        {},
        {
          natsUrl: nats.url,
          nodeId: 'sec-kv',
          rulesBucket: bucket,
          dataDir,
          logLevel: 'error',
          ...LEAN,
        },
      ),
    );
    const jsm = await nc.jetstreamManager();
    t.is((await jsm.streams.info(`KV_${bucket}`)).config.max_msgs_per_subject, 64);

    // The broker's logger at info, as the node writes the audit lines.
    const logged: string[] = [];
    node.broker.logger.info = (...args: unknown[]) => void logged.push(args.map(String).join(' '));

    t.like(await request(nc, 'headroom.v1.rules.put', rule(2)), { rule: { rate: 2 } });
    t.like(await request(nc, 'headroom.v1.rules.delete', { id: 'per-user' }), { deleted: true });
    t.like(await request(nc, 'headroom.v1.rules.delete', { id: 'per-user' }), { deleted: false });
    // Concurrent puts of one key: compare-and-set gives each its own revision.
    const racing = await Promise.all(
      [3, 4, 5].map((rate) => request(nc, 'headroom.v1.rules.put', rule(rate))),
    );
    t.true(racing.every((r) => r.rule !== undefined));

    const reply = await request(nc, 'headroom.v1.rules.history', { id: 'per-user' });
    t.is(reply.id, 'per-user');
    const history = reply.history as Array<{ revision: number; op: string; at: string; rule?: any }>;
    t.deepEqual(
      history.map((e) => e.op),
      ['put', 'put', 'delete', 'put', 'put', 'put'],
    );
    t.is(history[0]!.revision, first);
    t.deepEqual(
      history.slice(0, 3).map((e) => e.rule?.rate),
      [1, 2, undefined],
    );
    t.deepEqual(
      history
        .slice(3)
        .map((e) => e.rule.rate)
        .sort(),
      [3, 4, 5],
    );
    assertOrdered(t, history);

    // One audit line per change, with the KV revisions, each naming the one it replaced.
    const audit = auditLines(logged.join('\n'));
    t.is(audit.length, 5);
    t.deepEqual(
      audit.map((a) => [a.op, a.id, a.node]),
      [['put'], ['delete'], ['put'], ['put'], ['put']].map(([op]) => [op, 'per-user', 'sec-kv']),
    );
    t.deepEqual(
      audit.map((a) => [a.previousRevision, a.revision]),
      history.slice(1).map((e, i) => [history[i]!.revision, e.revision]),
    );

    // Bad ids and unknown ids: coded errors.
    t.like(await request(nc, 'headroom.v1.rules.history', { id: 'never-was' }), {
      error: { code: ErrorCode.NotFound, field: 'id' },
    });
    t.like(await request(nc, 'headroom.v1.rules.history', {}), {
      error: { code: ErrorCode.MissingField, field: 'id' },
    });
    t.like(await request(nc, 'headroom.v1.rules.history', { id: 'x'.repeat(5000) }), {
      error: { code: ErrorCode.InvalidField, field: 'id' },
    });
    t.like(await request(nc, 'headroom.v1.rules.history', { id: 'per-user', extra: 1 }), {
      error: { code: ErrorCode.UnknownField },
    });
  } finally {
    await node?.stop();
    await nc.close();
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
