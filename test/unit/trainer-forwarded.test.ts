// The `trainerForwarded` meta flag of the `trainer` actions
// (services/forecasting/trainer-service.ts): a node forwards train, promote
// and rollback once to the elected trainer with the flag set, so the call is
// not forwarded again. Any member with the `node` role can set the flag, so
// it must never make a node that is not the trainer run them: such a call is
// refused (retryable), counted, and runs nowhere; forwarding still works.
// Over Moleculer's in-process Fake transporter: three real brokers.
import test from 'ava';
import { ServiceBroker } from 'moleculer';
import { ErrorCode, SimulatedClock } from '../../lib/index.ts';
import { trainerService } from '../../services/forecasting/trainer-service.ts';
import type { Trainer } from '../../services/forecasting/index.ts';
import { Guard, Refused } from '../../services/wire/index.ts';
import { waitUntil } from '../helpers/node-process.ts';

/** A trainer that records what ran on it; `leader` is where it forwards (undefined: it trains). */
function fakeTrainer(leader: () => string | undefined): { trainer: Trainer; ran: string[] } {
  const ran: string[] = [];
  const trainer = {
    forwardTo: leader,
    noteError: () => undefined,
    status: () => Promise.resolve({}),
    train: () => (ran.push('train'), Promise.resolve({ ok: true })),
    promote: (v: string) => (ran.push(`promote ${v}`), Promise.resolve({ ok: true })),
    rollback: () => (ran.push('rollback'), Promise.resolve({ ok: true })),
    start: () => undefined,
    stop: () => Promise.resolve(),
  };
  return { trainer: trainer as unknown as Trainer, ran };
}

interface Node {
  broker: ServiceBroker;
  ran: string[];
  guard: Guard;
}

function node(namespace: string, id: string, leader: () => string | undefined): Node {
  const { trainer, ran } = fakeTrainer(leader);
  const guard = new Guard({ warn: () => undefined }, new SimulatedClock(0));
  const broker = new ServiceBroker({ logger: false, transporter: 'Fake', namespace, nodeID: id });
  broker.createService(trainerService(trainer, guard));
  return { broker, ran, guard };
}

test('trainer forwarded - a forged flag is refused by a node that is not the trainer; forwarding still works', async (t) => {
  const ns = 'trainer-fwd';
  const leader = node(ns, 'tf-leader', () => undefined);
  const follower = node(ns, 'tf-follower', () => 'tf-leader');
  const member = new ServiceBroker({
    logger: false,
    transporter: 'Fake',
    namespace: ns,
    nodeID: 'tf-member',
  });
  const brokers = [leader.broker, follower.broker, member];
  t.teardown(() => Promise.all(brokers.map((b) => b.stop())));
  await Promise.all(brokers.map((b) => b.start()));
  await member.waitForServices([{ name: 'trainer' }], 5000);
  await waitForNodes(member, ['tf-leader', 'tf-follower']);
  await waitForNodes(follower.broker, ['tf-leader']);

  // A member sets the flag on a call to the follower: it must not train, promote or roll back there.
  const forged: Array<[string, unknown]> = [
    ['trainer.train', {}],
    ['trainer.promote', { version: 'v000001' }],
    ['trainer.rollback', {}],
  ];
  for (const [action, params] of forged) {
    const err = await t.throwsAsync(() =>
      member.call(action, params, { nodeID: 'tf-follower', meta: { trainerForwarded: true } }),
    );
    t.is((err as { code?: unknown }).code, ErrorCode.Unavailable, action);
    t.regex(err!.message, /forwarded to tf-follower, which is not the elected trainer \(tf-leader is/);
  }
  t.deepEqual(follower.ran, []);
  t.deepEqual(leader.ran, []);
  t.is(follower.guard.stats()[Refused.Call], forged.length);

  // Without the flag, the follower forwards to the leader, which runs it (the flag honoured there).
  await member.call('trainer.promote', { version: 'v000002' }, { nodeID: 'tf-follower' });
  await member.call('trainer.train', {}, { nodeID: 'tf-follower' });
  t.deepEqual(leader.ran, ['promote v000002', 'train']);
  t.deepEqual(follower.ran, []);
  // And on the trainer itself a flagged call runs (it is where the flag says it should).
  await member.call('trainer.rollback', {}, { nodeID: 'tf-leader', meta: { trainerForwarded: true } });
  t.deepEqual(leader.ran, ['promote v000002', 'train', 'rollback']);
  t.is(leader.guard.stats()[Refused.Call], 0);
  t.is(follower.guard.stats()[Refused.Call], forged.length);
});

test('trainer forwarded - a flagged call while no trainer is elected is refused and counted', async (t) => {
  const ns = 'trainer-fwd-none';
  const lone = node(ns, 'tf-lone', () => {
    throw Object.assign(new Error('no trainer is elected yet'), { code: ErrorCode.Unavailable });
  });
  t.teardown(() => lone.broker.stop());
  await lone.broker.start();
  await t.throwsAsync(() => lone.broker.call('trainer.train', {}, { meta: { trainerForwarded: true } }), {
    message: /no trainer is elected yet/,
  });
  t.deepEqual(lone.ran, []);
  t.is(lone.guard.stats()[Refused.Call], 1);
});

/** Waits until `broker` lists every node of `ids` as available (their INFO arrived). */
function waitForNodes(broker: ServiceBroker, ids: string[]): Promise<void> {
  return waitUntil(
    () => ids.every((id) => broker.registry.nodes.get(id)?.available === true),
    5000,
    `${broker.nodeID} seeing ${ids.join(', ')}`,
  );
}
