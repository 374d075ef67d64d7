// Events in a cluster: whichever node the queue group hands a publish to,
// every node gets its signal (a feature of its records) and, with a store of
// its own (DuckDB), a copy, so events.list answers the same everywhere.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { compileNodeOptions, startNode, type HeadroomNode } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, waitUntil } from '../helpers/node-process.ts';

test('events cluster - every node gets every event, as a signal and in its own store', async (t) => {
  const nats = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'headroom-events-cluster-'));
  const nodes: HeadroomNode[] = [];
  t.teardown(async () => {
    for (const n of nodes) await n.stop();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  });
  for (const id of ['ev-1', 'ev-2']) {
    nodes.push(
      await startNode(
        compileNodeOptions(
          undefined,
          {},
          {
            natsUrl: nats.url,
            nodeId: id,
            dataDir: join(dir, id),
            logLevel: 'error',
            rulesBucket: 'events_cluster',
          },
        ),
      ),
    );
  }
  await waitUntil(
    () => nodes.every((n) => n.broker.registry.nodes.list({}).length === 2),
    10_000,
    'both nodes',
  );
  const nc = await client(nats.url);
  t.teardown(() => nc.close());
  const now = Date.now();
  const time = new Date(now - 1000).toISOString();
  for (let i = 0; i < 6; i++) {
    const r = await request(nc, 'headroom.v1.events.publish', {
      source: 's',
      topic: `t${i}`,
      time,
      value: i + 1,
    });
    t.regex(r.id, /^[0-9a-f]{32}$/);
  }
  const range = { fromMs: now - 60_000, toMs: now + 60_000 };
  for (const n of nodes) {
    await waitUntil(
      async () => (await n.collection.events.list(range)).length === 6,
      10_000,
      `events on ${n.nodeId}`,
    );
    t.deepEqual(Object.keys(n.collection.collector!.signals.levels(now)).sort(), [
      't0',
      't1',
      't2',
      't3',
      't4',
      't5',
    ]);
  }
});
