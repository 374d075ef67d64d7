// The client library under ops/nats/secure.conf: connected as the `client`
// role it reads the topology, hears the nodes' notices and sends checks to
// the nodes' own subjects (nothing falls back for want of a permission),
// while that role still cannot publish other operations on a node subject.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Events, connect } from 'nats';
import { HeadroomClient, InputError } from '../../client/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';

const CONFIG = fileURLToPath(new URL('../../ops/nats/secure.conf', import.meta.url));
const password = (): string => `hr${randomBytes(24).toString('hex')}`;

test('client secure - the client role routes checks to owners and hears topology notices', async (t) => {
  t.timeout(90_000);
  const pw = { node: password(), admin: password(), client: password() };
  const nats = await startNatsServer({
    config: CONFIG,
    env: {
      HEADROOM_NODE_PASSWORD: pw.node,
      HEADROOM_ADMIN_PASSWORD: pw.admin,
      HEADROOM_CLIENT_PASSWORD: pw.client,
    },
  });
  const ids = ['s1', 's2'];
  const nodes = await Promise.all(
    ids.map((id) =>
      startNodeProcess({
        nodeId: id,
        args: [
          ...['--nats', nats.url, '--nats-user', 'node', '--nats-password', pw.node],
          ...['--store', 'none', '--forecast', 'false'],
        ],
      }),
    ),
  );
  const admin = await connect({ servers: nats.url, user: 'admin', pass: pw.admin });
  let hr: HeadroomClient | undefined;
  try {
    await settle(admin, ids);
    const put = await request(admin, 'headroom.v1.rules.put', {
      id: 'per-user',
      key: ['user'],
      rate: 3,
      period: '1h',
    });
    t.falsy(put.error);
    await t.throwsAsync(
      HeadroomClient.connect({ servers: nats.url, natsUser: 'client', natsPassword: 'wrong' }),
      { instanceOf: InputError, message: /refused this connection/ },
    );
    hr = await HeadroomClient.connect({ servers: nats.url, natsUser: 'client', natsPassword: pw.client });
    await waitUntil(() => hr!.topologyVersion !== undefined, 5000, 'the first topology');
    const first = hr.topologyVersion;
    // A rule change: the nodes announce a new topology and the client hears it on its permitted subject.
    await request(admin, 'headroom.v1.rules.put', { id: 'per-op', key: ['op'], rate: 1000, period: '1s' });
    await waitUntil(() => hr!.topologyVersion !== first, 5000, 'the notice of the rule change');

    const allowed = [];
    for (let i = 0; i < 5; i++) allowed.push((await hr.check({ user: 'sec' })).allow);
    t.deepEqual(allowed, [true, true, true, false, false]);
    const stats = hr.stats;
    t.is(stats.routed, 5);
    t.is(stats.fallbacks, 0);

    // The client role may send checks to a node subject, and nothing else there.
    const plain = await connect({ servers: nats.url, user: 'client', pass: pw.client });
    const violations: string[] = [];
    void (async () => {
      for await (const s of plain.status())
        if (s.type === Events.Error && s.permissionContext !== undefined)
          violations.push(s.permissionContext.subject);
    })();
    plain.publish('headroom.v1.node.s1.status', '{}');
    plain.publish('headroom.v1.node.s1.rules.put', '{}');
    await plain.flush();
    await waitUntil(() => violations.length >= 2, 5000, 'the permission violations');
    t.deepEqual(violations.sort(), ['headroom.v1.node.s1.rules.put', 'headroom.v1.node.s1.status']);
    await plain.close();
  } finally {
    await hr?.close();
    await admin.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await nats.stop();
  }
});
