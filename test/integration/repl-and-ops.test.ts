// The Moleculer REPL with Headroom's commands, driven as a person would
// (typing commands), and ops/cluster.sh bringing a real cluster up and down.
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freePort } from '../helpers/nats-server.ts';
import { BIN, waitUntil } from '../helpers/node-process.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('repl - hr-rules, hr-check, hr-token, hr-actors and hr-collector show the node from the inside', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-repl-'));
  const rule = {
    id: 'per-user',
    match: {},
    key: ['user'],
    rate: 5,
    period: '1m',
    burst: 5,
    priority: 0,
    mode: 'enforce',
  };
  await writeFile(join(dataDir, 'rules.json'), JSON.stringify({ version: 1, rules: [rule] }));
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--repl',
      '--data-dir',
      dataDir,
      '--http-port',
      '0',
      '--node-id',
      'repl-1',
      '--log-level',
      'warn',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  const type = async (line: string, expect: RegExp): Promise<string> => {
    const from = out.length;
    child.stdin.write(`${line}\n`);
    await waitUntil(() => expect.test(out.slice(from)), 15_000, `${line} -> ${expect}\n${out}`);
    return out.slice(from);
  };
  try {
    await waitUntil(() => out.includes('mol $'), 30_000, `the REPL prompt\n${out}`);
    t.regex(await type('hr-rules', /"id": "per-user"/), /"rate": 5/);
    t.regex(
      await type('hr-check user=u7 op=Get', /"allow": true/),
      /"rule": "per-user"[\s\S]*"remaining": 4/,
    );
    const token = await type('hr-token user=u7', /"owner": "repl-1"/);
    t.regex(token, /"token": "per-user\|user=u7"/);
    t.regex(token, /"remaining": 4/);
    t.regex(token, /"requests": \[/);
    t.regex(await type('hr-actors', /"actors": 1/), /"id": "repl-1"/);
    // The collector processes decisions on its tick: ask until the check shows.
    let collector = '';
    await waitUntil(
      async () => {
        collector = await type('hr-collector', /"collection": (null|\{[\s\S]*"lastError": [^\n]*\n)/);
        return /"decided": 1,/.test(collector);
      },
      15_000,
      `hr-collector to count the check\n${out}`,
    );
    t.regex(collector, /"id": "repl-1"/);
    t.regex(collector, /"store": "duckdb"/);
    t.regex(collector, /"droppedQueueFull": 0/);
    t.regex(collector, /"spoolBatches": 0/);
    child.stdin.write('exit\n');
    await exited;
  } finally {
    child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('ops - cluster.sh up 2, status, down starts and stops exactly its processes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-ops-'));
  const env = {
    ...process.env,
    HEADROOM_CLUSTER_DIR: dir,
    HEADROOM_CLUSTER_NATS_PORT: String(await freePort()),
  };
  const script = join(ROOT, 'ops', 'cluster.sh');
  const nothingRuns = /^nothing runs: no nats-server and no node of the cluster in /m;
  try {
    t.regex((await run('bash', [script, 'status'], { env })).stdout, nothingRuns, 'status before up');
    const up = await run('bash', [script, 'up', '2'], { env, timeout: 120_000 });
    t.regex(up.stdout, /cluster up/);
    // One hash key for the whole cluster, made by cluster.sh, private, passed to every node.
    const keyFile = join(dir, 'privacy-key.json');
    t.true(up.stdout.includes(`hash key shared by every node: ${keyFile}`), up.stdout);
    t.is((await stat(keyFile)).mode & 0o777, 0o600);
    const key = await readFile(keyFile, 'utf8');
    t.regex(key, /"id": "k[0-9a-f]{8}",\s*"secret": "[\w-]{43}"/);
    for (const n of ['node-1', 'node-2']) {
      t.false(existsSync(join(dir, n, 'privacy-key.json')), `${n} made no key of its own`);
      const nodeLog = await readFile(join(dir, `${n}.log`), 'utf8');
      t.notRegex(nodeLog, /hash key/, `${n} neither generated a key nor warned about one`);
    }
    const pids = await Promise.all(
      ['nats', 'node-1', 'node-2'].map(async (n) => Number(await readFile(join(dir, `${n}.pid`), 'utf8'))),
    );
    for (const pid of pids) t.notThrows(() => process.kill(pid, 0), `pid ${pid} runs`);
    // The status reply comes from whichever node answers; right after `up` a node may not
    // have heard of the other yet, so ask until both are listed.
    let status = { stdout: '' };
    await waitUntil(
      async () => {
        status = await run('bash', [script, 'status'], { env, timeout: 60_000 });
        return /"id": "node-1"/.test(status.stdout) && /"id": "node-2"/.test(status.stdout);
      },
      20_000,
      'cluster.sh status to list both nodes',
    );
    t.regex(status.stdout, /node-1 running/);
    t.regex(status.stdout, /node-2 running/);
    const down = await run('bash', [script, 'down'], { env, timeout: 60_000 });
    t.regex(down.stdout, /cluster down/);
    for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} stopped`);
    const log = await readFile(join(dir, 'node-1.log'), 'utf8');
    t.regex(log, /SIGTERM: leaving the cluster/);
    const after = await run('bash', [script, 'status'], { env });
    t.regex(after.stdout, nothingRuns, 'status after down');
    t.notRegex(after.stdout, /running/);
    // The key outlives the cluster: the next `up` uses the same one.
    await run('bash', [script, 'up', '1'], { env, timeout: 120_000 });
    t.is(await readFile(keyFile, 'utf8'), key);
    await run('bash', [script, 'down'], { env, timeout: 60_000 });
  } finally {
    await run('bash', [script, 'down'], { env }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});
