// The process guard on a stand-in emitter (ava's worker owns the real
// process's handlers): ownership of the two events, the log-once policy and
// the counts. test/integration/process-guard.test.ts runs it on real nodes.
import { EventEmitter } from 'node:events';
import test from 'ava';
import { ProcessGuard } from '../../services/index.ts';
import { short } from '../../services/runtime/index.ts';

interface Logged {
  errors: string[];
  warns: string[];
}

function setup(maxDistinct?: number): {
  target: EventEmitter;
  guard: ProcessGuard;
  logged: Logged;
  fatal: unknown[];
} {
  const target = new EventEmitter();
  const logged: Logged = { errors: [], warns: [] };
  const fatal: unknown[] = [];
  const guard = new ProcessGuard({
    target,
    onUncaughtException: (err) => fatal.push(err),
    log: {
      error: (...a) => logged.errors.push(a.map(String).join(' ')),
      warn: (...a) => logged.warns.push(a.map(String).join(' ')),
    },
    ...(maxDistinct === undefined ? {} : { maxDistinct }),
  });
  return { target, guard, logged, fatal };
}

const rethrow = (reason: unknown): never => {
  throw reason;
};

test('process guard - owns both events: listeners there before and added after are removed', async (t) => {
  const { target, guard, logged } = setup();
  target.on('uncaughtException', rethrow);
  guard.install();
  t.is(target.listenerCount('uncaughtException'), 1);
  t.not(target.listeners('uncaughtException')[0], rethrow);
  // As TensorFlow.js's emscripten runtime does once its wasm backend starts.
  target.on('unhandledRejection', rethrow);
  target.once('uncaughtException', rethrow);
  target.on('exit', rethrow); // other events are not the guard's business
  await Promise.resolve();
  t.is(target.listenerCount('unhandledRejection'), 1);
  t.is(target.listenerCount('uncaughtException'), 1);
  t.is(target.listenerCount('exit'), 1);
  t.is(guard.removedForeign, 3);
  t.is(logged.warns.length, 3);
  t.regex(
    logged.warns[1] ?? '',
    /removed an unhandledRejection listener added by .*process-guard\.test\.ts:\d+:\d+/,
  );
  // A foreign rejection handler that re-throws would have killed the process; the guard's counts it.
  t.notThrows(() => target.emit('unhandledRejection', new Error('boom'), Promise.resolve()));
  t.deepEqual(guard.counts, { rejections: 1, exceptions: 0 });
  guard.uninstall();
  t.is(target.listenerCount('unhandledRejection'), 0);
  t.is(target.listenerCount('newListener'), 0);
  target.on('unhandledRejection', rethrow);
  await Promise.resolve();
  t.is(target.listenerCount('unhandledRejection'), 1, 'uninstalled: no longer removes');
});

test('process guard - a rejection is counted every time and logged once per message, short', (t) => {
  const { target, guard, logged, fatal } = setup();
  guard.install();
  const huge = new Error(`boom ${'x'.repeat(36_000)}`);
  huge.stack = `Error: boom\n${Array.from({ length: 50 }, (_, i) => `    at f${i} (/a/${'y'.repeat(5000)}.js:1:${i})`).join('\n')}`;
  for (let i = 0; i < 5; i++) target.emit('unhandledRejection', huge);
  target.emit('unhandledRejection', new Error('other'));
  target.emit('unhandledRejection', 'a string reason');
  t.deepEqual(guard.counts, { rejections: 7, exceptions: 0 });
  t.is(logged.errors.length, 3);
  const first = logged.errors[0] ?? '';
  t.regex(
    first,
    /^unhandled rejection \(the node keeps serving\); later ones with this message are only counted: Error: boom x+\.\.\./,
  );
  t.true(first.length < 1200, `${first.length} characters`);
  t.is(first.split('\n').length, 4, 'the message and 3 stack lines');
  t.regex(logged.errors[2] ?? '', /non-error string: a string reason/);
  t.deepEqual(fatal, []);
  guard.uninstall();
});

test('process guard - the first uncaught exception asks the node to leave; later ones are counted only', (t) => {
  const { target, guard, logged, fatal } = setup();
  guard.install();
  const a = new Error('first');
  target.emit('uncaughtException', a, 'uncaughtException');
  target.emit('uncaughtException', new Error('second'), 'uncaughtException');
  t.deepEqual(fatal, [a]);
  t.deepEqual(guard.counts, { rejections: 0, exceptions: 2 });
  t.is(logged.errors.length, 2);
  t.regex(
    logged.errors[0] ?? '',
    /^uncaught exception \(the node leaves and exits with code 1\).*Error: first/,
  );
  guard.uninstall();
});

test('process guard - distinct messages are logged up to a bound, then only counted', (t) => {
  const { target, guard, logged } = setup(3);
  guard.install();
  for (let i = 0; i < 10; i++) target.emit('unhandledRejection', new Error(`e${i}`));
  t.is(guard.counts.rejections, 10);
  t.is(logged.errors.length, 4);
  t.regex(logged.errors[3] ?? '', /more than 3 distinct errors; new ones are only counted/);
  guard.uninstall();
});

test('process guard - short() renders any reason in bounded size', (t) => {
  t.is(short(new TypeError('bad')).split('\n')[0], 'TypeError: bad');
  t.is(short({ a: 1 }), 'non-error object: {"a":1}');
  t.is(short(undefined), 'non-error undefined: undefined');
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  t.is(short(cyclic), 'non-error object: [object Object]');
  t.true(short('z'.repeat(100_000)).length <= 300);
});
