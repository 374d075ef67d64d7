import test from 'ava';
import { ErrorCode, HeadroomError, InputError, SimulatedClock, StateError } from '../../lib/index.ts';
import { ActorHost, ActorStatus } from '../../actors/index.ts';
import type { ActorHostEvents, PassivationReason } from '../../actors/index.ts';

class Counter {
  n: number;
  constructor(
    readonly key: string,
    restored: unknown,
  ) {
    this.n = typeof restored === 'number' ? restored : 0;
  }
  bump(): number {
    return ++this.n;
  }
}

interface Recorder {
  events: ActorHostEvents<string, Counter>;
  activated: string[];
  passivated: { key: string; n: number; reason: PassivationReason }[];
  errors: { key: string; error: HeadroomError }[];
}

function recorder(): Recorder {
  const r: Recorder = {
    activated: [],
    passivated: [],
    errors: [],
    events: {
      onActivate: (key) => void r.activated.push(key),
      onPassivate: (key, actor, reason) => void r.passivated.push({ key, n: actor.n, reason }),
      onError: (key, error) => void r.errors.push({ key, error }),
    },
  };
  return r;
}

function setup(options: { idleMs?: number; maxActors?: number; sweepMs?: number } = {}) {
  const clock = new SimulatedClock(0);
  const rec = recorder();
  const host = new ActorHost<string, Counter>(
    (key, restored) => new Counter(key, restored),
    { clock, ...options },
    rec.events,
  );
  return { clock, host, ...rec };
}

function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

// One event-loop turn: every queued microtask has run (not a timed sleep).
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('actor host - concurrent asks to one key serialize; different keys run concurrently', async (t) => {
  const { host } = setup();
  const log: string[] = [];
  const gates = { a1: latch(), a2: latch(), b1: latch() };
  const job = (name: keyof typeof gates) => async (c: Counter) => {
    log.push(`start ${name}`);
    await gates[name].promise;
    log.push(`end ${name}`);
    return c.bump();
  };
  const a1 = host.ask('a', job('a1'));
  const a2 = host.ask('a', job('a2'));
  const b1 = host.ask('b', job('b1'));
  await turn();
  t.deepEqual(log, ['start a1', 'start b1'], 'b runs while a1 holds a; a2 waits');
  gates.b1.open();
  t.is(await b1, 1);
  gates.a2.open(); // a2's gate is open, yet it must wait for a1
  await turn();
  t.deepEqual(log, ['start a1', 'start b1', 'end b1']);
  gates.a1.open();
  t.deepEqual(await Promise.all([a1, a2]), [1, 2]);
  t.deepEqual(log, ['start a1', 'start b1', 'end b1', 'end a1', 'start a2', 'end a2']);
  t.is(host.stats().activations, 2);
});

test('actor host - activates once per key, peek neither activates nor touches', async (t) => {
  const { host, activated } = setup();
  t.is(host.peek('a'), undefined);
  t.false(host.has('a'));
  await Promise.all([host.ask('a', (c) => c.bump()), host.ask('a', (c) => c.bump())]);
  t.deepEqual(activated, ['a']);
  t.is(host.peek('a')?.n, 2);
  await host.ask('b', (c) => c.bump());
  host.peek('a');
  t.deepEqual(host.keys(), ['a', 'b'], 'peek did not make a the most recent');
  t.is(host.status('a'), ActorStatus.Active);
  t.is(host.size, 2);
});

test('actor host - activeSince lists the live actors with a message since then, least recent first', async (t) => {
  const { clock, host } = setup({ idleMs: 60_000 });
  for (const k of ['a', 'b', 'c']) await host.ask(k, (c) => c.bump()); // at 0 ms
  clock.advance(1000);
  await host.ask('d', (c) => c.bump()); // at 1000 ms
  await host.ask('a', (c) => c.bump());
  clock.advance(1000);
  t.deepEqual(
    host.activeSince(1000).map((c) => c.key),
    ['d', 'a'],
  );
  t.deepEqual(
    host.activeSince(0).map((c) => c.key),
    ['b', 'c', 'd', 'a'],
  );
  t.deepEqual(host.activeSince(2000), []);
  await host.passivate('d');
  t.deepEqual(
    host.activeSince(1000).map((c) => c.key),
    ['a'],
    'a passivated actor is not live',
  );
});

test('actor host - passivates after idleMs on the clock, and not before', async (t) => {
  const { clock, host, passivated } = setup({ idleMs: 1000 });
  await host.ask('a', (c) => c.bump());
  clock.advance(999);
  await host.idle();
  t.true(host.has('a'));
  clock.advance(1);
  await host.idle();
  t.false(host.has('a'));
  t.deepEqual(passivated, [{ key: 'a', n: 1, reason: 'idle' }]);
  t.is(clock.pending, 0, 'no timer left once nothing is resident');
});

test('actor host - a message resets idleness', async (t) => {
  const { clock, host, passivated } = setup({ idleMs: 1000, sweepMs: 100 });
  await host.ask('a', (c) => c.bump());
  clock.advance(600);
  await host.ask('a', (c) => c.bump());
  clock.advance(999); // t = 1599: 999 ms since the last message
  await host.idle();
  t.true(host.has('a'));
  t.deepEqual(passivated, []);
  clock.advance(1); // t = 1600
  await host.idle();
  t.false(host.has('a'));
  t.deepEqual(passivated, [{ key: 'a', n: 2, reason: 'idle' }]);
});

test('actor host - default sweep passivates between idleMs and idleMs + sweepMs', async (t) => {
  const { clock, host } = setup({ idleMs: 5000 }); // sweepMs defaults to 1000
  t.is(host.options.sweepMs, 1000);
  await host.ask('a', (c) => c.bump());
  clock.advance(3000);
  await host.ask('a', (c) => c.bump());
  clock.advance(4999);
  await host.idle();
  t.true(host.has('a'));
  clock.advance(1001);
  await host.idle();
  t.false(host.has('a'));
});

test('actor host - a busy actor is never passivated for idleness', async (t) => {
  const { clock, host, passivated } = setup({ idleMs: 1000 });
  const gate = latch();
  const reply = host.ask('a', async (c) => {
    await gate.promise;
    return c.bump();
  });
  await turn();
  clock.advance(10_000);
  await turn();
  t.true(host.has('a'));
  t.deepEqual(passivated, []);
  gate.open();
  t.is(await reply, 1);
  clock.advance(999); // idleness counts from when the mailbox drained
  await host.idle();
  t.true(host.has('a'));
  clock.advance(1);
  await host.idle();
  t.false(host.has('a'));
});

test('actor host - one timer per host, whatever the traffic', async (t) => {
  const { clock, host } = setup({ idleMs: 1000 });
  for (let i = 0; i < 200; i++) await host.ask(`k${i % 50}`, (c) => c.bump());
  t.is(clock.pending, 1);
});

test('actor host - at the cap, activating one more evicts the least recently used', async (t) => {
  const { host, passivated, clock } = setup({ maxActors: 3 });
  for (const key of ['a', 'b', 'c']) await host.ask(key, (c) => c.bump());
  clock.advance(10);
  await host.ask('a', (c) => c.bump()); // a is now the most recent; b the least
  await host.ask('d', (c) => c.bump());
  await host.idle();
  t.deepEqual(host.keys(), ['c', 'a', 'd']);
  t.deepEqual(host.keys(2), ['c', 'a'], 'the first two, least recent first');
  t.deepEqual(host.keys(0), []);
  t.deepEqual(host.keys(5), ['c', 'a', 'd']);
  t.deepEqual(passivated, [{ key: 'b', n: 1, reason: 'evicted' }]);
  t.like(host.stats(), { live: 3, evictions: 1, overCap: 0 });
});

test('actor host - eviction skips busy actors, and goes over the cap when all are busy', async (t) => {
  const { host, passivated } = setup({ maxActors: 2 });
  const gates = [latch(), latch(), latch()];
  const replies = ['a', 'b', 'c'].map((key, i) =>
    host.ask(key, async (c) => {
      await gates[i]!.promise;
      return c.bump();
    }),
  );
  await turn();
  t.like(host.stats(), { live: 3, evictions: 0, overCap: 1 });
  gates[1]!.open(); // b drains: now the only idle one, so it goes
  await replies[1];
  await turn();
  t.deepEqual(passivated, [{ key: 'b', n: 1, reason: 'evicted' }]);
  t.like(host.stats(), { live: 2, evictions: 1, overCap: 0 });
  gates[0]!.open();
  gates[2]!.open();
  await Promise.all(replies);
  t.deepEqual(host.keys().sort(), ['a', 'c']);
});

test('actor host - release hands back drained actors; later asks activate afresh', async (t) => {
  const { host, passivated } = setup();
  await host.ask('b', (c) => c.bump());
  const gate = latch();
  const pending = host.ask('a', async (c) => {
    await gate.promise;
    return c.bump();
  });
  const released = host.release(['a', 'b', 'missing', 'a']);
  const after = host.ask('a', (c) => c.bump()); // waits for the release, then runs fresh
  await turn();
  t.true(host.has('a'), 'a stays until its mailbox drains');
  gate.open();
  const actors = await released;
  t.deepEqual([...actors.keys()], ['a', 'b']);
  t.is(actors.get('a')?.n, 1, 'the message queued before release ran on the released actor');
  t.is(actors.get('b')?.n, 1);
  t.is(await pending, 1);
  t.is(await after, 1, 'a fresh actor');
  t.not(host.peek('a'), actors.get('a'));
  t.false(host.has('b'));
  t.deepEqual(
    passivated.map((p) => `${p.key}:${p.reason}`),
    ['b:handoff', 'a:handoff'],
  );
});

test('actor host - passivate waits for queued messages; a later ask runs on a fresh actor', async (t) => {
  const { host, passivated } = setup();
  const first = host.ask('a', (c) => c.bump());
  const done = host.passivate('a', 'evicted');
  t.is(host.status('a'), ActorStatus.Passivating);
  const second = host.ask('a', (c) => c.bump());
  await done;
  t.is(await first, 1);
  t.is(await second, 1);
  t.deepEqual(passivated, [{ key: 'a', n: 1, reason: 'evicted' }]);
  t.is(host.stats().activations, 2);
  await host.passivate('nobody'); // not resident: nothing to do
});

test('actor host - a throwing message fails the actor; queued messages run on a fresh one', async (t) => {
  const { host, passivated, errors, activated } = setup();
  const original = new Error('boom');
  const ok = host.ask('a', (c) => c.bump());
  const bad = host.ask('a', (c) => {
    c.bump();
    throw original;
  });
  const queued = host.ask('a', (c) => c.bump());
  const err = await t.throwsAsync(bad, { instanceOf: HeadroomError, message: /actor "a" failed: boom/ });
  t.is(err?.code, ErrorCode.ActorFailed);
  t.is(err?.cause, original);
  t.is(await ok, 1);
  t.is(await queued, 1, 'ran on a fresh actor, after the failed one left');
  t.is(await host.ask('a', (c) => c.bump()), 2, 'the fresh actor carries on');
  t.deepEqual(passivated, [{ key: 'a', n: 2, reason: 'failed' }]);
  t.deepEqual(
    errors.map((e) => [e.key, e.error.code]),
    [['a', ErrorCode.ActorFailed]],
  );
  t.deepEqual(activated, ['a', 'a']);
  t.like(host.stats(), { failures: 1, activations: 2, passivations: 1, live: 1 });
});

test('actor host - an async rejection takes the same failure path', async (t) => {
  const { host, passivated, errors } = setup();
  const original = new TypeError('late boom');
  const bad = host.ask('a', async (c) => {
    c.bump();
    await Promise.resolve();
    throw original;
  });
  const queued = host.ask('a', async (c) => c.bump());
  const err = await t.throwsAsync(bad, { instanceOf: HeadroomError, message: 'actor "a" failed: late boom' });
  t.is(err?.code, ErrorCode.ActorFailed);
  t.is(err?.cause, original);
  t.is(await queued, 1);
  t.deepEqual(passivated, [{ key: 'a', n: 1, reason: 'failed' }]);
  t.is(errors.length, 1);
});

test('actor host - status is failed while the failed actor passivates', async (t) => {
  const clock = new SimulatedClock(0);
  const gate = latch();
  const statuses: (string | undefined)[] = [];
  const host: ActorHost<string, Counter> = new ActorHost(
    (k, r) => new Counter(k, r),
    { clock },
    {
      onPassivate: async () => {
        statuses.push(host.status('a'));
        await gate.promise;
      },
    },
  );
  const bad = host.ask('a', () => {
    throw new Error('boom');
  });
  await turn();
  t.deepEqual(statuses, [ActorStatus.Failed]);
  gate.open();
  await t.throwsAsync(bad, { instanceOf: HeadroomError });
  t.false(host.has('a'));
});

test('actor host - a throwing factory rejects the ask and leaves nothing resident', async (t) => {
  const clock = new SimulatedClock(0);
  const errors: HeadroomError[] = [];
  const host = new ActorHost<string, Counter>(
    (key) => {
      if (key === 'bad') throw new Error('no state');
      return new Counter(key, undefined);
    },
    { clock },
    { onError: (_key, error) => void errors.push(error) },
  );
  const err = await t.throwsAsync(
    host.ask('bad', (c) => c.bump()),
    { instanceOf: HeadroomError, message: 'actor "bad" failed to activate: no state' },
  );
  t.is(err?.code, ErrorCode.ActorFailed);
  t.false(host.has('bad'));
  t.is(errors.length, 1);
  t.is(await host.ask('good', (c) => c.bump()), 1);
});

test('actor host - a throwing onPassivate is reported and the actor still leaves', async (t) => {
  const clock = new SimulatedClock(0);
  const errors: HeadroomError[] = [];
  const host = new ActorHost<string, Counter>(
    (k, r) => new Counter(k, r),
    { clock },
    {
      onPassivate: () => {
        throw new Error('disk full');
      },
      onError: (_key, error) => void errors.push(error),
    },
  );
  await host.ask('a', (c) => c.bump());
  await host.passivate('a');
  t.false(host.has('a'));
  t.is(errors.length, 1);
  t.is(errors[0]?.code, ErrorCode.Internal);
  t.regex(errors[0]?.message ?? '', /onPassivate for actor "a" threw: disk full/);
});

test('actor host - restore activates with state; a live actor keeps its own without merge', async (t) => {
  const { host } = setup();
  host.restore('a', 41);
  t.is(host.peek('a')?.n, 41);
  t.is(await host.ask('a', (c) => c.bump()), 42);
  host.restore('a', 7); // live: no merge callback, so the live state wins
  await host.idle();
  t.is(host.peek('a')?.n, 42);
});

test('actor host - restore while a passivation is queued activates afresh with the state', async (t) => {
  const { host, passivated } = setup();
  const gate = latch();
  const busy = host.ask('a', async (c) => {
    await gate.promise;
    return c.bump();
  });
  const gone = host.passivate('a', 'handoff');
  host.restore('a', 100);
  gate.open();
  t.is(await busy, 1);
  await gone;
  await host.idle();
  t.deepEqual(passivated, [{ key: 'a', n: 1, reason: 'handoff' }]);
  t.is(host.peek('a')?.n, 100);
  t.is(host.status('a'), ActorStatus.Active);
});

test('actor host - restore on a live actor goes through merge inside its mailbox', async (t) => {
  const clock = new SimulatedClock(0);
  const host = new ActorHost<string, Counter>((k, r) => new Counter(k, r), {
    clock,
    merge: (actor, restored) => {
      actor.n = Math.max(actor.n, restored as number);
    },
  });
  const gate = latch();
  const busy = host.ask('a', async (c) => {
    await gate.promise;
    return c.bump();
  });
  host.restore('a', 10);
  t.is(host.peek('a')?.n, 0, 'merge waits for the running message');
  gate.open();
  t.is(await busy, 1);
  await host.idle();
  t.is(host.peek('a')?.n, 10);
});

test('actor host - stop drains, passivates all, rejects new asks, leaves no timer', async (t) => {
  const { clock, host, passivated } = setup({ idleMs: 1000 });
  await host.ask('b', (c) => c.bump());
  const gate = latch();
  const inFlight = host.ask('a', async (c) => {
    await gate.promise;
    return c.bump();
  });
  t.true(clock.pending > 0);
  const stopped = host.stop();
  t.is(host.stop(), stopped, 'idempotent');
  const err = await t.throwsAsync(
    host.ask('c', (c) => c.bump()),
    { instanceOf: StateError, message: /actor host stopped: refused message for "c"/ },
  );
  t.is(err?.code, ErrorCode.Unavailable);
  t.true(err?.retryable);
  t.throws(() => host.restore('c', 1), { instanceOf: StateError });
  gate.open();
  await stopped;
  t.is(await inFlight, 1, 'the message queued before stop ran');
  t.deepEqual(passivated.map((p) => `${p.key}:${p.reason}`).sort(), ['a:stopped', 'b:stopped']);
  t.is(host.size, 0);
  t.is(clock.pending, 0);
  clock.advance(10_000);
  t.is(clock.pending, 0);
});

test('actor host - options are checked, every problem in one error', (t) => {
  const clock = new SimulatedClock(0);
  const make = (options: object) => () =>
    new ActorHost<string, Counter>((k, r) => new Counter(k, r), { clock, ...options });
  const err = t.throws(make({ idleMs: -1, maxActors: 1.5, idelMs: 5 }), { instanceOf: InputError });
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(err?.field, 'actorHost.idelMs');
  t.regex(err?.message ?? '', /actorHost\.idelMs is not a known option/);
  t.regex(err?.message ?? '', /actorHost\.idleMs must be a positive number of milliseconds, got -1/);
  t.regex(err?.message ?? '', /actorHost\.maxActors must be a positive integer, got 1\.5/);
  t.throws(make({ clock: {} }), { instanceOf: InputError, message: /actorHost\.clock must be a Clock/ });
  const host = make({})();
  t.like(host.options, { idleMs: 300_000, maxActors: 100_000, sweepMs: 1000 });
  t.true(Object.isFrozen(host.options));
});
