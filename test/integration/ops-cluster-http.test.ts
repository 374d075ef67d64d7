// ops/cluster.sh with --http and --pools, as an operator runs it: every node
// serves its dashboard and Prometheus metrics on the ports `up` prints, runs
// the pools file (the pool on its one owner), and `down` leaves nothing behind.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freePort } from '../helpers/nats-server.ts';
import { waitUntil } from '../helpers/node-process.ts';
import { parsePromText, samplesOf } from '../helpers/prom-text.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A port p with p and p + 1 free on 127.0.0.1 (node-1 and node-2 of `--http` take base + 1, base + 2). */
async function twoFreePorts(): Promise<number> {
  const listen = (port: number): Promise<(() => Promise<void>) | undefined> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, '127.0.0.1', () => resolve(() => new Promise((r) => srv.close(() => r()))));
    });
  for (;;) {
    const p = await freePort();
    const close = await listen(p + 1);
    if (close === undefined) continue;
    await close();
    return p;
  }
}

test('ops - cluster.sh up 2 --http --pools FILE: dashboards, metrics and the pool on its owner', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-ops-http-'));
  const http = (await twoFreePorts()) - 1;
  const metrics = (await twoFreePorts()) - 1;
  const env = {
    ...process.env,
    HEADROOM_CLUSTER_DIR: join(dir, 'cluster'),
    HEADROOM_CLUSTER_NATS_PORT: String(await freePort()),
    HEADROOM_CLUSTER_HTTP_PORT: String(http),
    HEADROOM_CLUSTER_METRICS_PORT: String(metrics),
  };
  const script = join(ROOT, 'ops', 'cluster.sh');
  const pools = join(dir, 'pools.json');
  await writeFile(
    pools,
    JSON.stringify({
      pools: [
        { name: 'web', rules: ['per-user'], kind: 'simulated', unitCapacity: 50, minUnits: 1, maxUnits: 4 },
      ],
    }),
  );
  try {
    // Bad flags are refused before anything starts.
    const bad = await run('bash', [script, 'up', '2', '--pools', join(dir, 'none.json')], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    t.is((bad as { code: number }).code, 2);
    t.regex((bad as { stderr: string }).stderr, /--pools must name a readable file, got ".*none\.json"/);
    t.false(existsSync(join(dir, 'cluster', 'nats.pid')));

    const up = await run('bash', [script, 'up', '2', '--http', '--pools', pools], { env, timeout: 120_000 });
    t.regex(up.stdout, /cluster up/);
    t.true(up.stdout.includes(`pools from ${pools} on every node`), up.stdout);
    for (const i of [1, 2]) {
      const line = `node-${i} dashboard http://127.0.0.1:${http + i}/  metrics http://127.0.0.1:${metrics + i}/metrics`;
      t.true(up.stdout.includes(line), `${line}\n${up.stdout}`);
      const page = await fetch(`http://127.0.0.1:${http + i}/`);
      t.is(page.status, 200, `node-${i} dashboard`);
      t.regex(page.headers.get('content-type') ?? '', /text\/html/);
      await page.arrayBuffer();
    }
    // Each node runs the pools file; the pool runs on exactly one of them, its owner.
    let owners: string[] = [];
    await waitUntil(
      async () => {
        owners = [];
        for (const i of [1, 2]) {
          const text = await (await fetch(`http://127.0.0.1:${metrics + i}/metrics`)).text();
          const ready = samplesOf(parsePromText(text), 'headroom_pool_units', {
            pool: 'web',
            state: 'ready',
          });
          if (ready.length > 0 && ready[0]!.value >= 1) owners.push(`node-${i}`);
        }
        return owners.length === 1;
      },
      20_000,
      'one node to run pool web',
    );
    t.is(owners.length, 1);
    const status = await run('bash', [script, 'status'], { env, timeout: 60_000 });
    t.true(status.stdout.includes(`node-1 dashboard http://127.0.0.1:${http + 1}/`), status.stdout);
    await run('bash', [script, 'down'], { env, timeout: 60_000 });
    t.false(existsSync(join(dir, 'cluster', 'node-1.http')));
    const after = await run('bash', [script, 'status'], { env });
    t.regex(after.stdout, /^nothing runs/m);
    t.notRegex(after.stdout, /dashboard/);
  } finally {
    await run('bash', [script, 'down'], { env }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});
