// lib/api-schema.ts parseCheckRequest/parseBatchRequest and lib/params.ts
// parseParams take a fast path for ordinary requests (no field names built,
// no key lists). Differential test: every input gets what the plain
// validation (the oracle below, the code before the fast path) gives: the
// same request, or the same error, field and value.
import test from 'ava';
import {
  ErrorCode,
  InputError,
  invalidField,
  isPlainObject,
  batchColumns,
  parseBatchRequest,
  parseCheckRequest,
  parseCheckRequests,
  parseCost,
  parseParams,
  rejectUnknown,
} from '../../lib/index.ts';
import type { Params } from '../../lib/index.ts';

/** The validation without a fast path. */
function oracle(body: unknown, field: string): unknown {
  if (!isPlainObject(body)) throw invalidField(field || 'request', 'a JSON object', body);
  rejectUnknown(body, ['params', 'cost'], field);
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  if (body['params'] === undefined) {
    throw new InputError(ErrorCode.MissingField, `${at('params')} is required`, { field: at('params') });
  }
  const value = body['params'];
  if (!isPlainObject(value)) throw invalidField(at('params'), 'an object of parameters', value);
  // parseParams' own strict checks, reached through a copy that has no fast path.
  const params = parseParams(Object.assign(Object.create(null) as object, value), at('params'));
  return { params: Object.freeze({ ...params }), cost: parseCost(body['cost'], at('cost')) };
}

type Outcome =
  { ok: unknown; keys: string[]; frozen: boolean } | { code: string; message: string; field?: string };

function outcome(f: () => unknown): Outcome {
  try {
    const r = f() as { params: object };
    return { ok: r, keys: Object.keys(r.params), frozen: Object.isFrozen(r.params) };
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const body = err.toBody();
    return {
      code: body.code,
      message: body.message,
      ...(body.field === undefined ? {} : { field: body.field }),
    };
  }
}

const proto = JSON.parse('{"params": {"__proto__": "x", "user": "u1"}}') as unknown;
const inherited = Object.assign(Object.create({ extra: 1 }) as object, { user: 'u1' });
const many = (n: number): Record<string, number> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

const CASES: unknown[] = [
  { params: { user: 'u1', op: 'GetItem' } },
  { params: { user: 'u1' }, cost: 2.5 },
  { params: {} },
  { params: { n: 3, b: false, '7': 'x', a: 'y' } },
  { params: { s: 'x'.repeat(256) } },
  { params: { s: 'x'.repeat(257) } },
  { params: { ['k'.repeat(64)]: 1 } },
  { params: { ['k'.repeat(65)]: 1 } },
  { params: { '': 1 } },
  { params: many(64) },
  { params: many(65) },
  { params: { user: null } },
  { params: { user: Number.NaN } },
  { params: { user: Number.POSITIVE_INFINITY } },
  { params: { user: [1] } },
  { params: { user: { id: 1 } } },
  { params: { user: undefined } },
  { params: [] },
  { params: null },
  { params: 'user=u1' },
  { params: new Date(0) },
  { params: inherited },
  proto,
  { params: Object.assign(Object.create(null) as object, { user: 'u1' }) },
  { params: { user: 'u1' }, cost: 0 },
  { params: { user: 'u1' }, cost: -1 },
  { params: { user: 'u1' }, cost: 1e9 },
  { params: { user: 'u1' }, cost: 1e9 + 1 },
  { params: { user: 'u1' }, cost: Number.NaN },
  { params: { user: 'u1' }, cost: '1' },
  { params: { user: 'u1' }, cost: null },
  { params: { user: 'u1' }, extra: true },
  { cost: 1 },
  {},
  { params: undefined },
  [],
  null,
  'check',
  Object.assign(Object.create({ params: { user: 'u1' } }) as object, {}),
];

test('check parse - each request gets what plain validation gives: the same request or the same error', (t) => {
  for (const [i, body] of CASES.entries()) {
    for (const field of ['', 'requests[7]']) {
      t.deepEqual(
        outcome(() => parseCheckRequest(body, field)),
        outcome(() => oracle(body, field)),
        `case ${i}, field "${field}"`,
      );
    }
  }
});

test('check parse - a batch answers each request as alone, or fails with its first bad request', (t) => {
  for (const [i, body] of CASES.entries()) {
    const good = { params: { user: `g${i}` } };
    const expected = outcome(() => oracle(body, 'requests[1]'));
    if ('code' in expected) {
      const got = outcome(() => parseBatchRequest({ requests: [good, body, good] }).requests[1]);
      t.deepEqual(got, expected, `case ${i}`);
    } else {
      const list = parseBatchRequest({ requests: [good, body, good] }).requests;
      t.deepEqual(list[1], expected.ok, `case ${i}`);
      t.deepEqual(Object.keys(list[1]!.params), expected.keys, `case ${i}`);
      t.true(list.every((r) => Object.isFrozen(r.params)));
    }
  }
});

test('check parse - params are a frozen copy, never the object given', (t) => {
  const input = { params: { user: 'u1' } };
  const req = parseCheckRequest(input);
  t.not(req.params, input.params);
  t.true(Object.isFrozen(req.params));
  t.false(Object.isFrozen(input.params));
  const p = parseParams(input.params);
  t.not(p, input.params);
  t.deepEqual(p, input.params);
});

test('check parse - a batch from JSON keeps its params objects, frozen, with what a copy would hold', (t) => {
  // parseBatchRequest's body is fresh JSON (the API's payload): its valid params are not copied.
  const text =
    '{"requests": [{"params": {"user": "u1", "op": "GetItem"}}, ' +
    '{"params": {"n": 3, "b": false, "7": "x", "a": "y"}, "cost": 2}, ' +
    '{"params": {"__proto__": "x", "user": "u1"}}]}';
  const body = JSON.parse(text) as { requests: Array<{ params: Params }> };
  const copies = parseCheckRequests((JSON.parse(text) as typeof body).requests);
  const list = parseBatchRequest(body).requests;
  t.is(list[0]!.params, body.requests[0]!.params);
  t.is(list[1]!.params, body.requests[1]!.params);
  for (const [i, r] of list.entries()) {
    t.deepEqual(r, copies[i], `request ${i}`);
    t.deepEqual(Object.keys(r.params), Object.keys(copies[i]!.params), `request ${i}`);
    t.true(Object.isFrozen(r.params));
  }
  // "__proto__" as a key (own, from JSON) still goes through the copying path.
  t.not(list[2]!.params, body.requests[2]!.params);
  // The copying parse (the client's: a user's objects) still copies.
  const mine = { params: { user: 'u1' } };
  t.not(parseCheckRequests([mine])[0]!.params, mine.params);
  t.false(Object.isFrozen(mine.params));
});

test('check parse - a list of any length names its bad request by index under the field given', (t) => {
  const list = Array.from({ length: 1500 }, (_, i) => ({ params: { user: `u${i}` } }));
  t.is(parseCheckRequests(list).length, 1500);
  t.throws(() => parseBatchRequest({ requests: list }), { instanceOf: InputError, message: /at most 1000/ });
  const bad = [...list.slice(0, 1200), { params: { user: null } }];
  const err = t.throws(() => parseCheckRequests(bad, 'checkBatch'), { instanceOf: InputError });
  t.is(err?.field, 'checkBatch[1200].params.user');
});

test('check parse - a batch may ask for columns (a boolean), and they hold what results hold', (t) => {
  const requests = [{ params: { user: 'u1' } }, { params: { user: 'u2' }, cost: 3 }];
  t.is(parseBatchRequest({ requests, columns: true }).requests.length, 2);
  t.is(parseBatchRequest({ requests, columns: false }).requests.length, 2);
  t.throws(() => parseBatchRequest({ requests, columns: 'yes' }), {
    instanceOf: InputError,
    message: /columns/,
  });
  const results = [
    {
      allow: true,
      rule: 'r',
      limit: 1,
      remaining: 0,
      retryAfterMs: 0,
      tokens: ['r|user=u1'],
      shadowDenied: [],
    },
    {
      allow: false,
      rule: null,
      limit: null,
      remaining: null,
      retryAfterMs: 5,
      tokens: [],
      shadowDenied: ['s'],
    },
  ];
  const c = batchColumns(results);
  t.deepEqual(c.allow, [true, false]);
  t.deepEqual(c.tokens, [['r|user=u1'], []]);
  t.deepEqual(Object.keys(c), Object.keys(results[0]!));
});
