// `headroom.v1.lease.return.batch` at its validation (services/check/lease-schema.ts
// parseLeaseReturnBatch): a good batch parses to the returns `headroom.v1.lease.return` would
// parse, one by one and in order (each with its `node`); a broken top level, returns that are not a
// list of 1 to MAX_LEASE_BATCH, and a bad return at any index each reject the whole batch with a
// coded InputError naming the field (`returns[i].<field>`) and the value, the same error
// `headroom.v1.lease.return` gives that return with the index prefixed.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, InputError, MAX_LEASE_BATCH } from '../../lib/index.ts';
import { parseLeaseReturn, parseLeaseReturnBatch } from '../../services/check/lease-schema.ts';

const RET = { node: 'n1', lease: 'AAAAAAAAAAAA', token: 'hot|user=u1', unused: 3 };
const FULL = {
  node: 'node-2',
  lease: 'q8ZtY0aB1c-_',
  token: 'hot|user=u2',
  unused: 12.5,
  report: { allowed: 288, denied: 4, cost: 292, spanMs: 1180 },
};

/** Expects `body` to be refused with `code`, on `field`, with a message matching `message`. */
function refused(t: ExecutionContext, body: unknown, code: ErrorCode, field: string, message: RegExp): void {
  const err = t.throws(() => parseLeaseReturnBatch(body), { instanceOf: InputError, message });
  t.is(err?.code, code, `${JSON.stringify(body).slice(0, 80)}: ${err?.message}`);
  t.is(err?.field, field);
}

test('lease return batch schema - a good batch parses to each return as lease.return parses it, in order', (t) => {
  const returns = [RET, FULL, { ...RET, lease: 'BBBBBBBBBBBB', unused: 0 }];
  const parsed = parseLeaseReturnBatch({ returns });
  t.deepEqual(
    parsed,
    returns.map((r) => parseLeaseReturn(r)),
  );
  t.deepEqual(parsed[1], FULL);
  t.is(parsed[0]?.node, 'n1', 'each return keeps its node: it is relayed there');
  t.is(
    parseLeaseReturnBatch({ returns: Array.from({ length: MAX_LEASE_BATCH }, () => RET) }).length,
    MAX_LEASE_BATCH,
  );
  t.is(parseLeaseReturnBatch({ returns: [RET] }).length, 1);
});

test('lease return batch schema - a broken top level is refused naming the field and the value', (t) => {
  refused(t, [RET], ErrorCode.InvalidField, 'request', /^request must be a JSON object, got \[\{"node"/);
  refused(t, null, ErrorCode.InvalidField, 'request', /^request must be a JSON object, got null/);
  refused(t, {}, ErrorCode.MissingField, 'returns', /^returns is required \(the slices given back\)/);
  refused(
    t,
    { returns: [RET], asks: [] },
    ErrorCode.UnknownField,
    'asks',
    /^asks is not a known field \(known: returns\)/,
  );
  // A single return sent to the batch subject: its fields are unknown there.
  refused(t, RET, ErrorCode.UnknownField, 'node', /^node is not a known field/);
});

test('lease return batch schema - returns that are not a list of 1 to MAX_LEASE_BATCH are refused', (t) => {
  const expected = `an array of 1 to ${MAX_LEASE_BATCH} lease returns`;
  for (const [returns, got] of [
    [RET, '{"node":"n1"'],
    ['x', '"x"'],
    [7, '7'],
    [null, 'null'],
    [[], '[]'],
  ] as const) {
    refused(
      t,
      { returns },
      ErrorCode.InvalidField,
      'returns',
      new RegExp(`^returns must be ${expected}, got ${got.replace(/[[\]{}]/g, '\\$&')}`),
    );
  }
  refused(
    t,
    { returns: Array.from({ length: MAX_LEASE_BATCH + 1 }, () => RET) },
    ErrorCode.InvalidField,
    'returns',
    new RegExp(`^returns must be ${expected}, got "${MAX_LEASE_BATCH + 1} returns"$`),
  );
});

test('lease return batch schema - a bad return at any index rejects the batch, naming returns[i] and its field', (t) => {
  const cases: Array<[unknown, ErrorCode, string, RegExp]> = [
    ['r1', ErrorCode.InvalidField, '', / must be a JSON object, got "r1"/],
    [{ lease: 'AAAAAAAAAAAA', token: 't', unused: 1 }, ErrorCode.MissingField, '.node', /\.node is required/],
    [
      { ...RET, node: '' },
      ErrorCode.InvalidField,
      '.node',
      /\.node must be a node id of 1 to \d+ characters, got ""/,
    ],
    [{ ...RET, lease: 'x' }, ErrorCode.InvalidField, '.lease', /\.lease must be a lease id.*got "x"/],
    [{ ...RET, lease: undefined }, ErrorCode.MissingField, '.lease', /\.lease is required \(the slice id\)/],
    [{ ...RET, token: 7 }, ErrorCode.InvalidField, '.token', /\.token must be a token key.*got 7/],
    [{ ...RET, unused: -1 }, ErrorCode.InvalidField, '.unused', /\.unused must be a number from 0.*got -1/],
    [{ ...RET, unused: '3' }, ErrorCode.InvalidField, '.unused', /\.unused must be a number.*got "3"/],
    [{ ...RET, extra: 1 }, ErrorCode.UnknownField, '.extra', /\.extra is not a known field/],
    [
      { ...RET, report: { allowed: 1, denied: 0, cost: 1 } },
      ErrorCode.MissingField,
      '.report.spanMs',
      /\.report\.spanMs is required/,
    ],
    [
      { ...RET, report: { ...FULL.report, denied: -2 } },
      ErrorCode.InvalidField,
      '.report.denied',
      /\.report\.denied must be an integer.*got -2/,
    ],
  ];
  for (const [bad, code, field, message] of cases) {
    for (const i of [0, 3, MAX_LEASE_BATCH - 1]) {
      const returns: unknown[] = Array.from({ length: Math.max(4, i + 1) }, () => RET);
      returns[i] = bad;
      const at = `returns[${i}]`;
      refused(
        t,
        { returns },
        code,
        `${at}${field}`,
        new RegExp(`^${at.replace(/[[\]]/g, '\\$&')}${message.source}`),
      );
    }
    // The same error a single return gets, the index prefixed.
    const single = t.throws(() => parseLeaseReturn(bad), { instanceOf: InputError });
    const inBatch = t.throws(() => parseLeaseReturnBatch({ returns: [RET, bad] }), {
      instanceOf: InputError,
    });
    t.is(inBatch?.code, single?.code);
    t.is(inBatch?.message.replace(/^returns\[1\]\.?/, ''), single?.message.replace(/^request/, ''));
  }
  // The first bad return is the one named.
  refused(
    t,
    { returns: [RET, { ...RET, unused: -1 }, { ...RET, node: '' }] },
    ErrorCode.InvalidField,
    'returns[1].unused',
    /^returns\[1\]\.unused must be .*got -1/,
  );
});
