import test from 'ava';
import { ErrorCode, InputError, parseCost, parseParams } from '../../lib/index.ts';

test('params - accepts strings, finite numbers and booleans, returning a frozen copy', (t) => {
  const input = { user: 'u1', op: 'GetItem', n: 3, beta: true };
  const p = parseParams(input);
  t.deepEqual(p, input);
  t.not(p, input);
  t.true(Object.isFrozen(p));
  t.deepEqual(parseParams({}), {});
});

test('params - a "__proto__" key stays a plain key', (t) => {
  const p = parseParams(JSON.parse('{"__proto__": "x", "a": 1}'));
  t.is(Object.getPrototypeOf(p), Object.prototype);
  t.deepEqual(Object.keys(p), ['__proto__', 'a']);
});

test('params - bad values name the entry and the value', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ user: null }, /^params\.user must be a string of at most 256 characters.*got null$/],
    [{ user: { id: 1 } }, /^params\.user must be .*got \{"id":1\}$/],
    [{ n: Number.NaN }, /^params\.n must be .*got NaN$/],
    [{ s: 'x'.repeat(257) }, /^params\.s must be a string of at most 256/],
    [{ a: [1] }, /^params\.a must be/],
    [[], /^params must be an object of parameters, got \[\]$/],
    ['user=u1', /^params must be an object/],
    [null, /^params must be an object/],
    [new Date(0), /^params must be an object/],
    [{ ['k'.repeat(65)]: 1 }, /^params key must be 1 to 64 characters long/],
    [{ '': 1 }, /^params key must be 1 to 64 characters long, got ""$/],
    [
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])),
      /at most 64 parameters, got "65 keys"$/,
    ],
  ];
  for (const [input, message] of cases) {
    const err = t.throws(() => parseParams(input), { instanceOf: InputError, message });
    t.is(err?.code, ErrorCode.InvalidField);
  }
  t.throws(() => parseParams({ x: undefined }, 'body.params'), {
    instanceOf: InputError,
    message: /^body\.params\.x must be/,
  });
});

test('params - cost defaults to 1 and must be in (0, 1e9]', (t) => {
  t.is(parseCost(undefined), 1);
  t.is(parseCost(0.25), 0.25);
  t.is(parseCost(1e9), 1e9);
  for (const bad of [0, -1, 1e9 + 1, Number.NaN, Number.POSITIVE_INFINITY, '1', null]) {
    t.throws(() => parseCost(bad), {
      instanceOf: InputError,
      message: /^cost must be a number greater than 0 and at most 1000000000, got /,
    });
  }
});
