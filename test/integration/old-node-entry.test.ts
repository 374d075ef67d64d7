// `npx headroom ...` and `npm test` from a shell whose node is older than 22
// (the machine's /usr/bin/node): bin/headroom.js runs itself again under the
// Node 22 of .tools/node22 and passes arguments, output, exit code and
// signals through; ops/with-node22.sh (what `npm test` goes through) puts
// Node 22 first on PATH. Skipped, saying so, where /usr/bin/node is missing
// or already 22 or newer (nothing to re-execute).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from '../helpers/node-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OLD_NODE = '/usr/bin/node';
const oldMajor = existsSync(OLD_NODE)
  ? Number(execFileSync(OLD_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }))
  : null;
const skip =
  oldMajor === null
    ? `${OLD_NODE} is missing`
    : oldMajor >= 22
      ? `${OLD_NODE} is already Node ${oldMajor}: nothing to re-execute`
      : null;
const skipped = (t: ExecutionContext): void => {
  t.log(`skipped: ${skip}`);
  t.pass();
};
/** A plain shell's environment: the old node first on PATH, nothing of ops/env.sh. */
const env = { ...process.env, PATH: ['/usr/bin', process.env['PATH'] ?? ''].join(delimiter) };
const run = (args: string[]) =>
  spawnSync(OLD_NODE, [BIN, ...args], { env, encoding: 'utf8', timeout: 60_000 });

test('old node - headroom --help and start --help run under Node 22', (t) => {
  if (skip !== null) return skipped(t);
  const help = run(['--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /usage: headroom <command>/);
  const start = run(['start', '--help']);
  t.is(start.status, 0, start.stderr);
  t.regex(start.stdout, /usage: headroom start/);
  t.notRegex(help.stderr + start.stderr, /needs Node\.js 22/);
});

test('old node - the exit code and error output pass through', (t) => {
  if (skip !== null) return skipped(t);
  const r = run(['replay', '--trace', '/nonexistent.csv', '--policy', 'rl']);
  t.is(r.status, 2);
  t.regex(r.stderr, /--trace must be a readable file/);
});

test('old node - without .tools/node22 it names the one line to run first', (t) => {
  if (skip !== null) return skipped(t);
  // A copy of the entry file where no .tools/ lies beside it.
  const dir = mkdtempSync(join(tmpdir(), 'hr-entry-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(BIN, join(dir, 'bin', 'headroom.js'));
  const r = spawnSync(OLD_NODE, [join(dir, 'bin', 'headroom.js'), '--help'], { env, encoding: 'utf8' });
  t.is(r.status, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, /needs Node\.js 22 or newer .*run `source .*ops\/env\.sh` first/);
});

test('old node - a node started through it runs under Node 22 and leaves gracefully on SIGTERM', async (t) => {
  if (skip !== null) return skipped(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'hr-entry-node-'));
  const child = spawn(
    OLD_NODE,
    [BIN, 'start', '--data-dir', dataDir, '--http-port', '0', '--store', 'none', '--forecast', 'false'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.once('exit', (code, signal) => r([code, signal])),
  );
  const ready = await new Promise<{ pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 60 s:\n${out}`)), 60_000);
    child.stdout.on('data', () => {
      const line = out.split('\n').find((l) => l.startsWith('{"ready":true'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { pid: number });
      }
    });
    void exited.then(() => reject(new Error(`exited before ready:\n${out}`)));
  });
  // The node is the re-executed child, not the old node's process.
  t.not(ready.pid, child.pid);
  child.kill('SIGTERM');
  t.deepEqual(await exited, [0, null], out);
  t.throws(() => process.kill(ready.pid, 0), { code: 'ESRCH' }, 'the Node 22 child is gone too');
});

test('old node - ops/with-node22.sh (npm test) runs its command under Node 22', (t) => {
  if (skip !== null) return skipped(t);
  const r = spawnSync('bash', [join(ROOT, 'ops', 'with-node22.sh'), 'node', '-p', 'process.versions.node'], {
    env,
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  t.true(Number(r.stdout.split('.')[0]) >= 22, r.stdout);
});
