// ActorHost.tryNow: a message run at once when that is the same as asking
// (the check path's synchronous takes, issue 15), and NOT_NOW otherwise.
import test from 'ava';
import { ErrorCode, HeadroomError, SimulatedClock } from '../../lib/index.ts';
import { ActorHost, NOT_NOW } from '../../actors/index.ts';

class Counter {
  n = 0;
  constructor(readonly key: string) {}
}

function setup() {
  const clock = new SimulatedClock(0);
  const errors: string[] = [];
  const passivated: string[] = [];
  const host = new ActorHost<string, Counter>(
    (key) => new Counter(key),
    { clock, idleMs: 1000 },
    {
      onError: (key) => void errors.push(key),
      onPassivate: (key, _a, reason) => void passivated.push(`${key}:${reason}`),
    },
  );
  return { clock, host, errors, passivated };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('tryNow - NOT_NOW for a key not resident; runs at once, synchronously, on a live idle actor', async (t) => {
  const { host } = setup();
  t.is(
    host.tryNow('a', (c) => ++c.n),
    NOT_NOW,
  );
  t.false(host.has('a'), 'tryNow activates nothing');
  t.is(await host.ask('a', (c) => ++c.n), 1);
  t.is(
    host.tryNow('a', (c) => ++c.n),
    2,
    'the value itself, not a promise',
  );
  t.is(await host.ask('a', (c) => c.n), 2);
});

test('tryNow - passes its argument to fn: one function serves many keys without a closure each', async (t) => {
  const { host } = setup();
  await host.ask('a', () => undefined);
  await host.ask('b', () => undefined);
  const add = (c: Counter, by: number): number => (c.n += by);
  t.is(host.tryNow('a', add, 5), 5);
  t.is(host.tryNow('b', add, 7), 7);
  t.is(host.tryNow('a', add, 1), 6);
  t.is(host.tryNow('c', add, 1), NOT_NOW, 'not resident: fn does not run');
  t.is(await host.ask('a', (c) => c.n), 6);
});

test('tryNow - NOT_NOW while the mailbox has work: queued messages keep their order', async (t) => {
  const { host } = setup();
  await host.ask('a', () => undefined);
  const order: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const first = host.ask('a', async () => {
    await gate;
    order.push('first');
  });
  t.is(
    host.tryNow('a', () => order.push('now')),
    NOT_NOW,
  );
  const second = host.ask('a', () => void order.push('second'));
  open();
  await Promise.all([first, second]);
  t.deepEqual(order, ['first', 'second']);
  t.not(
    host.tryNow('a', () => 1),
    NOT_NOW,
    'idle again',
  );
});

test('tryNow - an asynchronous fn holds the mailbox until it settles', async (t) => {
  const { host } = setup();
  await host.ask('a', () => undefined);
  const order: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const now = host.tryNow('a', async () => {
    await gate;
    order.push('now');
    return 7;
  });
  t.true(now instanceof Promise);
  const later = host.ask('a', () => void order.push('later'));
  await turn();
  t.deepEqual(order, [], 'the later message waits for the running one');
  open();
  t.is(await (now as Promise<number>), 7);
  await later;
  t.deepEqual(order, ['now', 'later']);
});

test('tryNow - a throw takes the failure path: ActorFailed, reported, passivated, a fresh actor next', async (t) => {
  const { host, errors, passivated } = setup();
  await host.ask('a', (c) => (c.n = 5));
  const r = host.tryNow('a', () => {
    throw new Error('boom');
  });
  t.true(r instanceof Promise);
  const err = await t.throwsAsync(r as Promise<unknown>, { instanceOf: HeadroomError });
  t.is((err as HeadroomError).code, ErrorCode.ActorFailed);
  t.deepEqual(errors, ['a']);
  t.deepEqual(passivated, ['a:failed']);
  t.is(await host.ask('a', (c) => c.n), 0, 'a fresh activation');
  t.is(host.stats().failures, 1);
});

test('tryNow - NOT_NOW once the host is stopping', async (t) => {
  const { host } = setup();
  await host.ask('a', () => undefined);
  void host.stop();
  t.is(
    host.tryNow('a', () => 1),
    NOT_NOW,
  );
});

test('tryNow - counts as activity: an actor used only through tryNow is not passivated as idle', async (t) => {
  const { clock, host, passivated } = setup();
  await host.ask('a', () => undefined);
  for (let i = 0; i < 5; i++) {
    await clock.advance(600);
    t.not(
      host.tryNow('a', (c) => ++c.n),
      NOT_NOW,
    );
  }
  await turn();
  t.deepEqual(passivated, [], '3 s of use, 600 ms apart, with idleMs 1 s');
});

test('tryNow - the time given is when the actor was last active (the caller read the clock once)', async (t) => {
  const clock = new SimulatedClock(0);
  const passivated: string[] = [];
  const host = new ActorHost<string, Counter>(
    (key) => new Counter(key),
    { clock, idleMs: 1000, sweepMs: 100 },
    { onPassivate: (key, _a, reason) => void passivated.push(`${key}:${reason}`) },
  );
  await host.ask('a', () => undefined);
  await host.ask('b', () => undefined);
  await clock.advance(900);
  // Both used now; 'a' with the time its caller read 400 ms earlier, 'b' reading the clock itself.
  t.not(
    host.tryNow('a', (c) => ++c.n, undefined, clock.now() - 400),
    NOT_NOW,
  );
  t.not(
    host.tryNow('b', (c) => ++c.n),
    NOT_NOW,
  );
  await clock.advance(700);
  await turn();
  t.deepEqual(passivated, ['a:idle'], "idle 1 s after the time given: 'a' is, 'b' is not yet");
  await clock.advance(400);
  await turn();
  t.deepEqual(passivated, ['a:idle', 'b:idle']);
});
