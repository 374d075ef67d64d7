import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode } from '../../lib/index.ts';
import { HttpAuth, isLoopbackHost } from '../../services/index.ts';

test('http auth - loopback is 127.0.0.0/8, ::1 and localhost, nothing else', (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) {
    t.true(isLoopbackHost(h), h);
  }
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com', '']) {
    t.false(isLoopbackHost(h), h);
  }
});

async function withTokens(
  files: Record<string, string>,
  fn: (path: (name: string) => string) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-http-auth-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await fn((name) => join(dir, name));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('http auth - read token on reads, admin token everywhere, read token forbidden on changes', async (t) => {
  await withTokens({ r: 'read-tok\n', a: 'admin-tok\r\n' }, async (p) => {
    const auth = await HttpAuth.load({
      httpHost: '127.0.0.1',
      httpTokenFile: p('r'),
      httpAdminTokenFile: p('a'),
    });
    t.true(auth.enabled);
    t.is(auth.check('Bearer read-tok', false, 'GET /v1/rules'), undefined);
    t.is(auth.check('bearer   admin-tok', false, 'GET /v1/rules'), undefined);
    t.is(auth.check('Bearer admin-tok', true, 'POST /v1/rules'), undefined);
    t.is(auth.check('Bearer read-tok', true, 'POST /v1/rules')?.code, ErrorCode.Forbidden);
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer read-tok\n',
      'Bearer read-to',
      'Basic read-tok',
      'read-tok',
    ]) {
      const err = auth.check(header, false, 'GET /v1/rules');
      t.is(err?.code, ErrorCode.Unauthorized, String(header));
      t.is(err?.field, 'authorization');
      t.false(err!.message.includes('read-tok'));
    }
  });
});

test('http auth - one token file on loopback guards what it names, no file leaves loopback open', async (t) => {
  await withTokens({ r: 'read-tok', a: 'admin-tok' }, async (p) => {
    const readOnly = await HttpAuth.load({
      httpHost: 'localhost',
      httpTokenFile: p('r'),
      httpAdminTokenFile: null,
    });
    t.is(readOnly.check(undefined, false, 'x')?.code, ErrorCode.Unauthorized);
    t.is(readOnly.check('Bearer read-tok', true, 'x'), undefined);
    const adminOnly = await HttpAuth.load({
      httpHost: '::1',
      httpTokenFile: null,
      httpAdminTokenFile: p('a'),
    });
    t.is(adminOnly.check(undefined, false, 'x'), undefined);
    t.is(adminOnly.check(undefined, true, 'x')?.code, ErrorCode.Unauthorized);
    t.is(adminOnly.check('Bearer admin-tok', true, 'x'), undefined);
    const open = await HttpAuth.load({
      httpHost: '127.0.0.1',
      httpTokenFile: null,
      httpAdminTokenFile: null,
    });
    t.false(open.enabled);
    t.is(open.check(undefined, true, 'x'), undefined);
  });
});

test('http auth - bad token files are refused naming the option, never echoing the token', async (t) => {
  await withTokens({ r: 'read-tok', sp: 'two words\n', e: '' }, async (p) => {
    const opts = { httpHost: '127.0.0.1', httpTokenFile: null, httpAdminTokenFile: null };
    await t.throwsAsync(HttpAuth.load({ ...opts, httpTokenFile: p('e') }), {
      message: /^options\.httpTokenFile names an empty token file/,
    });
    const spaced = await t.throwsAsync(HttpAuth.load({ ...opts, httpAdminTokenFile: p('sp') }), {
      message: /^options\.httpAdminTokenFile must hold one token with no spaces/,
    });
    t.false(spaced.message.includes('two words'));
    await t.throwsAsync(HttpAuth.load({ ...opts, httpHost: '10.1.2.3', httpTokenFile: p('r') }), {
      message:
        /^options\.httpAdminTokenFile \(--http-admin-token-file\) is required when options\.httpHost is not loopback/,
    });
  });
});
