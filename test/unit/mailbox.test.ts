import test from 'ava';
import { mulberry32 } from '../../lib/index.ts';
import { Mailbox } from '../../actors/index.ts';

// Yields a random number of microtask turns, sometimes a macrotask turn
// (setImmediate: an event-loop turn, not a timed sleep).
async function randomYield(rand: () => number): Promise<void> {
  const turns = Math.floor(rand() * 5);
  for (let i = 0; i < turns; i++) await Promise.resolve();
  if (rand() < 0.2) await new Promise<void>((resolve) => setImmediate(resolve));
}

test('mailbox - interleaved async tasks run strictly in arrival order, one at a time', async (t) => {
  for (const seed of [1, 2, 3, 42]) {
    const rand = mulberry32(seed);
    const box = new Mailbox();
    const events: string[] = [];
    const arrival: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const replies: Promise<number>[] = [];
    // Four producers enqueue concurrently, each after random awaits.
    await Promise.all(
      [0, 1, 2, 3].map(async (producer) => {
        for (let i = 0; i < 10; i++) {
          await randomYield(rand);
          const id = producer * 100 + i;
          arrival.push(id);
          replies.push(
            box.enqueue(async () => {
              running++;
              maxRunning = Math.max(maxRunning, running);
              events.push(`start ${id}`);
              await randomYield(rand);
              events.push(`end ${id}`);
              running--;
              return id;
            }),
          );
        }
      }),
    );
    t.deepEqual(await Promise.all(replies), arrival, `seed ${seed}: results`);
    t.deepEqual(
      events,
      arrival.flatMap((id) => [`start ${id}`, `end ${id}`]),
      `seed ${seed}: each task ends before the next starts, in arrival order`,
    );
    t.is(maxRunning, 1);
    t.is(box.length, 0);
  }
});

test('mailbox - a throwing task rejects only its own promise', async (t) => {
  const box = new Mailbox();
  const ran: string[] = [];
  const a = box.enqueue(() => {
    ran.push('a');
    return 'a';
  });
  const b = box.enqueue(() => {
    ran.push('b');
    throw new Error('sync boom');
  });
  const c = box.enqueue(async () => {
    ran.push('c');
    await Promise.resolve();
    throw new Error('async boom');
  });
  const d = box.enqueue(async () => {
    ran.push('d');
    return 'd';
  });
  t.is(await a, 'a');
  await t.throwsAsync(b, { instanceOf: Error, message: 'sync boom' });
  await t.throwsAsync(c, { instanceOf: Error, message: 'async boom' });
  t.is(await d, 'd');
  t.deepEqual(ran, ['a', 'b', 'c', 'd']);
});

test('mailbox - a task never starts inside enqueue', async (t) => {
  const box = new Mailbox();
  let started = false;
  const p = box.enqueue(() => {
    started = true;
  });
  t.false(started);
  await p;
  t.true(started);
});

test('mailbox - length counts queued plus running; idle resolves when empty', async (t) => {
  const box = new Mailbox();
  await box.idle(); // already empty: resolves at once
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const lengths: number[] = [];
  const first = box.enqueue(async () => {
    lengths.push(box.length);
    await gate;
  });
  const second = box.enqueue(() => lengths.push(box.length));
  t.is(box.length, 2);
  let idle = false;
  const idlePromise = box.idle().then(() => (idle = true));
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.false(idle, 'idle waits for the running task');
  t.is(box.length, 2);
  release();
  await Promise.all([first, second, idlePromise]);
  t.true(idle);
  t.deepEqual(lengths, [2, 1], 'a running task still counts itself');
  t.is(box.length, 0);
});

test('mailbox - a long queue keeps order across internal compaction', async (t) => {
  const box = new Mailbox();
  const order: number[] = [];
  const replies: Promise<void>[] = [];
  for (let i = 0; i < 5000; i++) replies.push(box.enqueue(() => void order.push(i)));
  // Enqueue more while it drains, so compaction happens with work behind it.
  const late = box.enqueue(() => {
    for (let i = 5000; i < 6000; i++) replies.push(box.enqueue(() => void order.push(i)));
  });
  await late;
  await box.idle();
  await Promise.all(replies);
  t.is(order.length, 6000);
  t.true(
    order.every((v, i) => v === i),
    'every task ran once, in order',
  );
});
