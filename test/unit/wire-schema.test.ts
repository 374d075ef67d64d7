import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, InputError } from '../../lib/index.ts';
import {
  MAX_LINK_BYTES,
  MAX_TOKEN_LENGTH,
  decodeLinkJson,
  isReplySubject,
  parseForwardBatch,
  parseRefundMessage,
  parseTakeMessage,
  parseLinkReply,
  refundReplyOk,
  takeReplyChecker,
  parseActorsParams,
  parseDescribeParams,
  parseEmptyParams,
  parseHandoffParams,
  parsePoolParams,
  parsePrepareLeaveParams,
  requireCaller,
} from '../../services/wire/index.ts';

const rule = { id: 'per-user', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' };
const item = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  token: 'per-user|user=a',
  rule: { ...rule },
  cost: 1,
  ...over,
});
const take = (it: unknown): unknown => ({ parts: [{ items: [it] }] });

/** Asserts that `fn` throws an InputError with `code` naming `field`. */
function refuses(
  t: ExecutionContext,
  fn: () => unknown,
  field: string,
  code: ErrorCode = ErrorCode.InvalidField,
): void {
  const err = t.throws(fn, { instanceOf: InputError });
  t.is(err?.code, code, `${field}: ${err?.message}`);
  t.is(err?.field, field, err?.message);
}

test('wire schema - a valid take passes as it is, with its optional fields', (t) => {
  const m = {
    parts: [
      { items: [item({ params: { user: 'a', n: 1, b: true }, atMs: 1_700_000_000_000, refundable: true })] },
      { items: [item(), item({ token: 'per-user' })] },
    ],
    traces: [{ traceparent: '00-abc-def-01' }, {}],
    forwarded: true,
  };
  t.is<unknown, unknown>(parseTakeMessage(m), m);
});

test('wire schema - every field of a take item is checked', (t) => {
  const at = 'parts[0].items[0]';
  refuses(t, () => parseTakeMessage(take('x')), at);
  refuses(t, () => parseTakeMessage(take(item({ token: undefined }))), `${at}.token`, ErrorCode.MissingField);
  refuses(t, () => parseTakeMessage(take(item({ token: 5 }))), `${at}.token`);
  refuses(t, () => parseTakeMessage(take(item({ token: '' }))), `${at}.token`);
  refuses(
    t,
    () => parseTakeMessage(take(item({ token: `per-user|${'x'.repeat(MAX_TOKEN_LENGTH)}` }))),
    `${at}.token`,
  );
  refuses(t, () => parseTakeMessage(take(item({ token: 'other|user=a' }))), `${at}.token`);
  refuses(t, () => parseTakeMessage(take(item({ token: 'per-userX' }))), `${at}.token`);
  refuses(t, () => parseTakeMessage(take(item({ cost: undefined }))), `${at}.cost`, ErrorCode.MissingField);
  for (const cost of [0, -1, 1e9 + 1, '1', null, 1e308]) {
    refuses(t, () => parseTakeMessage(take(item({ cost }))), `${at}.cost`);
  }
  refuses(t, () => parseTakeMessage(take(item({ rule: undefined }))), `${at}.rule`, ErrorCode.MissingField);
  refuses(t, () => parseTakeMessage(take(item({ params: [] }))), `${at}.params`);
  refuses(t, () => parseTakeMessage(take(item({ params: { u: { deep: 1 } } }))), `${at}.params.u`);
  refuses(t, () => parseTakeMessage(take(item({ params: { u: 'x'.repeat(257) } }))), `${at}.params.u`);
  refuses(t, () => parseTakeMessage(take(item({ params: { ['k'.repeat(65)]: 1 } }))), `${at}.params key`);
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
  refuses(t, () => parseTakeMessage(take(item({ params: many }))), `${at}.params`);
  for (const atMs of [-1, 1e16, '1', null]) {
    refuses(t, () => parseTakeMessage(take(item({ atMs }))), `${at}.atMs`);
  }
  refuses(t, () => parseTakeMessage(take(item({ refundable: 'yes' }))), `${at}.refundable`);
  refuses(t, () => parseTakeMessage(take(item({ extra: 1 }))), `${at}.extra`, ErrorCode.UnknownField);
});

test('wire schema - every field of a rule reference is checked', (t) => {
  const at = 'parts[0].items[0].rule';
  const withRule = (r: unknown): unknown => take(item({ rule: r }));
  refuses(t, () => parseTakeMessage(withRule('per-user')), at);
  refuses(t, () => parseTakeMessage(withRule({ ...rule, id: undefined })), at, ErrorCode.MissingField);
  refuses(t, () => parseTakeMessage(withRule({ ...rule, id: 'bad id' })), `${at}.id`);
  refuses(t, () => parseTakeMessage(withRule({ ...rule, id: 'x'.repeat(129) })), `${at}.id`);
  for (const rate of [0, -1, 1e9 + 1, '10', Infinity]) {
    refuses(t, () => parseTakeMessage(withRule({ ...rule, rate })), `${at}.rate`);
  }
  for (const periodMs of [0, 1.5, 7 * 86_400_000 + 1, '1s']) {
    refuses(t, () => parseTakeMessage(withRule({ ...rule, periodMs })), `${at}.periodMs`);
  }
  for (const burst of [0.5, 1e9 + 1, '10']) {
    refuses(t, () => parseTakeMessage(withRule({ ...rule, burst })), `${at}.burst`);
  }
  refuses(t, () => parseTakeMessage(withRule({ ...rule, mode: 'off' })), `${at}.mode`);
  refuses(t, () => parseTakeMessage(withRule({ ...rule, key: ['u'] })), `${at}.key`, ErrorCode.UnknownField);
});

test('wire schema - the take message itself: parts, counts, traces, forwarded, unknown fields', (t) => {
  refuses(t, () => parseTakeMessage(null), 'take');
  refuses(t, () => parseTakeMessage([]), 'take');
  refuses(t, () => parseTakeMessage({}), 'parts', ErrorCode.MissingField);
  refuses(t, () => parseTakeMessage({ parts: [] }), 'parts');
  refuses(
    t,
    () => parseTakeMessage({ parts: Array.from({ length: 10_001 }, () => ({ items: [item()] })) }),
    'parts',
  );
  const big = Array.from({ length: 60_000 }, () => item());
  refuses(t, () => parseTakeMessage({ parts: [{ items: big }, { items: big }] }), 'parts');
  refuses(t, () => parseTakeMessage({ parts: [{ items: [] }] }), 'parts[0].items');
  refuses(t, () => parseTakeMessage({ parts: ['x'] }), 'parts[0]');
  refuses(
    t,
    () => parseTakeMessage({ parts: [{ items: [item()], x: 1 }] }),
    'parts[0].x',
    ErrorCode.UnknownField,
  );
  refuses(t, () => parseTakeMessage({ ...(take(item()) as object), traces: 'x' }), 'traces');
  refuses(t, () => parseTakeMessage({ ...(take(item()) as object), traces: [{}, {}] }), 'traces');
  refuses(
    t,
    () => parseTakeMessage({ ...(take(item()) as object), traces: [{ traceparent: 1 }] }),
    'traces[0].traceparent',
  );
  refuses(
    t,
    () => parseTakeMessage({ ...(take(item()) as object), traces: [{ tracestate: 'x'.repeat(1025) }] }),
    'traces[0].tracestate',
  );
  refuses(t, () => parseTakeMessage({ ...(take(item()) as object), forwarded: 'yes' }), 'forwarded');
  refuses(
    t,
    () => parseTakeMessage({ ...(take(item()) as object), admin: true }),
    'admin',
    ErrorCode.UnknownField,
  );
});

test('wire schema - a refund item names its token, cost and take id, nothing else', (t) => {
  const ok = { items: [{ token: 'r|u=a', cost: 2, takeId: 'AbCdEf_-1234' }] };
  t.is<unknown, unknown>(parseRefundMessage(ok), ok);
  const at = 'items[0]';
  const with_ = (over: Record<string, unknown>): unknown => ({ items: [{ ...ok.items[0], ...over }] });
  refuses(t, () => parseRefundMessage(null), 'refund');
  refuses(t, () => parseRefundMessage({}), 'items', ErrorCode.MissingField);
  refuses(t, () => parseRefundMessage({ items: [] }), 'items');
  refuses(t, () => parseRefundMessage({ items: ['x'] }), at);
  refuses(t, () => parseRefundMessage(with_({ token: undefined })), `${at}.token`, ErrorCode.MissingField);
  refuses(t, () => parseRefundMessage(with_({ token: 7 })), `${at}.token`);
  refuses(t, () => parseRefundMessage(with_({ cost: undefined })), `${at}.cost`, ErrorCode.MissingField);
  refuses(t, () => parseRefundMessage(with_({ cost: 1e10 })), `${at}.cost`);
  refuses(t, () => parseRefundMessage(with_({ takeId: undefined })), `${at}.takeId`, ErrorCode.MissingField);
  refuses(t, () => parseRefundMessage(with_({ takeId: 'short' })), `${at}.takeId`);
  refuses(t, () => parseRefundMessage(with_({ takeId: 'has spaces!!' })), `${at}.takeId`);
  refuses(t, () => parseRefundMessage(with_({ rule })), `${at}.rule`, ErrorCode.UnknownField);
  refuses(t, () => parseRefundMessage({ items: ok.items, more: 1 }), 'more', ErrorCode.UnknownField);
});

test('wire schema - a forwarded batch: tuples, client reply subjects only, bounded', (t) => {
  const ok = [
    ['_INBOX.abc.1', '00-abc-def-01', '', [item({ params: { user: 'a' }, atMs: 5, refundable: true })]],
  ];
  t.is<unknown, unknown>(parseForwardBatch(ok), ok);
  refuses(t, () => parseForwardBatch({}), 'forwards');
  refuses(t, () => parseForwardBatch([]), 'forwards');
  refuses(t, () => parseForwardBatch(Array.from({ length: 10_001 }, () => ok[0])), 'forwards');
  refuses(t, () => parseForwardBatch([['_INBOX.a', '', '']]), 'forwards[0]');
  refuses(t, () => parseForwardBatch([[5, '', '', [item()]]]), 'forwards[0][0]');
  refuses(t, () => parseForwardBatch([['_INBOX.a', 7, '', [item()]]]), 'forwards[0][1]');
  refuses(t, () => parseForwardBatch([['_INBOX.a', '', 'x'.repeat(1025), [item()]]]), 'forwards[0][2]');
});

test('wire schema - a forwarded check carries its derived take items, each checked as in a take', (t) => {
  const fwd = (items: unknown): unknown => [['_INBOX.a', '', '', items]];
  // The request itself (as the public API takes it) is not what travels.
  refuses(t, () => parseForwardBatch(fwd({ params: {} })), 'forwards[0][3]');
  refuses(t, () => parseForwardBatch(fwd([])), 'forwards[0][3]');
  refuses(t, () => parseForwardBatch(fwd(['x'])), 'forwards[0][3][0]');
  const at = 'forwards[0][3][1]';
  refuses(t, () => parseForwardBatch(fwd([item(), item({ cost: 0 })])), `${at}.cost`);
  refuses(t, () => parseForwardBatch(fwd([item(), item({ token: 'other|user=a' })])), `${at}.token`);
  refuses(
    t,
    () => parseForwardBatch(fwd([item(), item({ rule: { ...rule, rate: 1e300 } })])),
    `${at}.rule.rate`,
  );
  refuses(t, () => parseForwardBatch(fwd([item(), item({ atMs: 'now' })])), `${at}.atMs`);
  refuses(
    t,
    () => parseForwardBatch(fwd([item(), item({ sudo: true })])),
    `${at}.sudo`,
    ErrorCode.UnknownField,
  );
  // At most MAX_LINK_ITEMS items in the whole batch.
  const many = Array.from({ length: 50_001 }, () => item());
  refuses(t, () => parseForwardBatch([...(fwd(many) as unknown[]), ...(fwd(many) as unknown[])]), 'forwards');
});

test("wire schema - reply subjects of forwarded checks: a client's, never the cluster's own", (t) => {
  for (const s of [
    'headroom.int.n1.refund',
    'headroom.v1.rules.put',
    '$KV.rules.x',
    '$JS.API.STREAM.DELETE.x',
    'MOL.REQ.n1',
    'MOL-ns.REQ.n1',
    '_HEADROOM.abc.1',
    '_HEADROOM_INBOX.x',
    'a b',
    'a.*',
    'a.>',
    'a..b',
    '.a',
    '',
    'x'.repeat(257),
  ]) {
    t.false(isReplySubject(s), s);
  }
  t.true(isReplySubject('_INBOX.Xy12.34'));
  t.true(isReplySubject('my-app.replies.7'));
});

test('wire schema - link payloads: too large and invalid JSON are coded errors', (t) => {
  refuses(t, () => decodeLinkJson(new Uint8Array(MAX_LINK_BYTES + 1)), 'payload', ErrorCode.PayloadTooLarge);
  refuses(t, () => decodeLinkJson(new TextEncoder().encode('{"parts":')), 'payload', ErrorCode.InvalidJson);
  t.deepEqual(decodeLinkJson(new TextEncoder().encode('{"a":1}')), { a: 1 });
});

test('wire reply - a take reply must answer exactly the items sent, with well-formed decisions', (t) => {
  const parts = [{ items: [item() as never, item() as never] }];
  const d = {
    token: 'per-user|user=a',
    ruleId: 'per-user',
    mode: 'enforce',
    allow: true,
    limit: 10,
    remaining: 9,
    retryAfterMs: 0,
    resetAfterMs: 100,
  };
  const check = takeReplyChecker(parts);
  t.deepEqual(parseLinkReply({ ok: [[d, { ...d, takeId: 'AAAAAAAAAAAA' }]] }, check), {
    ok: [[d, { ...d, takeId: 'AAAAAAAAAAAA' }]],
  });
  refuses(t, () => parseLinkReply({ ok: [] }, check), 'reply.ok');
  refuses(t, () => parseLinkReply({ ok: [[d]] }, check), 'reply.ok[0]');
  refuses(t, () => parseLinkReply({ ok: [[d, { ...d, allow: 'yes' }]] }, check), 'reply.ok[0][1]');
  refuses(t, () => parseLinkReply({ ok: [[d, { ...d, takeId: 'x' }]] }, check), 'reply.ok[0][1]');
  refuses(t, () => parseLinkReply({ ok: [[d, { ...d, remaining: null }]] }, check), 'reply.ok[0][1]');
  refuses(t, () => parseLinkReply('x', check), 'reply');
  refuses(
    t,
    () => parseLinkReply({ error: { code: 'NOPE', message: 'x', retryable: false } }, check),
    'reply.error.code',
  );
  refuses(
    t,
    () => parseLinkReply({ error: { code: ErrorCode.Timeout, message: 1, retryable: true } }, check),
    'reply.error.message',
  );
  refuses(
    t,
    () => parseLinkReply({ error: { code: ErrorCode.Timeout, message: 'x' } }, check),
    'reply.error.retryable',
  );
  const e = { code: ErrorCode.RefundRejected, message: 'no', field: 'items[0].takeId', retryable: false };
  t.deepEqual(parseLinkReply({ error: e }, refundReplyOk), { error: e });
  t.deepEqual(parseLinkReply({ ok: true }, refundReplyOk), { ok: true });
  refuses(t, () => parseLinkReply({ ok: 1 }, refundReplyOk), 'reply.ok');
});

test('action params - each action checks its params and names the field', (t) => {
  t.deepEqual(parsePrepareLeaveParams({ nodeID: 'n1' }), { nodeID: 'n1' });
  refuses(t, () => parsePrepareLeaveParams({}), 'params.nodeID', ErrorCode.MissingField);
  refuses(t, () => parsePrepareLeaveParams({ nodeID: 1 }), 'params.nodeID');
  refuses(t, () => parsePrepareLeaveParams({ nodeID: 'x'.repeat(257) }), 'params.nodeID');
  refuses(t, () => parsePrepareLeaveParams({ nodeID: 'n1', x: 1 }), 'params.x', ErrorCode.UnknownField);
  refuses(t, () => parsePrepareLeaveParams(null), 'params');
  t.deepEqual(parseEmptyParams(undefined), {});
  refuses(t, () => parseEmptyParams({ a: 1 }), 'params.a', ErrorCode.UnknownField);
  t.deepEqual(parseDescribeParams({ token: 'r|u=a' }), { token: 'r|u=a' });
  refuses(t, () => parseDescribeParams({ token: '' }), 'params.token');
  t.deepEqual(parseActorsParams({}), { limit: 20 });
  t.deepEqual(parseActorsParams({ limit: 0 }), { limit: 0 });
  for (const limit of [-1, 1.5, 10_001, '5']) refuses(t, () => parseActorsParams({ limit }), 'params.limit');
  t.deepEqual(parsePoolParams({ pool: 'db-pool_1' }), { pool: 'db-pool_1' });
  refuses(t, () => parsePoolParams({}), 'params.pool', ErrorCode.MissingField);
  for (const pool of ['', 'a b', 'x'.repeat(64), 7, '-lead'])
    refuses(t, () => parsePoolParams({ pool }), 'params.pool');
});

test('action params - a hand-off: sender, items of the right rule, done', (t) => {
  const snapshot = { token: 'per-user|user=a', ruleId: 'per-user', gcra: { tat: 0 } };
  const ok = { from: 'n1', items: [{ rule, snapshot }], done: true };
  t.like(parseHandoffParams(ok), { from: 'n1', done: true });
  refuses(t, () => parseHandoffParams({ ...ok, from: '' }), 'params.from');
  refuses(t, () => parseHandoffParams({ ...ok, items: 'x' }), 'params.items');
  refuses(t, () => parseHandoffParams({ ...ok, done: 'yes' }), 'params.done');
  refuses(
    t,
    () => parseHandoffParams({ ...ok, items: [{ rule: { ...rule, rate: -1 }, snapshot }] }),
    'params.items[0].rule.rate',
  );
  refuses(
    t,
    () => parseHandoffParams({ ...ok, items: [{ rule, snapshot: 'x' }] }),
    'params.items[0].snapshot',
  );
  refuses(
    t,
    () => parseHandoffParams({ ...ok, items: [{ rule, snapshot: { ...snapshot, token: 'other|user=a' } }] }),
    'params.items[0].snapshot',
  );
  refuses(
    t,
    () => parseHandoffParams({ ...ok, items: [{ rule, snapshot: { ...snapshot, ruleId: 'other' } }] }),
    'params.items[0].snapshot',
  );
});

test('action params - a node speaks only for itself, and only as a live member', (t) => {
  const live = (id: string): boolean => ['n1', 'n2'].includes(id);
  t.notThrows(() => requireCaller('n1', 'n1', live, 'params.nodeID'));
  refuses(
    t,
    () => requireCaller('observer-1', 'n1', live, 'params.nodeID'),
    'params.nodeID',
    ErrorCode.NotPermitted,
  );
  refuses(t, () => requireCaller(null, 'n1', live, 'params.nodeID'), 'params.nodeID', ErrorCode.NotPermitted);
  refuses(t, () => requireCaller('n9', 'n9', live, 'params.from'), 'params.from', ErrorCode.NotPermitted);
});
