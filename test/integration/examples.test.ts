// The examples/ programs run as a user would run them (a child process,
// `node --import tsx`), exit 0 and print what examples/README.md says.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';

const ROOT = join(import.meta.dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runExample(file: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join('examples', file)],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

test('examples - embedded-check starts a node, allows three checks, denies the fourth, stops', async (t) => {
  const run = await runExample('embedded-check.ts');
  const out = `${run.stdout}\n--- stderr ---\n${run.stderr}`;
  t.is(run.code, 0, out);
  const lines = run.stdout.trim().split('\n');
  t.regex(lines[0] ?? '', /^node example serving on http:\/\/127\.0\.0\.1:\d+$/, out);
  t.true(lines.includes('rule per-user: 3 per 1m per user, burst 3'), out);
  const checks = lines.filter((l) => l.startsWith('check user='));
  t.deepEqual(
    checks.map((l) => /^check user=(\w+): (allowed|denied)/.exec(l)?.slice(1, 3).join(' ')),
    ['alice allowed', 'alice allowed', 'alice allowed', 'alice denied', 'bob allowed'],
    out,
  );
  t.regex(checks[3] ?? '', /denied \(retry after (1\d|20|[1-9]) s\)$/, out);
  t.is(lines[lines.length - 1], 'node stopped', out);
});
