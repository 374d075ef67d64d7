// The params of a `process` pool worker's actions
// (services/pools/providers/worker-params.ts): `work`, `configure` and
// `health` accept what the provider and its tests send, and refuse anything
// else with an InputError naming the field and the value.
import test from 'ava';
import fc from 'fast-check';
import { ErrorCode, InputError } from '../../lib/index.ts';
import {
  MAX_SLOWDOWN,
  MAX_WORK_ROUNDS,
  parseConfigureParams,
  parseHealthParams,
  parseWorkParams,
} from '../../services/pools/providers/worker-params.ts';

test('worker params - good params pass, rounds default to the worker option', (t) => {
  t.deepEqual(parseWorkParams({}, 2000), { rounds: 2000 });
  t.deepEqual(parseWorkParams(null, 2000), { rounds: 2000 });
  t.deepEqual(parseWorkParams({ rounds: 50 }, 2000), { rounds: 50 });
  t.deepEqual(parseConfigureParams({ slowdown: 40 }), { slowdown: 40 });
  t.deepEqual(parseHealthParams({}), {});
});

test('worker params - bad params are InputErrors naming the field and the value', (t) => {
  const cases: Array<[() => unknown, ErrorCode, string, RegExp]> = [
    [
      () => parseWorkParams({ rounds: 1e12 }, 2000),
      ErrorCode.InvalidField,
      'params.rounds',
      /got 1000000000000/,
    ],
    [() => parseWorkParams({ rounds: '5' }, 2000), ErrorCode.InvalidField, 'params.rounds', /got "5"/],
    [() => parseWorkParams({ rounds: 0 }, 2000), ErrorCode.InvalidField, 'params.rounds', /got 0/],
    [() => parseWorkParams({ rounds: 1.5 }, 2000), ErrorCode.InvalidField, 'params.rounds', /got 1\.5/],
    [() => parseWorkParams({ round: 5 }, 2000), ErrorCode.UnknownField, 'params.round', /params\.round/],
    [() => parseWorkParams([5], 2000), ErrorCode.InvalidField, 'params', /got \[5\]/],
    [() => parseConfigureParams({}), ErrorCode.MissingField, 'params.slowdown', /required/],
    [
      () => parseConfigureParams({ slowdown: MAX_SLOWDOWN + 1 }),
      ErrorCode.InvalidField,
      'params.slowdown',
      /got 1001/,
    ],
    [() => parseConfigureParams({ slowdown: null }), ErrorCode.InvalidField, 'params.slowdown', /got null/],
    [() => parseHealthParams({ deep: true }), ErrorCode.UnknownField, 'params.deep', /params\.deep/],
  ];
  for (const [parse, code, field, message] of cases) {
    const err = t.throws(parse, { instanceOf: InputError });
    t.is(err?.code, code, field);
    t.is(err?.field, field);
    t.regex(err?.message ?? '', message);
  }
});

test('worker params - any value is a bounded valid one or a coded error (fuzz)', (t) => {
  const bounded = (v: number, max: number): boolean => Number.isInteger(v) && v >= 1 && v <= max;
  const value = fc.oneof(
    fc.jsonValue(),
    fc.record({ rounds: fc.jsonValue() }),
    fc.record({ slowdown: fc.jsonValue() }),
    fc.record({ rounds: fc.integer(), slowdown: fc.integer() }),
  );
  const parsers: Array<(p: unknown) => boolean> = [
    (p) => bounded(parseWorkParams(p, 2000).rounds, MAX_WORK_ROUNDS),
    (p) => bounded(parseConfigureParams(p).slowdown, MAX_SLOWDOWN),
    (p) => (parseHealthParams(p), true),
  ];
  for (const parse of parsers) {
    fc.assert(
      fc.property(value, (p) => {
        try {
          return parse(p);
        } catch (err) {
          return err instanceof InputError && err.field !== undefined && err.message.includes(err.field);
        }
      }),
      { seed: 20261206, numRuns: 1000 },
    );
  }
  t.pass();
});
