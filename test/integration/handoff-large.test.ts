// A graceful leave hands many tokens over: 12,000 users each spend the one unit of a 1-per-hour
// rule on a two-node cluster, the node owning about half of them leaves (SIGTERM), and every one
// of them is still spent on the node that took them over. One message per new owner carried them
// all before: ~3 MB, past NATS's 1 MiB max_payload, so the hand-off failed and the tokens started
// afresh (a burst of 1 has no tolerance to fence). Chunks of at most 512 KB now.
import test from 'ava';
import { Placement } from '../../lib/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { ruleOnEveryNode } from '../helpers/node-latches.ts';
import { client, request, settle, startNodeProcess } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

const IDS = ['h1', 'h2'];
const USERS = 12_000;

test('handoff - a leave hands 6,000 tokens over in chunks: none starts afresh', async (t) => {
  t.timeout(180_000);
  const nats = await startNatsServer();
  const nc = await client(nats.url);
  const nodes: NodeProcess[] = [];
  try {
    await Promise.all(
      IDS.map(async (id) => {
        nodes.push(
          await startNodeProcess({
            nodeId: id,
            readyTimeoutMs: 90_000,
            // An HTTP API on loopback: the rule latch below asks each node itself.
            args: ['--nats', nats.url, '--store', 'none', '--forecast', 'false', '--http-port', '0'],
          }),
        );
      }),
    );
    await settle(nc, IDS);
    const put = await request(nc, 'headroom.v1.rules.put', {
      id: 'once',
      key: ['user'],
      rate: 1,
      period: '1h',
      burst: 1,
    });
    t.falsy(put.error);
    await ruleOnEveryNode(nodes, put.rule, 5000);
    const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
    const checkAll = async (): Promise<boolean[]> => {
      const out: boolean[] = [];
      for (let i = 0; i < users.length; i += 500) {
        const requests = users.slice(i, i + 500).map((user) => ({ params: { user } }));
        const r = await request<{ results: Array<{ allow: boolean }> }>(
          nc,
          'headroom.v1.check.batch',
          { requests },
          20_000,
        );
        for (const x of r.results) out.push(x.allow);
      }
      return out;
    };
    const first = await checkAll();
    t.is(first.filter((a) => a).length, USERS, 'every user spends its one unit');
    const placement = new Placement(IDS);
    const leaver = 'h1';
    const moved = users.filter((u) => placement.owner(`once|user=${u}`) === leaver).length;
    t.true(moved > USERS / 3, `${moved} tokens move`);
    t.is(await nodes.find((n) => n.id === leaver)!.stop('SIGTERM'), 0, 'the leave is graceful');
    await settle(nc, ['h2']);
    const after = await checkAll();
    const allowed = after.filter((a) => a).length;
    t.log(`${moved} tokens moved to h2; allowed again after the leave: ${allowed}`);
    t.is(allowed, 0, 'no token started afresh on its new owner');
    const out = nodes.find((n) => n.id === 'h2')!.output();
    t.false(out.includes('handoff-lost'), 'h2 got every chunk and the done');
  } finally {
    await nc.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await nats.stop();
  }
});
