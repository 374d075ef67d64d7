// Every kind of bad input gets a structured error naming the field, over the
// real NATS API, and the node keeps serving.
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { ErrorCode } from '../../lib/index.ts';
import { compileNodeOptions, startNode } from '../../services/index.ts';
import type { HeadroomNode } from '../../services/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { client, request } from '../helpers/node-process.ts';

const test = anyTest as TestFn<{ nats: NatsServer; node: HeadroomNode; nc: NatsConnection }>;

test.before(async (t) => {
  t.context.nats = await startNatsServer();
  const opts = compileNodeOptions(
    undefined,
    {},
    { natsUrl: t.context.nats.url, nodeId: 'err-1', logLevel: 'error', maxPayloadBytes: 4096 },
  );
  t.context.node = await startNode(opts);
  t.context.nc = await client(t.context.nats.url);
  await request(t.context.nc, 'headroom.v1.rules.put', {
    id: 'base',
    key: ['user'],
    rate: 100,
    period: '1s',
  });
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.node?.stop();
  await t.context.nats?.stop();
});

const rule = { id: 'r', key: ['user'], rate: 10, period: '1s' };

const cases: Array<[string, string, unknown, string, string]> = [
  // [name, subject, body (string = raw payload), code, field]
  ['not JSON', 'headroom.v1.check', '{"params": ', ErrorCode.InvalidJson, 'payload'],
  ['body not an object', 'headroom.v1.check', [1, 2], ErrorCode.InvalidField, 'request'],
  ['params missing', 'headroom.v1.check', { cost: 1 }, ErrorCode.MissingField, 'params'],
  ['params wrong type', 'headroom.v1.check', { params: 'u1' }, ErrorCode.InvalidField, 'params'],
  [
    'param value an object',
    'headroom.v1.check',
    { params: { user: { id: 1 } } },
    ErrorCode.InvalidField,
    'params.user',
  ],
  ['negative cost', 'headroom.v1.check', { params: { user: 'a' }, cost: -2 }, ErrorCode.InvalidField, 'cost'],
  [
    'cost a string',
    'headroom.v1.check',
    { params: { user: 'a' }, cost: '1' },
    ErrorCode.InvalidField,
    'cost',
  ],
  ['unknown check field', 'headroom.v1.check', { params: {}, prams: {} }, ErrorCode.UnknownField, 'prams'],
  ['batch not an array', 'headroom.v1.check.batch', { requests: {} }, ErrorCode.InvalidField, 'requests'],
  [
    'bad batch item',
    'headroom.v1.check.batch',
    { requests: [{ params: {} }, { params: 3 }] },
    ErrorCode.InvalidField,
    'requests[1].params',
  ],
  [
    'unknown rule field',
    'headroom.v1.rules.put',
    { ...rule, limit: 5 },
    ErrorCode.UnknownField,
    'rule.limit',
  ],
  ['negative rate', 'headroom.v1.rules.put', { ...rule, rate: -3 }, ErrorCode.InvalidField, 'rule.rate'],
  [
    'bad period',
    'headroom.v1.rules.put',
    { ...rule, period: '1 fortnight' },
    ErrorCode.InvalidField,
    'rule.period',
  ],
  [
    'bad date',
    'headroom.v1.rules.put',
    { ...rule, effectiveFrom: '2026-13-45T00:00:00Z' },
    ErrorCode.InvalidField,
    'rule.effectiveFrom',
  ],
  [
    'until before from',
    'headroom.v1.rules.put',
    { ...rule, effectiveFrom: '2026-02-01T00:00:00Z', effectiveUntil: '2026-01-01T00:00:00Z' },
    ErrorCode.InvalidField,
    'rule.effectiveUntil',
  ],
  [
    'rule without key',
    'headroom.v1.rules.put',
    { id: 'r', rate: 1, period: '1s' },
    ErrorCode.MissingField,
    'rule.key',
  ],
  ['bad mode', 'headroom.v1.rules.put', { ...rule, mode: 'block' }, ErrorCode.InvalidField, 'rule.mode'],
  ['get unknown rule', 'headroom.v1.rules.get', { id: 'nope' }, ErrorCode.NotFound, 'id'],
  ['get without id', 'headroom.v1.rules.get', {}, ErrorCode.MissingField, 'id'],
  ['delete id not a string', 'headroom.v1.rules.delete', { id: 7 }, ErrorCode.InvalidField, 'id'],
  ['status with fields', 'headroom.v1.status', { verbose: true }, ErrorCode.UnknownField, 'verbose'],
  ['unknown operation', 'headroom.v1.frobnicate', {}, ErrorCode.NotFound, 'subject'],
  [
    'oversize payload',
    'headroom.v1.check',
    JSON.stringify({ params: { user: 'x'.repeat(5000) } }),
    ErrorCode.PayloadTooLarge,
    'payload',
  ],
];

for (const [name, subject, body, code, field] of cases) {
  test(`api errors - ${name}`, async (t) => {
    const reply = await request(t.context.nc, subject, body);
    t.truthy(reply.error, `expected an error, got ${JSON.stringify(reply)}`);
    t.is(reply.error.code, code);
    t.is(reply.error.field, field);
    t.is(typeof reply.error.message, 'string');
    t.true(reply.error.message.length > 10);
    t.is(reply.error.retryable, false);
  });
}

test('api errors - messages name the field and the bad value', async (t) => {
  const reply = await request(t.context.nc, 'headroom.v1.rules.put', { ...rule, rate: -3 });
  t.regex(reply.error.message, /rule\.rate.*-3/);
});

test('api errors - the node keeps serving after every bad input', async (t) => {
  await Promise.all(cases.map(([, subject, body]) => request(t.context.nc, subject, body)));
  const ok = await request(t.context.nc, 'headroom.v1.check', { params: { user: 'still-here' } });
  t.like(ok, { allow: true, rule: 'base', limit: 100 });
  const rules = await request(t.context.nc, 'headroom.v1.rules.list', {});
  t.deepEqual(
    rules.rules.map((r: { id: string }) => r.id),
    ['base'],
  );
});
