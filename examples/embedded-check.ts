/**
 * An embedded Headroom node, in this process: no NATS, no store, no
 * forecasting, the HTTP API on a free loopback port. Puts a rule (3 checks
 * per minute per user), checks one user four times and another once, prints
 * each decision, and stops the node.
 *
 *   npx tsx examples/embedded-check.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileNodeOptions, startNode } from '../services/index.ts';

interface Decision {
  allow: boolean;
  rule?: string;
  limit?: number;
  remaining?: number;
  retryAfterMs?: number;
}

/** One JSON request to the node's HTTP API; throws on a non-2xx answer. */
async function call(base: string, method: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, { method, body: JSON.stringify(body) });
  const json: unknown = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const dataDir = await mkdtemp(join(tmpdir(), 'headroom-example-'));
const node = await startNode(
  compileNodeOptions(
    undefined,
    {},
    {
      nodeId: 'example',
      dataDir,
      store: 'none',
      forecast: false,
      trainer: false,
      httpPort: 0,
      logLevel: 'warn',
    },
  ),
);
try {
  const base = node.httpUrl!;
  console.log(`node ${node.nodeId} serving on ${base}`);

  const { rule } = await call(base, 'POST', '/v1/rules', {
    id: 'per-user',
    key: ['user'],
    rate: 3,
    period: '1m',
  });
  console.log(
    `rule ${rule.id}: ${rule.rate} per ${rule.period} per ${rule.key.join('+')}, burst ${rule.burst}`,
  );

  for (const user of ['alice', 'alice', 'alice', 'alice', 'bob']) {
    const d = (await call(base, 'POST', '/v1/check', { params: { user } })) as Decision;
    const detail = d.allow
      ? `remaining ${d.remaining}`
      : `retry after ${Math.ceil((d.retryAfterMs ?? 0) / 1000)} s`;
    console.log(`check user=${user}: ${d.allow ? 'allowed' : 'denied'} (${detail})`);
  }
} finally {
  await node.stop();
  await rm(dataDir, { recursive: true, force: true });
}
console.log('node stopped');
