// Moleculer's membership events in the `throttle` service
// (services/check/throttle-service.ts): `$node.connected`,
// `$node.disconnected` and `$services.changed` keep placement current. The
// registry raises them locally, but Moleculer's transit hands any EVENT
// packet to the local handlers whatever its name, so a cluster member can
// forge them. A forged one (or a malformed local one) is counted by the
// node's Guard and dropped; the registry's own still work. Over Moleculer's
// in-process Fake transporter, so the forged events really come from another
// node.
import test from 'ava';
import { ServiceBroker } from 'moleculer';
import { ErrorCode, InputError, SimulatedClock } from '../../lib/index.ts';
import { parseMembershipEvent, throttleService } from '../../services/check/throttle-service.ts';
import type { ThrottleNode } from '../../services/check/throttle-node.ts';
import type { PlacementTracker } from '../../services/cluster/index.ts';
import { Guard, Refused } from '../../services/wire/index.ts';
import { waitUntil } from '../helpers/node-process.ts';

test('node events - only a well-formed event of this node own registry is believed', (t) => {
  t.is(parseMembershipEvent('$node.connected', 'broadcastLocal', { node: { id: 'n1' } }), 'n1');
  t.is(parseMembershipEvent('$node.disconnected', 'broadcastLocal', { node: { id: 'n1' } }), 'n1');
  t.is(parseMembershipEvent('$services.changed', 'broadcastLocal', { localService: true }), undefined);
  // Moleculer passes its registry's Node instance, not a plain object.
  class Node {
    constructor(readonly id: string) {}
  }
  t.is(parseMembershipEvent('$node.connected', 'broadcastLocal', { node: new Node('n2') }), 'n2');

  // From another member (a packet's context reads emit or broadcast): refused whatever it says.
  for (const eventType of ['broadcast', 'emit', null]) {
    const err = t.throws(() => parseMembershipEvent('$node.connected', eventType, { node: { id: 'n1' } }), {
      instanceOf: InputError,
      message: /must be raised by this node's own registry/,
    });
    t.is(err?.code, ErrorCode.NotPermitted);
  }
  const bad: Array<[unknown, string]> = [
    [null, 'params'],
    ['x', 'params'],
    [{}, 'params.node'],
    [{ node: null }, 'params.node'],
    [{ node: {} }, 'params.node.id'],
    [{ node: { id: '' } }, 'params.node.id'],
    [{ node: { id: 7 } }, 'params.node.id'],
    [{ node: { id: 'x'.repeat(257) } }, 'params.node.id'],
  ];
  for (const [params, field] of bad) {
    const err = t.throws(() => parseMembershipEvent('$node.connected', 'broadcastLocal', params), {
      instanceOf: InputError,
    });
    t.is(err?.field, field, JSON.stringify(params));
  }
  t.throws(() => parseMembershipEvent('$services.changed', 'broadcastLocal', null), {
    instanceOf: InputError,
  });
});

test('node events - forged membership events are counted and dropped; the registry own still work', async (t) => {
  const namespace = 'node-events';
  const logged: string[] = [];
  const guard = new Guard({ warn: (m) => void logged.push(m) }, new SimulatedClock(0));
  const forgotten: string[] = [];
  let refreshes = 0;
  const tracker = {
    liveNodes: [],
    forget: (id: string) => void forgotten.push(id),
    refresh: () => void refreshes++,
  } as unknown as PlacementTracker;
  const options = { logger: false, transporter: 'Fake', namespace } as const;
  const node = new ServiceBroker({ ...options, nodeID: 'ne-node' });
  node.createService(throttleService({ guard } as unknown as ThrottleNode, tracker));
  const member = new ServiceBroker({ ...options, nodeID: 'ne-member' });
  t.teardown(() => Promise.all([member.stop(), node.stop()]));
  await Promise.all([node.start(), member.start()]);
  await member.waitForServices(['throttle'], 5000);
  // The registry's own $node.connected for the member: believed (its suspicion, if any, forgotten).
  await waitUntil(() => forgotten.includes('ne-member'), 5000, 'the member seen as connected');
  t.is(guard.stats()[Refused.Call], 0);

  // A member names a leaving or suspected node as (re)connected, or sends garbage that used to throw.
  const forged: Array<[string, unknown]> = [
    ['$node.connected', { node: { id: 'leaving-node' }, reconnected: true }],
    ['$node.connected', null],
    ['$node.connected', { node: null }],
    ['$node.disconnected', { node: { id: 'ne-node' }, unexpected: true }],
    ['$node.disconnected', 'x'],
    ['$services.changed', { localService: false }],
    ['$services.changed', null],
  ];
  for (const [event, params] of forged) await member.broadcast(event, params);
  // Also as a balanced emit.
  await member.emit('$node.connected', { node: { id: 'leaving-node' } });
  await waitUntil(() => guard.stats()[Refused.Call] >= forged.length + 1, 5000, 'forged events counted');
  t.is(guard.stats()[Refused.Call], forged.length + 1);
  t.false(forgotten.includes('leaving-node'));
  t.is(logged.length, 1);
  t.regex(logged[0]!, /event \$node\.connected from ne-member dropped: .*own registry/);

  // The registry's own events still act, and a malformed local one is counted, not thrown.
  const before = refreshes;
  await node.broadcastLocal('$node.connected', { node: { id: 'back-node' }, reconnected: true });
  await node.broadcastLocal('$node.disconnected', { node: { id: 'back-node' }, unexpected: false });
  await node.broadcastLocal('$services.changed', { localService: false });
  t.true(forgotten.includes('back-node'));
  t.is(refreshes, before + 3);
  await node.broadcastLocal('$node.connected', null);
  t.is(guard.stats()[Refused.Call], forged.length + 2);
  t.is(refreshes, before + 3);
});
