// `headroom start --log-format json|pretty` as a user runs it: with json every
// line the node writes (Moleculer's, ours, the rule audit line, the ready
// line) is one JSON object; with pretty the same node writes readable text.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

const RULE = { id: 'per-user', key: ['user'], rate: 5, period: '1s' };

/** An embedded node (HTTP API, no store, no forecasting) logging at info in `format`. */
async function node(t: ExecutionContext, id: string, format: string): Promise<NodeProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-logs-'));
  const p = await startNodeProcess({
    nodeId: id,
    args: [
      ...['--data-dir', dataDir, '--http-port', '0', '--store', 'none', '--forecast', 'false'],
      ...['--log-level', 'info', '--log-format', format],
    ],
  });
  t.teardown(async () => {
    await p.stop('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });
  return p;
}

async function putRule(p: NodeProcess, rule: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${p.httpUrl}/v1/rules`, { method: 'POST', body: JSON.stringify(rule) });
  if (res.status !== 200) throw new Error(`rules put: ${res.status} ${await res.text()}`);
}

const lines = (out: string): string[] => out.split('\n').filter((l) => l !== '');

test('logs - json: every line is a JSON object; the audit line carries its fields', async (t) => {
  const p = await node(t, 'log-json', 'json');
  const t0 = Date.now();
  await putRule(p, RULE);
  await putRule(p, { ...RULE, rate: 6 });
  await waitUntil(() => p.output().split('"audit":"rule"').length > 2, 5000, 'two audit lines');
  t.is(await p.stop('SIGTERM'), 0, p.output());

  const entries = lines(p.output()).map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      t.fail(`not a JSON line: ${l}`);
      return {};
    }
  });
  const logged = entries.filter((e) => !('ready' in e));
  t.is(entries.length - logged.length, 1, 'one ready line');
  t.true(logged.length > 10, `${logged.length} lines`);
  for (const e of logged) {
    t.true([10, 20, 30, 40, 50, 60].includes(e['level'] as number), JSON.stringify(e));
    t.is(typeof e['time'], 'number');
    t.true(typeof e['msg'] === 'string' && e['msg'] !== '', JSON.stringify(e));
    t.is(e['node'], 'log-json');
    t.is(typeof e['mod'], 'string');
  }
  // Moleculer's own lines and ours, at info.
  t.truthy(logged.find((e) => e['mod'] === 'broker' && /^Moleculer v/.test(e['msg'] as string)));
  t.truthy(logged.find((e) => /^headroom node log-json started embedded/.test(e['msg'] as string)));
  t.truthy(logged.find((e) => /^SIGTERM: leaving the cluster/.test(e['msg'] as string)));

  const audits = logged.filter((e) => e['audit'] === 'rule');
  t.true(
    audits.length > 0 && audits.every((e) => e['event'] === 'rule-change'),
    'audit lines are rule-change events',
  );
  t.deepEqual(
    audits.map(({ level, op, id, previousRevision, revision }) => ({
      level,
      op,
      id,
      previousRevision,
      revision,
    })),
    [
      { level: 30, op: 'put', id: 'per-user', previousRevision: null, revision: 1 },
      { level: 30, op: 'put', id: 'per-user', previousRevision: 1, revision: 2 },
    ],
  );
  for (const a of audits) t.true((a['time'] as number) >= t0);
});

test('logs - pretty: readable text lines, the audit line as it was written', async (t) => {
  const p = await node(t, 'log-pretty', 'pretty');
  await putRule(p, RULE);
  await waitUntil(() => p.output().includes('{"audit":"rule"'), 5000, 'the audit line');
  const out = lines(p.output());
  const logged = out.filter((l) => !l.startsWith('{"ready":true'));
  for (const l of logged) t.throws(() => JSON.parse(l), undefined, l);
  t.truthy(
    logged.find((l) =>
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}log-pretty\/broker: Moleculer v/.test(l),
    ),
    out.join('\n'),
  );
  const audit = logged.find((l) => l.includes('{"audit":"rule"'))!;
  t.regex(audit, /^\S+ INFO {2}log-pretty\/\w+: \{"audit":"rule","op":"put","id":"per-user",/);
});
