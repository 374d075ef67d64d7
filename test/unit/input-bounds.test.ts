// Bounds on rule input (issue 10): one id validator for rules.put, get and
// delete; rule periods strings from 1ms to 7d; rates and bursts finite and at
// most 1e9; rules stored before these bounds still load with the same limit.
import test from 'ava';
import {
  ErrorCode,
  InputError,
  MAX_RULE_PERIOD_MS,
  MAX_RULE_RATE,
  compileRule,
  isRuleId,
  parseIdRequest,
  parseRule,
  parseRulePeriodMs,
  parseStoredRule,
} from '../../lib/index.ts';

const BASE = { id: 'r', key: ['user'], rate: 10, period: '1s' };

test('rule ids - put, get and delete accept and refuse the same ids', (t) => {
  const good = ['a', 'per-user', 'tenant.gold:reads_v2', 'x'.repeat(128), 'A-Z_0.9:'];
  const bad: unknown[] = [
    '',
    'a b',
    'x'.repeat(129),
    'x'.repeat(5000),
    'é',
    'a/b',
    'a*',
    'a>',
    7,
    null,
    ['a'],
  ];
  for (const id of good) {
    t.true(isRuleId(id), id);
    t.is(parseRule({ ...BASE, id }).id, id);
    t.is(parseIdRequest({ id }), id);
  }
  for (const id of bad) {
    t.false(isRuleId(id), String(id));
    const put = t.throws(() => parseRule({ ...BASE, id }), { instanceOf: InputError });
    t.is(put.code, ErrorCode.InvalidField);
    t.is(put.field, 'rule.id');
    const get = t.throws(() => parseIdRequest({ id }), { instanceOf: InputError });
    t.is(get.code, ErrorCode.InvalidField);
    t.is(get.field, 'id');
    // The message names the field and a short form of the value, never all 5,000 characters.
    t.regex(get.message, /^id must be 1 to 128 characters of A-Z a-z 0-9 _ \. : -, got /);
    t.true(get.message.length < 200, `${get.message.length} characters`);
  }
  const missing = t.throws(() => parseIdRequest({}), { instanceOf: InputError });
  t.is(missing.code, ErrorCode.MissingField);
  t.is(missing.field, 'id');
});

test('rule periods - strings of a whole count and a unit, from 1ms to 7d', (t) => {
  const good: Array<[string, number]> = [
    ['1ms', 1],
    ['250ms', 250],
    ['1s', 1000],
    ['90s', 90_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['7d', MAX_RULE_PERIOD_MS],
    ['168h', MAX_RULE_PERIOD_MS],
    ['604800000ms', MAX_RULE_PERIOD_MS],
  ];
  for (const [period, ms] of good) {
    t.is(parseRulePeriodMs('rule.period', period), ms, period);
    t.is(compileRule(parseRule({ ...BASE, period })).limit.periodMs, ms, period);
    t.is(parseRule({ ...BASE, period }).period, period, 'kept as given');
  }
  const bad: unknown[] = [
    1000,
    0.5,
    '1000',
    '1.5s',
    '0ms',
    '0s',
    '-1s',
    '8d',
    '100000d',
    '604800001ms',
    '1e3ms',
    ' 1s',
    '1 s',
    '1S',
    '1w',
    'Infinityms',
    '9999999999999ms',
    '',
    null,
    ['1s'],
  ];
  for (const period of bad) {
    const err = t.throws(() => parseRule({ ...BASE, period }), { instanceOf: InputError }, String(period));
    t.is(err.code, ErrorCode.InvalidField);
    t.is(err.field, 'rule.period');
    t.regex(err.message, /^rule\.period must be a string of a whole number and a unit .* from "1ms" to "7d"/);
  }
  const missing = t.throws(() => parseRule({ id: 'r', key: ['u'], rate: 1 }), { instanceOf: InputError });
  t.is(missing.code, ErrorCode.MissingField);
  t.is(missing.field, 'rule.period');
});

test('rule rates and bursts - finite, greater than 0 (burst at least 1), at most 1e9', (t) => {
  t.is(MAX_RULE_RATE, 1e9);
  t.is(parseRule({ ...BASE, rate: 1e9, burst: 1e9 }).rate, 1e9);
  t.is(parseRule({ ...BASE, rate: 0.001 }).burst, 1);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ rate: 1e308 }, 'rule.rate'],
    [{ rate: 1e9 + 1 }, 'rule.rate'],
    [{ rate: 0 }, 'rule.rate'],
    [{ rate: -1 }, 'rule.rate'],
    [{ rate: Number.NaN }, 'rule.rate'],
    [{ rate: Number.POSITIVE_INFINITY }, 'rule.rate'],
    [{ rate: '5' }, 'rule.rate'],
    [{ burst: 1e308 }, 'rule.burst'],
    [{ burst: 1e9 + 1 }, 'rule.burst'],
    [{ burst: 0.5 }, 'rule.burst'],
    [{ burst: Number.POSITIVE_INFINITY }, 'rule.burst'],
    [{ burst: '5' }, 'rule.burst'],
  ];
  for (const [patch, field] of cases) {
    const err = t.throws(
      () => parseRule({ ...BASE, ...patch }),
      { instanceOf: InputError },
      JSON.stringify(patch),
    );
    t.is(err.code, ErrorCode.InvalidField);
    t.is(err.field, field);
    t.regex(err.message, /(at most|from 1 to) 1000000000/);
  }
  // A rate of 1e308 used to be accepted and then defaulted the burst to 1e308 too.
  const huge = t.throws(() => parseRule({ ...BASE, rate: 1e308 }), { instanceOf: InputError });
  t.notRegex(huge.message, /rule\.burst/);
});

test('stored rules - a legacy period keeps its limit as "<n>ms"; the rest is validated as put does', (t) => {
  const legacy: Array<[unknown, string]> = [
    [1000, '1000ms'],
    ['1.5s', '1500ms'],
    ['0.25s', '250ms'],
    [86_400_000 * 7, '604800000ms'],
  ];
  for (const [period, now] of legacy) {
    const spec = parseStoredRule({ ...BASE, period }, 'kv rules/r');
    t.is(spec.period, now, String(period));
    t.is(compileRule(spec).limit.periodMs, parseRulePeriodMs('p', now));
  }
  // Already strict: untouched.
  t.is(parseStoredRule({ ...BASE, period: '7d' }).period, '7d');
  // Not a whole ms, or beyond the bound, or not a duration at all: refused, naming the store's field.
  for (const period of [0.5, '0.5ms', '8d', 1e12, 'soon', -1]) {
    const err = t.throws(() => parseStoredRule({ ...BASE, period }, 'kv rules/r'), {
      instanceOf: InputError,
    });
    t.is(err.field, 'kv rules/r.period', String(period));
  }
  // Other fields are held to the new bounds too.
  const rate = t.throws(() => parseStoredRule({ ...BASE, period: 1000, rate: 1e308 }), {
    instanceOf: InputError,
  });
  t.is(rate.field, 'rule.rate');
  t.throws(() => parseStoredRule(null), { instanceOf: InputError, message: /rule must be an object/ });
});

test('rule refs - a compiled period written back as "<ms>ms" compiles to the same limit', (t) => {
  // throttle-node rebuilds a rule from a ref's periodMs this way.
  for (const period of ['1ms', '250ms', '1s', '1m', '1h', '7d']) {
    const a = compileRule(parseRule({ ...BASE, period }));
    const b = compileRule(parseRule({ ...BASE, period: `${a.limit.periodMs}ms` }));
    t.deepEqual(b.limit, a.limit, period);
  }
});
