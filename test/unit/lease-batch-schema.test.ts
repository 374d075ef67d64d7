// `headroom.v1.lease.batch` at its validation (services/check/lease-schema.ts parseLeaseBatch):
// a good batch parses to the asks `headroom.v1.lease` would parse, one by one and in order; a
// broken top level, asks that are not a list of 1 to MAX_LEASE_BATCH, and a bad ask at any index
// each reject the whole batch with a coded InputError naming the field (`asks[i].<field>` for an
// ask) and the value, the same error `headroom.v1.lease` gives that ask with the index prefixed.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, InputError, MAX_BATCH, MAX_LEASE_BATCH } from '../../lib/index.ts';
import { parseLeaseBatch, parseLeaseRequest } from '../../services/check/index.ts';

const ASK = { client: 'c-1', params: { user: 'u1' }, want: 5 };
const FULL = {
  client: 'c-1',
  params: { acct: 'a7', tier: 2, paid: true },
  want: 300,
  previous: { lease: 'q8ZtY0aB1c-_', unused: 12 },
  report: { allowed: 288, denied: 0, cost: 288, spanMs: 1180 },
};

/** Expects `body` to be refused with `code`, on `field`, with a message matching `message`. */
function refused(t: ExecutionContext, body: unknown, code: ErrorCode, field: string, message: RegExp): void {
  const err = t.throws(() => parseLeaseBatch(body), { instanceOf: InputError, message });
  t.is(err?.code, code, `${JSON.stringify(body).slice(0, 80)}: ${err?.message}`);
  t.is(err?.field, field);
}

test('lease batch schema - a good batch parses to each ask as lease parses it, in order', (t) => {
  const asks = [ASK, FULL, { ...ASK, params: { user: 'u2' }, want: 0.5 }];
  const parsed = parseLeaseBatch({ asks });
  t.deepEqual(
    parsed,
    asks.map((a) => parseLeaseRequest(a)),
  );
  t.deepEqual(parsed[1], FULL);
  // The bound: as many asks as a check.batch holds requests.
  t.is(MAX_LEASE_BATCH, MAX_BATCH);
  t.is(parseLeaseBatch({ asks: Array.from({ length: MAX_LEASE_BATCH }, () => ASK) }).length, MAX_LEASE_BATCH);
  t.is(parseLeaseBatch({ asks: [ASK] }).length, 1);
});

test('lease batch schema - a broken top level is refused naming the field and the value', (t) => {
  refused(t, [ASK], ErrorCode.InvalidField, 'request', /^request must be a JSON object, got \[\{"client"/);
  refused(t, null, ErrorCode.InvalidField, 'request', /^request must be a JSON object, got null/);
  refused(t, 'asks', ErrorCode.InvalidField, 'request', /^request must be a JSON object, got "asks"/);
  refused(t, {}, ErrorCode.MissingField, 'asks', /^asks is required \(the lease requests\)/);
  refused(
    t,
    { asks: [ASK], client: 'c-1' },
    ErrorCode.UnknownField,
    'client',
    /^client is not a known field \(known: asks\)/,
  );
  // A single ask sent to the batch subject: its fields are unknown there.
  refused(t, ASK, ErrorCode.UnknownField, 'client', /^client is not a known field/);
});

test('lease batch schema - asks that are not a list of 1 to MAX_LEASE_BATCH are refused', (t) => {
  const expected = `an array of 1 to ${MAX_LEASE_BATCH} lease requests`;
  for (const [asks, got] of [
    [ASK, '{"client":"c-1"'],
    ['x', '"x"'],
    [7, '7'],
    [null, 'null'],
    [{ 0: ASK }, '{"0":'],
    [[], '[]'],
  ] as const) {
    refused(
      t,
      { asks },
      ErrorCode.InvalidField,
      'asks',
      new RegExp(
        `^asks must be ${expected.replace(/[[\]]/g, '\\$&')}, got ${got.replace(/[[\]{}]/g, '\\$&')}`,
      ),
    );
  }
  refused(
    t,
    { asks: Array.from({ length: MAX_LEASE_BATCH + 1 }, () => ASK) },
    ErrorCode.InvalidField,
    'asks',
    new RegExp(`^asks must be ${expected}, got "${MAX_LEASE_BATCH + 1} asks"$`),
  );
});

test('lease batch schema - a bad ask at any index rejects the batch, naming asks[i] and its field', (t) => {
  const cases: Array<[unknown, ErrorCode, string, RegExp]> = [
    ['u1', ErrorCode.InvalidField, '', / must be a JSON object, got "u1"/],
    [null, ErrorCode.InvalidField, '', / must be a JSON object, got null/],
    [{ params: { user: 'u1' }, want: 5 }, ErrorCode.MissingField, '.client', /\.client is required/],
    [{ ...ASK, client: 'a b' }, ErrorCode.InvalidField, '.client', /\.client must be 1 to 64.*got "a b"/],
    [{ ...ASK, params: undefined }, ErrorCode.MissingField, '.params', /\.params is required/],
    [{ ...ASK, params: 'u1' }, ErrorCode.InvalidField, '.params', /\.params must be .*got "u1"/],
    [
      { ...ASK, params: { user: { nested: 1 } } },
      ErrorCode.InvalidField,
      '.params.user',
      /\.params\.user must be .*got \{"nested":1\}/,
    ],
    [{ ...ASK, want: undefined }, ErrorCode.MissingField, '.want', /\.want is required \(units wanted\)/],
    [{ ...ASK, want: 0 }, ErrorCode.InvalidField, '.want', /\.want must be a number greater than 0.*got 0/],
    [{ ...ASK, want: '5' }, ErrorCode.InvalidField, '.want', /\.want must be a number.*got "5"/],
    [{ ...ASK, extra: 1 }, ErrorCode.UnknownField, '.extra', /\.extra is not a known field/],
    [
      { ...ASK, previous: { lease: 'x', unused: 1 } },
      ErrorCode.InvalidField,
      '.previous.lease',
      /\.previous\.lease must be a lease id.*got "x"/,
    ],
    [
      { ...ASK, previous: { lease: 'AAAAAAAAAAAA', unused: -1 } },
      ErrorCode.InvalidField,
      '.previous.unused',
      /\.previous\.unused must be a number from 0.*got -1/,
    ],
    [
      { ...ASK, report: { allowed: 1, denied: 0, cost: 1 } },
      ErrorCode.MissingField,
      '.report.spanMs',
      /\.report\.spanMs is required/,
    ],
    [
      { ...ASK, report: { ...FULL.report, allowed: 1.5 } },
      ErrorCode.InvalidField,
      '.report.allowed',
      /\.report\.allowed must be an integer.*got 1\.5/,
    ],
  ];
  for (const [bad, code, field, message] of cases) {
    for (const i of [0, 3, MAX_LEASE_BATCH - 1]) {
      const asks: unknown[] = Array.from({ length: Math.max(4, i + 1) }, () => ASK);
      asks[i] = bad;
      const at = `asks[${i}]`;
      refused(
        t,
        { asks },
        code,
        `${at}${field}`,
        new RegExp(`^${at.replace(/[[\]]/g, '\\$&')}${message.source}`),
      );
    }
    // The same error a single lease gets for that ask, the index prefixed.
    const single = t.throws(() => parseLeaseRequest(bad), { instanceOf: InputError });
    const inBatch = t.throws(() => parseLeaseBatch({ asks: [ASK, bad] }), { instanceOf: InputError });
    t.is(inBatch?.code, single?.code);
    t.is(inBatch?.message.replace(/^asks\[1\]\.?/, ''), single?.message.replace(/^request/, ''));
  }
  // The first bad ask is the one named.
  refused(
    t,
    { asks: [ASK, { ...ASK, want: -1 }, { ...ASK, client: '' }] },
    ErrorCode.InvalidField,
    'asks[1].want',
    /^asks\[1\]\.want must be .*got -1/,
  );
});
