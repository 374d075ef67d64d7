import test from 'ava';
import {
  compileRule,
  ErrorCode,
  InputError,
  parseRule,
  ruleApplies,
  ruleIdOfToken,
  RuleMode,
  RuleSet,
  SimulatedClock,
  tokenKeyOf,
} from '../../lib/index.ts';
import type { CompiledRule } from '../../lib/index.ts';

const rule = (input: Record<string, unknown>): CompiledRule =>
  compileRule(parseRule({ key: ['user'], rate: 10, period: '1s', ...input }));

test('rules - defaults are filled and the period is kept as given', (t) => {
  const spec = parseRule({ id: 'per-user', key: ['user'], rate: 100, period: '1m' });
  t.deepEqual(spec, {
    id: 'per-user',
    match: {},
    key: ['user'],
    rate: 100,
    period: '1m',
    burst: 100,
    priority: 0,
    mode: RuleMode.Enforce,
  });
  const c = compileRule(spec);
  t.deepEqual(c.limit, { rate: 100, periodMs: 60_000, burst: 100 });
  t.is(parseRule({ id: 'slow', key: ['u'], rate: 0.5, period: '1000ms' }).burst, 1); // burst >= 1
});

test('rules - a full rule round-trips through JSON', (t) => {
  const input = {
    id: 'tenant.gold:reads_v2',
    match: { op: ['GetItem', 'Query'], tier: 'gold', beta: true },
    key: ['tenant', 'op'],
    rate: 500,
    period: '1s',
    burst: 1000,
    priority: 10,
    mode: 'shadow',
    effectiveFrom: '2026-12-01T00:00:00Z',
    effectiveUntil: '2026-12-02T00:00:00+01:00',
  };
  const spec = parseRule(JSON.parse(JSON.stringify(input)));
  t.deepEqual(spec, input);
  t.deepEqual(parseRule(JSON.parse(JSON.stringify(spec))), spec);
  const c = compileRule(spec);
  t.is(c.fromMs, Date.UTC(2026, 11, 1));
  t.is(c.untilMs, Date.UTC(2026, 11, 1, 23));
});

test('rules - every problem is reported in one error; field and code are the first', (t) => {
  const err = t.throws(
    () =>
      parseRule({
        id: 'a b',
        rate: -3,
        period: 'soon',
        burst: 0,
        mode: 'loud',
        colour: 'red',
        priority: 1.5,
      }),
    { instanceOf: InputError },
  );
  t.is(err?.code, ErrorCode.UnknownField);
  t.is(err?.field, 'rule.colour');
  t.is(
    err?.message,
    [
      'rule.colour is not a known field',
      'rule.id must be 1 to 128 characters of A-Z a-z 0-9 _ . : -, got "a b"',
      'rule.key is required (a non-empty array of at most 16 distinct param names)',
      'rule.rate must be a positive number of at most 1000000000, got -3',
      'rule.period must be a string of a whole number and a unit (ms, s, m, h, d) from "1ms" to "7d", like "1s", got "soon"',
      'rule.burst must be a number from 1 to 1000000000, got 0',
      'rule.priority must be an integer, got 1.5',
      'rule.mode must be "enforce" or "shadow", got "loud"',
    ].join('; '),
  );
});

test('rules - missing fields have their own code', (t) => {
  const err = t.throws(() => parseRule({ key: ['u'] }), { instanceOf: InputError });
  t.is(err?.code, ErrorCode.MissingField);
  t.is(err?.field, 'rule.id');
  t.regex(err?.message ?? '', /rule\.rate is required.*rule\.period is required/);
});

test('rules - bad shapes of each field are refused', (t) => {
  const base = { id: 'r', key: ['u'], rate: 1, period: '1s' };
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ id: 'x'.repeat(129) }, 'rule.id', /must be 1 to 128/],
    [{ id: 7 }, 'rule.id', /got 7/],
    [{ key: [] }, 'rule.key', /non-empty array/],
    [{ key: ['u', 'u'] }, 'rule.key', /distinct/],
    [{ key: [''] }, 'rule.key', /got \[""\]/],
    [{ key: 'u' }, 'rule.key', /got "u"/],
    [{ key: Array.from({ length: 17 }, (_, i) => `k${i}`) }, 'rule.key', /at most 16/],
    [{ match: [] }, 'rule.match', /an object/],
    [{ match: { op: [] } }, 'rule.match.op', /non-empty array of them, got \[\]/],
    [{ match: { op: null } }, 'rule.match.op', /got null/],
    [{ match: { op: [{}] } }, 'rule.match.op', /got \[\{\}\]/],
    [{ rate: Number.POSITIVE_INFINITY }, 'rule.rate', /positive number of at most 1000000000, got Infinity/],
    [{ rate: '10' }, 'rule.rate', /got "10"/],
    [{ burst: Number.NaN }, 'rule.burst', /got NaN/],
    [{ effectiveFrom: 'tomorrow' }, 'rule.effectiveFrom', /ISO-8601 date-time.*got "tomorrow"/],
    [{ effectiveFrom: '2026-13-01T00:00:00Z' }, 'rule.effectiveFrom', /got "2026-13-01T00:00:00Z"/],
    [{ effectiveUntil: 1764547200000 }, 'rule.effectiveUntil', /ISO-8601/],
    [
      { effectiveFrom: '2026-12-02T00:00:00Z', effectiveUntil: '2026-12-01T00:00:00Z' },
      'rule.effectiveUntil',
      /^rule\.effectiveUntil must be after effectiveFrom \("2026-12-02T00:00:00Z"\), got "2026-12-01T00:00:00Z"$/,
    ],
  ];
  for (const [patch, field, message] of cases) {
    const err = t.throws(() => parseRule({ ...base, ...patch }), { instanceOf: InputError, message }, field);
    t.is(err?.field, field);
    t.is(err?.code, ErrorCode.InvalidField);
  }
  t.throws(() => parseRule(null, 'body'), {
    instanceOf: InputError,
    message: 'body must be an object, got null',
  });
});

test('rules - selectors match on String() of values, arrays meaning any of them', (t) => {
  const r = rule({ id: 'r', match: { op: ['GetItem', 'Query'], shard: 1, beta: true }, key: ['user'] });
  const params = { user: 'u1', op: 'Query', shard: '1', beta: 'true' };
  t.true(ruleApplies(r, params, 0));
  t.true(ruleApplies(r, { ...params, op: 'GetItem', shard: 1, beta: true }, 0));
  t.false(ruleApplies(r, { ...params, op: 'PutItem' }, 0));
  t.false(ruleApplies(r, { ...params, shard: 2 }, 0));
  const { op: _op, ...noOp } = params;
  t.false(ruleApplies(r, noOp, 0));
  const { user: _user, ...noUser } = params;
  t.false(ruleApplies(r, noUser, 0), 'a key field must be present');
});

test('rules - effective dates bound when a rule applies', (t) => {
  const clock = new SimulatedClock(Date.UTC(2026, 10, 30));
  const r = rule({
    id: 'sale',
    effectiveFrom: '2026-12-01T00:00:00Z',
    effectiveUntil: '2026-12-02T00:00:00Z',
  });
  const p = { user: 'u1' };
  t.false(ruleApplies(r, p, clock.now()), 'not yet');
  clock.set(Date.UTC(2026, 11, 1) - 1);
  t.false(ruleApplies(r, p, clock.now()));
  clock.advance(1);
  t.true(ruleApplies(r, p, clock.now()), 'from is inclusive');
  clock.set(Date.UTC(2026, 11, 2) - 1);
  t.true(ruleApplies(r, p, clock.now()));
  clock.advance(1);
  t.false(ruleApplies(r, p, clock.now()), 'until is exclusive: expired');
});

test('rules - token keys are deterministic, unambiguous and type-blind', (t) => {
  const r = rule({ id: 'per-user', key: ['user', 'op'] });
  t.is<string, string>(
    tokenKeyOf(r, { op: 'GetItem', user: 'u1', other: 'x' }),
    'per-user|user=u1|op=GetItem',
  );
  t.is(tokenKeyOf(r, { user: 1, op: true }), tokenKeyOf(r, { user: '1', op: 'true' }));
  const a = tokenKeyOf(r, { user: 'a|op=b', op: 'c' });
  const b = tokenKeyOf(r, { user: 'a', op: 'b|op=c' });
  t.not(a, b);
  t.is<string, string>(a, 'per-user|user=a%7Cop%3Db|op=c');
  t.not(tokenKeyOf(r, { user: '%7C', op: 'x' }), tokenKeyOf(r, { user: '|', op: 'x' }));
  t.is(ruleIdOfToken(a), 'per-user');
  t.not(
    tokenKeyOf(rule({ id: 'other', key: ['user', 'op'] }), { user: 'u1', op: 'GetItem' }),
    tokenKeyOf(r, { user: 'u1', op: 'GetItem' }),
  );
});

test('rules - a rule set orders by priority then id, and finds by id', (t) => {
  const rs = new RuleSet([
    rule({ id: 'b', priority: 1 }),
    rule({ id: 'a', priority: 1 }),
    rule({ id: 'top', priority: 5 }),
    rule({ id: 'ops', match: { op: 'Scan' } }),
    rule({ id: 'low', priority: -1 }),
  ]);
  t.deepEqual(
    rs.rules.map((r) => r.id),
    ['top', 'a', 'b', 'ops', 'low'],
  );
  t.deepEqual(
    rs.matching({ user: 'u', op: 'Get' }, 0).map((r) => r.id),
    ['top', 'a', 'b', 'low'],
  );
  t.deepEqual(
    rs.matching({ user: 'u', op: 'Scan' }, 0).map((r) => r.id),
    ['top', 'a', 'b', 'ops', 'low'],
  );
  t.deepEqual(rs.matching({ op: 'Scan' }, 0), []);
  t.is(rs.get('ops')?.id, 'ops');
  t.is(rs.get('nope'), undefined);
  t.throws(() => new RuleSet([rule({ id: 'a' }), rule({ id: 'a' })]), {
    instanceOf: InputError,
    message: 'rules must have distinct ids, got "a" twice',
  });
});

test('rules - a "__proto__" selector is a plain selector', (t) => {
  const spec = parseRule(
    JSON.parse('{"id":"p","key":["u"],"rate":1,"period":"1s","match":{"__proto__":"x"}}'),
  );
  t.deepEqual(Object.keys(spec.match), ['__proto__']);
  const r = compileRule(spec);
  t.false(ruleApplies(r, { u: '1' }, 0));
  t.true(ruleApplies(r, JSON.parse('{"u":"1","__proto__":"x"}'), 0));
});

test('rules - inherited properties of params are not params', (t) => {
  const r = rule({ id: 'p', key: ['toString'], match: { constructor: 'x' } });
  t.false(ruleApplies(r, {}, 0));
  const k = rule({ id: 'k', key: ['toString'] });
  t.false(ruleApplies(k, {}, 0));
  t.is<string, string>(tokenKeyOf(k, {}), 'k|toString=');
  t.is<string, string>(tokenKeyOf(k, { toString: 'a' }), 'k|toString=a');
});
