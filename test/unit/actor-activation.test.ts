import test from 'ava';
import { ErrorCode, SimulatedClock } from '../../lib/index.ts';
import { ActorHost, PassivationReason } from '../../actors/index.ts';

/** An actor made from its activation input (say, a token's rule) or from restored state. */
class Limited {
  constructor(
    readonly key: string,
    readonly limit: number,
    readonly from: 'input' | 'restored',
  ) {}
}

function setup() {
  const clock = new SimulatedClock(0);
  const made: Array<{ key: string; restored: unknown; input: number | undefined }> = [];
  const host = new ActorHost<string, Limited, number>(
    (key, restored, input) => {
      made.push({ key, restored, input });
      if (typeof restored === 'number') return new Limited(key, restored, 'restored');
      if (input === undefined) throw new Error(`no limit for ${key}`);
      return new Limited(key, input, 'input');
    },
    { clock },
  );
  return { clock, host, made };
}

test('actor activation - the activating ask gives the factory its input; later asks do not remake the actor', async (t) => {
  const { host, made } = setup();
  t.deepEqual(await host.ask('a', (x) => [x.limit, x.from], 5), [5, 'input']);
  // Already live: a later ask's input is not used (the message itself may update the actor).
  t.deepEqual(await host.ask('a', (x) => [x.limit, x.from], 9), [5, 'input']);
  t.deepEqual(made, [{ key: 'a', restored: undefined, input: 5 }]);
});

test('actor activation - restored state goes first; an ask without input fails the activation, not the host', async (t) => {
  const { host, made } = setup();
  host.restore('r', 3);
  t.deepEqual(await host.ask('r', (x) => [x.limit, x.from], 7), [3, 'restored']);
  const err = await t.throwsAsync(host.ask('none', (x) => x.limit));
  t.is((err as { code?: string }).code, ErrorCode.ActorFailed);
  t.false(host.has('none'));
  t.is(await host.ask('none', (x) => x.limit, 2), 2);
  t.deepEqual(
    made.map((m) => m.input),
    [undefined, undefined, 2],
  );
});

test('actor activation - an actor remade in its mailbox (after a queued passivation) gets the input of the message that remakes it', async (t) => {
  const { host, made } = setup();
  await host.ask('k', (x) => x.limit, 1);
  // The passivation is queued behind this ask; the next ask finds the key resident without a live actor.
  const first = host.ask('k', (x) => x.limit, 1);
  const passivated = host.passivate('k', PassivationReason.Idle);
  const second = host.ask('k', (x) => [x.limit, x.from], 4);
  t.is(await first, 1);
  await passivated;
  t.deepEqual(await second, [4, 'input']);
  t.deepEqual(
    made.map((m) => m.input),
    [1, 4],
  );
});
