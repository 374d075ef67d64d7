// `npm run build` turns the client library into JavaScript with type
// declarations (tsconfig.build.json: client/ and what it imports, `.ts`
// imports rewritten), and `headroom/client` (package.json `exports`) is
// importable by plain `node`, without tsx, and checks against a real node.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess } from '../helpers/node-process.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('client build - npm run build gives JavaScript and declarations that plain node imports and checks with', async (t) => {
  t.timeout(120_000);
  await run('npm', ['run', 'build'], { cwd: ROOT, timeout: 90_000 });
  t.true(existsSync(`${ROOT}dist/client/index.js`));
  t.true(existsSync(`${ROOT}dist/client/index.d.ts`));

  const nats = await startNatsServer();
  const node = await startNodeProcess({
    nodeId: 'bld-1',
    args: ['--nats', nats.url, '--store', 'none', '--forecast', 'false'],
  });
  const nc = await client(nats.url);
  try {
    await settle(nc, ['bld-1']);
    const put = await request(nc, 'headroom.v1.rules.put', {
      id: 'per-user',
      key: ['user'],
      rate: 2,
      period: '1h',
    });
    t.falsy(put.error);
    const script = `
      import { HeadroomClient } from 'headroom/client';
      const hr = await HeadroomClient.connect({ servers: process.argv[1] });
      for (let i = 0; i < 50 && !hr.topologyVersion; i++) await new Promise((r) => setTimeout(r, 100));
      const one = [];
      for (let i = 0; i < 3; i++) one.push((await hr.check({ user: 'b' })).allow);
      const batch = await hr.checkBatch([{ params: { user: 'c' }, cost: 2 }, { params: { user: 'c' } }]);
      console.log(JSON.stringify({ one, batch: batch.map((r) => r.allow), routed: hr.stats.routed }));
      await hr.close();
    `;
    // Plain node: no --import tsx, and NODE_OPTIONS cleared so nothing brings it in.
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, nats.url], {
      cwd: ROOT,
      timeout: 30_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const got = JSON.parse(stdout.trim().split('\n').at(-1)!);
    t.deepEqual(got.one, [true, true, false]);
    t.deepEqual(got.batch, [true, false]);
    t.true(got.routed >= 2, 'checks went to the owner node');
  } finally {
    await nc.close();
    await node.stop('SIGKILL');
    await nats.stop();
  }
});
