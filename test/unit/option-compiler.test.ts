// lib/options.ts: the one option compiler every option set uses.
import test from 'ava';
import {
  ErrorCode,
  InputError,
  SimulatedClock,
  compileOptionsObject,
  isPlainObject,
  isThenable,
  mergeOptions,
  optClock,
  optFunction,
  optPositiveInt,
  optPositiveMs,
  optStrictInt,
  unknownKeysFirst,
} from '../../lib/index.ts';
import type { Clock, OptionSchema } from '../../lib/index.ts';

interface Demo {
  count: number;
  waitMs: number;
  clock: Clock;
  hook: (() => void) | undefined;
}

const schema: OptionSchema<Demo> = {
  count: optPositiveInt,
  waitMs: optPositiveMs,
  clock: optClock,
  hook: optFunction<Demo['hook']>(),
};
const clock = new SimulatedClock(0);

test('option compiler - an object over the defaults, frozen, required keys present', (t) => {
  const o = compileOptionsObject<Demo>('demo', schema, { count: 1, waitMs: 10, hook: undefined }, { clock }, [
    'clock',
  ]);
  t.deepEqual({ ...o }, { count: 1, waitMs: 10, hook: undefined, clock });
  t.true(Object.isFrozen(o));
  t.like(compileOptionsObject<Demo>('demo', schema, {}, { count: 3, waitMs: 0.5, clock }), {
    count: 3,
    waitMs: 0.5,
  });
});

test('option compiler - every problem in one InvalidOptions error, in input order, required last', (t) => {
  const err = t.throws(
    () =>
      compileOptionsObject<Demo>('demo', schema, {}, { count: 1.5, colour: 1, waitMs: -1, hook: 3 }, [
        'clock',
      ]),
    { instanceOf: InputError },
  );
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(err?.field, 'demo.count');
  t.is(
    err?.message,
    'demo.count must be a positive integer, got 1.5; ' +
      'demo.colour is not a known option (known: count, waitMs, clock, hook); ' +
      'demo.waitMs must be a positive number of milliseconds, got -1; ' +
      'demo.hook must be a function, got 3; ' +
      'demo.clock is required',
  );
  for (const input of [undefined, null, [], 'x']) {
    t.throws(() => compileOptionsObject<Demo>('demo', schema, {}, input), {
      instanceOf: InputError,
      message: /^demo must be an object, got /,
    });
  }
});

test('option compiler - unknownKeysFirst moves misspelt keys to the front, the rest in order', (t) => {
  const { problems } = mergeOptions('demo', schema, {}, [{ count: 0, cuont: 1, waitMs: 0 }]);
  t.deepEqual(
    unknownKeysFirst('demo', schema, problems).map((p) => p.field),
    ['demo.cuont', 'demo.count', 'demo.waitMs'],
  );
});

test('option compiler - strict parsers take numbers only; optClock wants the whole Clock', (t) => {
  t.is(optStrictInt(1, 10)(10, 'n'), 10);
  t.throws(() => optStrictInt(1, 10)('5', 'n'), { message: 'n must be an integer from 1 to 10, got "5"' });
  t.throws(() => optStrictInt(1, 10)(11, 'n'), { message: 'n must be an integer from 1 to 10, got 11' });
  t.throws(() => optPositiveInt('3', 'n'), { message: 'n must be a positive integer, got "3"' });
  t.throws(() => optPositiveInt(0, 'n'), { message: 'n must be a positive integer, got 0' });
  t.throws(() => optPositiveMs(Number.POSITIVE_INFINITY, 'ms'), {
    message: 'ms must be a positive number of milliseconds, got Infinity',
  });
  t.is(optClock(clock, 'c'), clock);
  t.throws(() => optClock({ now: () => 0, setTimeout: () => 0 }, 'c'), {
    instanceOf: InputError,
    message: /^c must be a Clock \(now, setTimeout, clearTimeout\)/,
  });
});

test('guards - isPlainObject and isThenable', (t) => {
  t.true(isPlainObject({}));
  t.true(isPlainObject(Object.create(null)));
  t.true(isPlainObject(JSON.parse('{"a":1}')));
  for (const v of [null, [], new Date(0), 'x', 1, undefined]) t.false(isPlainObject(v));
  t.true(isThenable(Promise.resolve(1)));
  t.true(isThenable({ then: () => undefined }));
  const fn = Object.assign(() => undefined, { then: () => undefined });
  t.true(isThenable(fn));
  for (const v of [null, undefined, 1, {}, { then: 1 }]) t.false(isThenable(v));
});
