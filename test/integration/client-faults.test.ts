// The client library when an owner dies: three real nodes, checks routed to
// their owners in flight, one node SIGKILLed. Every check must be answered
// with a decision (the owner's: a moved token is fenced for a moment), none later than the owner timeout plus one fallback
// round, and the client must learn the new topology and route again.
import test from 'ava';
import { HeadroomClient } from '../../client/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { TopologyWatch } from '../helpers/topology-watch.ts';

const IDS = ['k1', 'k2', 'k3'];
const OWNER_TIMEOUT_MS = 400;
/** What the fallback through `headroom.v1.check` may add on this shared 2-core machine. */
const FALLBACK_MS = 1500;

test('client faults - owner SIGKILL during routed checks: every check answered within the owner timeout and one fallback', async (t) => {
  t.timeout(90_000);
  const nats = await startNatsServer();
  const nc = await client(nats.url);
  const watch = new TopologyWatch(nc);
  const nodes: NodeProcess[] = [];
  let hr: HeadroomClient | undefined;
  try {
    nodes.push(
      ...(await Promise.all(
        IDS.map((id) =>
          startNodeProcess({
            nodeId: id,
            // One-second heartbeats (the default): the survivors see k2 gone within about that.
            args: ['--nats', nats.url, '--store', 'none', '--forecast', 'false'],
          }),
        ),
      )),
    );
    await settle(nc, IDS);
    const put = await request(nc, 'headroom.v1.rules.put', {
      id: 'per-user',
      key: ['user'],
      rate: 1_000_000,
      period: '1s',
    });
    t.falsy(put.error);
    const version = await watch.agreed(IDS, ['per-user']);
    hr = await HeadroomClient.connect({
      servers: nats.url,
      ownerTimeoutMs: OWNER_TIMEOUT_MS,
      timeoutMs: 10_000,
    });
    t.is(hr.topologyVersion, version);

    const latencies: number[] = [];
    const failures: string[] = [];
    let stop = false;
    let denied = 0;
    let u = 0;
    const workers = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const t0 = performance.now();
        try {
          const r = await hr!.check({ user: `f${u++ % 300}` });
          // A token that moved without its state is fenced for a moment (README "Faults"): denied,
          // with a retry time. That is the owner's decision, as headroom.v1.check would give it.
          if (r.allow !== true) denied++;
        } catch (err) {
          failures.push(`rejected: ${(err as Error).message}`);
        }
        latencies.push(performance.now() - t0);
      }
    });
    await waitUntil(() => latencies.length > 1000, 20_000, 'routed checks in flight');
    const beforeKill = hr.stats;
    t.is(beforeKill.fallbacks, 0);
    const killedAt = latencies.length;
    await nodes[1]!.stop('SIGKILL');
    // The survivors drop k2 from their view and announce it; the client routes by it.
    await waitUntil(
      () => hr!.topologyVersion !== version && watch.latest.get('k1')?.nodes.join(',') === 'k1,k3',
      15_000,
      'the client to adopt the view without k2',
    );
    const routedThen = hr.stats.routed;
    await waitUntil(() => hr!.stats.routed > routedThen + 50, 10_000, 'routing to resume');
    stop = true;
    await Promise.all(workers);

    const after = hr.stats;
    const worst = Math.max(...latencies.slice(killedAt));
    t.log(
      `${latencies.length} checks, ${latencies.length - killedAt} after the kill; fallbacks ${after.fallbacks}; denied (fenced) ${denied}; worst after the kill ${worst.toFixed(0)} ms`,
    );
    t.deepEqual(failures.slice(0, 5), []);
    t.true(after.fallbacks > 0, 'checks for k2 fell back to headroom.v1.check');
    t.true(
      worst <= OWNER_TIMEOUT_MS + FALLBACK_MS,
      `worst ${worst.toFixed(0)} ms > ${OWNER_TIMEOUT_MS} + ${FALLBACK_MS}`,
    );
  } finally {
    await hr?.close();
    watch.stop();
    await nc.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await nats.stop();
  }
});
