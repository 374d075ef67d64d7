// `headroom start` with no NATS: local transporter, rules in a file under the
// data folder, the API over HTTP on loopback; rules survive a restart.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startNodeProcess } from '../helpers/node-process.ts';

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

test('embedded - HTTP API checks, keeps rules in a file, and keeps them across a restart', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-embedded-'));
  let node = await startNodeProcess({ nodeId: 'solo', args: ['--data-dir', dataDir, '--http-port', '0'] });
  try {
    const base = node.httpUrl!;
    t.regex(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const put = await call(base, 'POST', '/v1/rules', {
      id: 'per-user',
      key: ['user'],
      rate: 2,
      period: '1m',
    });
    t.is(put.status, 200);
    t.like(put.json.rule, { id: 'per-user', rate: 2, burst: 2, mode: 'enforce', priority: 0 });
    const results = [];
    for (let i = 0; i < 3; i++)
      results.push((await call(base, 'POST', '/v1/check', { params: { user: 'u1' } })).json);
    t.deepEqual(
      results.map((r) => r.allow),
      [true, true, false],
    );
    t.like(results[2], { rule: 'per-user', limit: 2, remaining: 0 });
    t.true(results[2].retryAfterMs > 25_000 && results[2].retryAfterMs <= 30_000);

    const batch = await call(base, 'POST', '/v1/check/batch', {
      requests: [{ params: { user: 'u2' } }, { params: { user: 'u2' }, cost: 2 }],
    });
    t.deepEqual(
      batch.json.results.map((r: { allow: boolean }) => r.allow),
      [true, false],
    );

    t.is((await call(base, 'GET', '/v1/rules/nope')).status, 404);
    t.is((await call(base, 'POST', '/v1/check', '{oops')).status, 400);
    t.like((await call(base, 'GET', '/v1/status')).json, { nodes: [{ id: 'solo', actors: 2 }] });

    const file = JSON.parse(await readFile(join(dataDir, 'rules.json'), 'utf8'));
    t.deepEqual(
      file.rules.map((r: { id: string }) => r.id),
      ['per-user'],
    );

    t.is(await node.stop('SIGTERM'), 0);
    node = await startNodeProcess({ nodeId: 'solo', args: ['--data-dir', dataDir, '--http-port', '0'] });
    const listed = await call(node.httpUrl!, 'GET', '/v1/rules');
    t.deepEqual(
      listed.json.rules.map((r: { id: string }) => r.id),
      ['per-user'],
    );
    t.like((await call(node.httpUrl!, 'DELETE', '/v1/rules/per-user')).json, { deleted: true });
    t.deepEqual((await call(node.httpUrl!, 'GET', '/v1/rules')).json.rules, []);
  } finally {
    await node.stop('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('embedded - unknown flags and bad option values are refused with a clear error', async (t) => {
  const bad = await startNodeProcess({ nodeId: 'x', args: ['--http-prot', '1'] }).catch((err: Error) => err);
  t.true(bad instanceof Error);
  t.regex((bad as Error).message, /unknown option "--http-prot"/);
  const badValue = await startNodeProcess({ nodeId: 'x', args: ['--http-port', 'eighty'] }).catch(
    (err: Error) => err,
  );
  t.regex((badValue as Error).message, /options\.httpPort must be an integer from 0 to 65535, got "eighty"/);
  const badEnv = await startNodeProcess({ nodeId: 'x', env: { HEADROOM_MAX_ACTORS: '-5' } }).catch(
    (err: Error) => err,
  );
  t.regex((badEnv as Error).message, /options\.maxActors must be an integer/);
});

test('embedded - HEAD answers like GET without a body; a method a path does not take gets 405 with Allow', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-embedded-'));
  const node = await startNodeProcess({
    nodeId: 'methods',
    args: ['--data-dir', dataDir, '--http-port', '0', '--store', 'none', '--forecast', 'false'],
  });
  try {
    const base = node.httpUrl!;
    const get = await fetch(`${base}/v1/status`);
    const getText = await get.text();
    const head = await fetch(`${base}/v1/status`, { method: 'HEAD' });
    t.is(head.status, 200);
    t.is(await head.text(), '');
    t.is(head.headers.get('content-type'), 'application/json');
    t.true(Number(head.headers.get('content-length')) > 0);
    t.is(get.status, 200, getText);
    for (const [method, path, allow] of [
      ['DELETE', '/v1/status', 'GET, HEAD'],
      ['GET', '/v1/check', 'POST'],
      ['PUT', '/v1/check/batch', 'POST'],
      ['POST', '/v1/rules/some-rule', 'GET, DELETE, HEAD'],
      ['DELETE', '/v1/rules/some-rule/history', 'GET, HEAD'],
      ['PATCH', '/v1/rules', 'POST, PUT, GET, HEAD'],
    ] as const) {
      const r = await call(base, method, path);
      t.is(r.status, 405, `${method} ${path}`);
      t.like(r.json.error, { code: 'HEADROOM_ERR_INVALID_FIELD', field: 'method' });
      const res = await fetch(`${base}${path}`, { method });
      t.is(res.headers.get('allow'), allow, `${method} ${path}`);
    }
    const missing = await call(base, 'GET', '/v1/nothing-here');
    t.is(missing.status, 404);
    t.like(missing.json.error, { code: 'HEADROOM_ERR_NOT_FOUND', field: 'path' });
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
