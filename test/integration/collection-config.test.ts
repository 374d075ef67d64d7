// Collection options and files: the generated key file (0600, reused), and
// clear errors for bad store configuration and bad collection files.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { GENERATED_KEY_FILE, compileNodeOptions, loadKeyFile, startNode } from '../../services/index.ts';

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-collect-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('collection config - a key file is generated with mode 0600 on first start and reused', async (t) => {
  const dir = await tmp(t);
  const first = await loadKeyFile(null, dir);
  t.true(first.created);
  t.is(first.path, join(dir, GENERATED_KEY_FILE));
  t.is((await stat(first.path)).mode & 0o777, 0o600);
  t.regex(first.file.keys[0]!.id, /^k[0-9a-f]{8}$/);
  t.true(first.file.keys[0]!.secret.length >= 40);
  const again = await loadKeyFile(null, dir);
  t.false(again.created);
  t.deepEqual(again.file, first.file);
});

test('collection config - a configured key file is read; a missing or bad one is a clear error without its content', async (t) => {
  const dir = await tmp(t);
  const path = join(dir, 'keys.json');
  await writeFile(
    path,
    JSON.stringify({ keys: [{ id: 'k1', secret: 'a-long-enough-secret-123' }], overlapMs: 1000 }),
  );
  t.deepEqual((await loadKeyFile(path, dir)).file, {
    keys: [{ id: 'k1', secret: 'a-long-enough-secret-123' }],
    overlapMs: 1000,
  });
  await t.throwsAsync(loadKeyFile(join(dir, 'nope.json'), dir), {
    instanceOf: InputError,
    message: /privacyKeyFile cannot be read: ".*nope\.json"/,
  });
  await writeFile(path, '{"keys": [{"id": "k1", "secret": "top-secret-value-xyz"');
  const err = await t.throwsAsync(loadKeyFile(path, dir), {
    instanceOf: InputError,
    message: /not valid JSON/,
  });
  t.false(err.message.includes('top-secret'));
  await writeFile(path, JSON.stringify({ keys: [], extra: 1 }));
  await t.throwsAsync(loadKeyFile(path, dir), {
    instanceOf: InputError,
    message: /extra is not a known key/,
  });
});

test('collection config - bad store options are refused with the field named', (t) => {
  const e1 = t.throws(() => compileNodeOptions(undefined, {}, { store: 'mysql' }), {
    instanceOf: InputError,
  });
  t.is(e1.code, ErrorCode.InvalidOptions);
  t.regex(e1.message, /options\.store must be one of duckdb, clickhouse, none, got "mysql"/);
  t.throws(() => compileNodeOptions(undefined, {}, { store: 'clickhouse' }), {
    instanceOf: InputError,
    message: /options\.clickhouseUrl is required with options\.store clickhouse/,
  });
  t.throws(() => compileNodeOptions(undefined, { HEADROOM_RETENTION_MS: 'forever' }, {}), {
    instanceOf: InputError,
    message: /options\.retentionMs must be a duration/,
  });
  t.throws(() => compileNodeOptions(undefined, {}, { spoolMaxBytes: '12' }), {
    instanceOf: InputError,
    message: /options\.spoolMaxBytes must be an integer from 65536/,
  });
  const ok = compileNodeOptions(
    undefined,
    { HEADROOM_STORE: 'clickhouse', HEADROOM_CLICKHOUSE_URL: 'http://127.0.0.1:1' },
    {
      retentionMs: '7d',
    },
  );
  t.like(ok, { store: 'clickhouse', clickhouseUrl: 'http://127.0.0.1:1', retentionMs: 7 * 86_400_000 });
});

test('collection config - a node refuses to start on a bad collection file, naming it', async (t) => {
  const dir = await tmp(t);
  const start = (flags: Record<string, unknown>): Promise<unknown> =>
    startNode(
      compileNodeOptions(
        undefined,
        {},
        { dataDir: dir, httpPort: 0, logLevel: 'error', nodeId: 'cfg', ...flags },
      ),
    );
  await writeFile(join(dir, 'holidays.txt'), '2026-12-25\nChristmas\n');
  await t.throwsAsync(start({ holidaysFile: join(dir, 'holidays.txt') }), {
    instanceOf: InputError,
    message: /holidaysFile\[1\] must be a date like "2026-12-25", got "Christmas"/,
  });
  await writeFile(join(dir, 'regions.csv'), '10.0.0.0/33,eu\n');
  await t.throwsAsync(start({ ipRegionsFile: join(dir, 'regions.csv') }), {
    instanceOf: InputError,
    message: /ipRegions\[0\]\.prefix must be a CIDR prefix, got "10\.0\.0\.0\/33"/,
  });
  await t.throwsAsync(start({ profileFile: join(dir, 'none.csv') }), {
    instanceOf: InputError,
    message: /profileFile cannot be read/,
  });
  await writeFile(join(dir, 'privacy.json'), JSON.stringify({ params: { user: 'scramble' } }));
  await t.throwsAsync(start({ privacyFile: join(dir, 'privacy.json') }), {
    instanceOf: InputError,
    message: /privacy\.params\.user must be one of drop, hash, truncate, generalise, keep, got "scramble"/,
  });
  // The node that failed left nothing running: a good start in the same folder works.
  const node = await startNode(
    compileNodeOptions(undefined, {}, { dataDir: dir, httpPort: 0, logLevel: 'error', nodeId: 'cfg-ok' }),
  );
  t.truthy(node.collection.store);
  await node.stop();
  t.truthy(JSON.parse(await readFile(join(dir, GENERATED_KEY_FILE), 'utf8')).keys);
});
