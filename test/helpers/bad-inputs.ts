// Generators (fast-check) of inputs that are bad by construction, for every
// public NATS operation, every internal subject and every HTTP route: each
// starts from a valid request and breaks exactly one thing, so every one of
// them must be answered with a coded error. Used by test/integration/fuzz.test.ts.
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';

/** One bad input: where it goes and what it carries. */
export type BadInput =
  | {
      kind: 'nats';
      subject: string;
      payload: string;
      what: string;
      /** Published without a reply subject (heartbeats take none): counted by the node's Guard, not answered. */
      noReply?: true;
    }
  | { kind: 'http'; method: string; path: string; body: string; what: string };

const json = (v: unknown): string => JSON.stringify(v);

/** A value of the wrong JSON type for any field (a field's valid type is left out by the caller). */
const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 20 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);
const notString = anyJson.filter((v) => typeof v !== 'string');
const notNumber = anyJson.filter((v) => typeof v !== 'number');
const notObject = anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v));
const notArray = anyJson.filter((v) => !Array.isArray(v));
const hugeNumber = fc.constantFrom(1e308, 1e10, 1e9 + 1, Number.MAX_VALUE, -1, 0, -1e308);
const unknownKey = fc.string({ minLength: 1, maxLength: 12 }).map((s) => `zz_${s}`);
const longString = (min: number): Arbitrary<string> =>
  fc.integer({ min, max: min * 3 }).map((n) => 'x'.repeat(n));

/** Payloads that are not JSON at all (truncated, binary, a bare word). */
const notJson = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => `{${s}`),
  fc.constant('{"params": '),
  fc.constant('\u0000\u0001\u0002'),
  fc.constant('undefined'),
  fc.constant('NaN'),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => `\u00ff${Buffer.from(b).toString('latin1')}`),
);

/** A valid request body of each operation; bad ones are derived from these. */
const validRule = { id: 'fz', key: ['user'], rate: 10, period: '1s', burst: 10 };
// Times near now: events must fall in a window around the node's clock.
const iso = (ms: number): string => new Date(ms).toISOString();
const validEvent = { source: 'fuzz', topic: 'promo', time: iso(Date.now() - 3_600_000), value: 1 };
const validQuery = { from: iso(Date.now() - 86_400_000), to: iso(Date.now()) };

/** Sets `field` of a copy of `base` (undefined deletes it). */
function set(base: Record<string, unknown>, field: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  if (value === undefined) delete out[field];
  else out[field] = value;
  return out;
}

/** `base` with one of `breaks` applied, or an unknown key added. */
function broken(
  base: Record<string, unknown>,
  breaks: Record<string, Arbitrary<unknown>>,
): Arbitrary<Record<string, unknown>> {
  const fields = Object.entries(breaks).map(([field, arb]) => arb.map((v) => set(base, field, v)));
  const extra = fc.tuple(unknownKey, anyJson).map(([k, v]) => ({ ...base, [k]: v }));
  return fc.oneof(...fields, extra);
}

const badId = fc.oneof(
  notString,
  fc.constant(''),
  longString(129),
  longString(5000),
  fc.constantFrom('a b', 'a/b', 'a*', 'a>', '%ZZ', '\u0000', 'é', 'a\nb'),
);
const badPeriod = fc.oneof(
  notString,
  fc.constantFrom('100000d', '1.5s', '0s', '0ms', '8d', 's', '1', '-1s', '1 s', '1y', 'abc', '1e3s'),
);
const badRate = fc.oneof(notNumber, hugeNumber);

const badCheck = broken(
  { params: { user: 'fz-u' }, cost: 1 },
  {
    params: fc.oneof(
      notObject,
      fc.constant(undefined),
      fc.record({
        user: fc.oneof(fc.dictionary(fc.string(), fc.integer()), longString(257), fc.constant(null)),
      }),
      fc.constant(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))),
      longString(65).map((k) => ({ [k]: 1 })),
    ),
    cost: fc.oneof(notNumber, hugeNumber),
  },
);

const badRule = broken(validRule, {
  id: fc.oneof(badId, fc.constant(undefined)),
  key: fc.oneof(
    notArray,
    fc.constant([]),
    fc.constant(['user', 'user']),
    fc.constant([1]),
    fc.constant(undefined),
  ),
  rate: fc.oneof(badRate, fc.constant(undefined)),
  period: fc.oneof(badPeriod, fc.constant(undefined)),
  burst: fc.oneof(notNumber, hugeNumber, fc.constant(0.5)),
  priority: fc.oneof(notNumber, fc.constant(1.5), fc.constant(1e300)),
  mode: fc.oneof(notString, fc.constant('block')),
  match: fc.oneof(notObject, fc.constant({ user: {} }), fc.constant({ user: [] })),
  effectiveFrom: fc.oneof(notString, fc.constantFrom('yesterday', '2026-13-01T00:00:00Z', '2026-12-01')),
});

const badIdRequest = broken({ id: 'fz' }, { id: fc.oneof(badId, fc.constant(undefined)) });

const badEvent = broken(validEvent, {
  source: fc.oneof(notString, fc.constant(''), longString(200), fc.constant(undefined)),
  topic: fc.oneof(notString, fc.constant(''), longString(200), fc.constant(undefined)),
  time: fc.oneof(
    notString,
    fc.constantFrom('9999-01-01T00:00:00Z', '1970-01-01T00:00:00Z', 'now', '+275760-09-13T00:00:00Z'),
    fc.constant(undefined),
  ),
  value: fc.oneof(notNumber, fc.constant(undefined)),
  tokens: fc.oneof(notArray, fc.constant([1]), fc.constant([''])),
});

const badQuery = broken(validQuery, {
  from: fc.oneof(notString, fc.constant('x'), fc.constant(undefined)),
  to: fc.oneof(
    notString,
    fc.constant(iso(Date.now() - 2 * 86_400_000)),
    fc.constant(iso(Date.now() + 40 * 86_400_000)),
  ),
  step: fc.oneof(fc.constant('1.5s'), fc.constant('0s'), fc.constant(-1), fc.constant('1ms')),
  topic: fc.oneof(notString, fc.constant('')),
});

/** `{}` operations: any field, or a body that is not an object, is a mistake. */
const badEmpty = fc.oneof(
  fc.tuple(unknownKey, anyJson).map(([k, v]) => ({ [k]: v })),
  fc
    .oneof(
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.integer(),
      fc.constant(null),
      fc.string({ minLength: 1, maxLength: 5 }).map((s) => s),
    )
    .map((v) => v as unknown),
);

const badBatch = broken(
  { requests: [{ params: { user: 'fz-b' } }] },
  {
    requests: fc.oneof(
      notArray,
      fc.constant(undefined),
      badCheck.map((c) => [{ params: { user: 'ok' } }, c]),
      fc.constant(Array.from({ length: 1001 }, () => ({ params: { user: 'b' } }))),
    ),
    // The replies in columns: a boolean or nothing.
    columns: anyJson.filter((v) => typeof v !== 'boolean' && v !== undefined),
  },
);

/** `forecast.get`: bad params, or good ones that form no token with a live forecast (NotFound). */
const badForecastGet = broken(
  { params: { user: 'fz-never-checked' } },
  {
    params: fc.oneof(
      notObject,
      fc.constant(undefined),
      fc.record({ user: fc.oneof(fc.dictionary(fc.string(), fc.integer()), longString(257)) }),
      fc.constant(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]))),
      fc.constant({ nobody: 'x' }),
    ),
  },
);

const validLease = { client: 'fz-c', params: { user: 'fz-l' }, want: 5 };

/** A lease ask's fields broken as its validation refuses them (params malformed, not merely matching no rule). */
const leaseBreaks = {
  client: fc.oneof(notString, fc.constantFrom('', 'a b', 'a*', 'é'), longString(65), fc.constant(undefined)),
  params: fc.oneof(notObject, fc.constant(undefined)),
  want: fc.oneof(notNumber, hugeNumber, fc.constant(undefined)),
  previous: fc.oneof(
    notObject,
    fc.constant({ lease: 'x', unused: 1 }),
    fc.constant({ lease: 'AAAAAAAAAAAA', unused: -1 }),
    fc.constant({ lease: 'AAAAAAAAAAAA' }),
  ),
};

/**
 * `lease` (client leases): one field broken, or params that match no rule or
 * two (a lease covers one token). The fuzz test's rules: per-user and per-op.
 */
const badLease = broken(validLease, {
  ...leaseBreaks,
  params: fc.oneof(leaseBreaks.params, fc.constant({ nobody: 'x' }), fc.constant({ user: 'fz-l', op: 'fz' })),
});

/**
 * `lease.batch`: the top level broken (asks missing, not a list, empty, past
 * 1000 asks), or one ask among good ones with a field malformed as in
 * {@link badLease}. Not params that match no rule or two: those fail their
 * ask alone (an error in its place among the results), not the batch.
 */
const badLeaseBatch = broken(
  { asks: [validLease] },
  {
    asks: fc.oneof(
      notArray,
      fc.constant(undefined),
      fc.constant([]),
      // Small enough for the fuzzed nodes' payload limit: refused for the count, before any ask is read.
      fc.constant(Array.from({ length: 1001 }, () => ({}))),
      fc.constant(Array.from({ length: 1001 }, () => validLease)),
      fc
        .tuple(fc.nat({ max: 3 }), broken(validLease, leaseBreaks), fc.nat({ max: 3 }))
        .map(([before, ask, after]) => [
          ...Array.from({ length: before }, () => validLease),
          ask,
          ...Array.from({ length: after }, () => validLease),
        ]),
    ),
  },
);

/** A well-formed return of a slice no node granted (the fuzzed cluster has no node `fz-2`). */
const validReturn = { node: 'fz-2', lease: 'AAAAAAAAAAAA', token: 'per-user|user=fz', unused: 1 };

/** A lease return's fields broken as its validation refuses them. */
const returnBreaks = {
  node: fc.oneof(notString, fc.constant(''), longString(257), fc.constant(undefined)),
  lease: fc.oneof(notString, fc.constantFrom('x', 'AAAAAAAAAAA*'), fc.constant(undefined)),
  token: fc.oneof(notString, fc.constant(''), longString(16_385), fc.constant(undefined)),
  unused: fc.oneof(notNumber, fc.constantFrom(-1, 1e10, 1e308), fc.constant(undefined)),
  report: fc.oneof(notObject, fc.constant({ allowed: 1, denied: 0, cost: 1 }), fc.constant({ allowed: -1 })),
};

/** `lease.return`: one field broken, or a well-formed return of a slice no node granted (refused). */
const badLeaseReturn = fc.oneof(
  fc.constant({ ...validReturn, node: 'fz-1' }),
  broken(validReturn, returnBreaks),
);

/**
 * `lease.return.batch`: the top level broken (returns missing, not a list,
 * empty, past 1000 returns), or one return among good ones with a field
 * malformed as in {@link badLeaseReturn}. Not well-formed returns of slices
 * no node granted: those fail in place (an error among the results), not
 * the batch.
 */
const badLeaseReturnBatch = broken(
  { returns: [validReturn] },
  {
    returns: fc.oneof(
      notArray,
      fc.constant(undefined),
      fc.constant([]),
      // Small enough for the fuzzed nodes' payload limit: refused for the count, before any return is read.
      fc.constant(Array.from({ length: 1001 }, () => ({}))),
      fc
        .tuple(fc.nat({ max: 3 }), broken(validReturn, returnBreaks), fc.nat({ max: 3 }))
        .map(([before, ret, after]) => [
          ...Array.from({ length: before }, () => validReturn),
          ret,
          ...Array.from({ length: after }, () => validReturn),
        ]),
    ),
  },
);

/** Bodies by public operation. Every one is bad by construction. */
export const BAD_BODIES: Record<string, Arbitrary<unknown>> = {
  check: badCheck,
  'check.batch': badBatch,
  'rules.put': badRule,
  'rules.get': badIdRequest,
  'rules.delete': badIdRequest,
  'rules.history': badIdRequest,
  'rules.list': badEmpty,
  status: badEmpty,
  'events.publish': badEvent,
  'events.list': badQuery,
  topology: badEmpty,
  'forecast.get': badForecastGet,
  lease: badLease,
  'lease.batch': badLeaseBatch,
  'lease.return': badLeaseReturn,
  'lease.return.batch': badLeaseReturnBatch,
};

/** A payload for `op`: a bad body, non-JSON, or one past the size limit. */
function badPayload(op: string, maxPayloadBytes: number): Arbitrary<{ payload: string; what: string }> {
  return fc.oneof(
    { weight: 8, arbitrary: BAD_BODIES[op]!.map((b) => ({ payload: json(b), what: `${op} body` })) },
    { weight: 1, arbitrary: notJson.map((p) => ({ payload: p, what: `${op} not JSON` })) },
    {
      weight: 1,
      arbitrary: fc.constant({
        payload: json({ params: { user: 'x'.repeat(maxPayloadBytes) } }),
        what: `${op} too large`,
      }),
    },
  );
}

/** Bad requests on the public NATS subjects, including operations that do not exist. */
export function badNatsRequests(maxPayloadBytes: number): Arbitrary<BadInput> {
  const known = Object.keys(BAD_BODIES).map((op) =>
    badPayload(op, maxPayloadBytes).map(({ payload, what }): BadInput => ({
      kind: 'nats',
      subject: `headroom.v1.${op}`,
      payload,
      what,
    })),
  );
  const unknownOp = fc
    .stringMatching(/^[a-z][a-z0-9]{0,15}(\.[a-z0-9]{1,8})?$/)
    .filter((op) => !(op in BAD_BODIES))
    .map((op): BadInput => ({
      kind: 'nats',
      subject: `headroom.v1.${op}`,
      payload: '{}',
      what: 'unknown op',
    }));
  return fc.oneof(...known, unknownOp);
}

/** A beat count that is not a whole number >= 0. */
const badBeatSeq = fc.oneof(notNumber, fc.constant(-1), fc.constant(1.5));

/** Bad messages on a node's internal subjects (what a leaked node credential could send). */
export function badInternalRequests(namespace: string, nodeIds: string[]): Arbitrary<BadInput> {
  const item = {
    token: 'per-user|fz-int',
    rule: { id: 'fz', rate: 10, periodMs: 1000, burst: 10, mode: 'enforce' },
    cost: 1,
  };
  const badItem = broken(item, {
    token: fc.oneof(notString, longString(5000), fc.constant(undefined)),
    rule: fc.oneof(
      notObject,
      fc.constant(undefined),
      broken(item.rule, {
        id: badId,
        rate: badRate,
        periodMs: fc.oneof(notNumber, hugeNumber),
        burst: fc.oneof(notNumber, hugeNumber),
        mode: fc.oneof(notString, fc.constant('open')),
      }),
    ),
    cost: fc.oneof(notNumber, hugeNumber),
  });
  const take = fc.oneof(
    notObject,
    badItem.map((it) => ({ parts: [{ items: [it] }] })),
    fc.oneof(notArray, fc.constant([{ items: 'x' }]), fc.constant([null])).map((parts) => ({ parts })),
  );
  const refund = fc.oneof(
    notObject,
    badItem.map((it) => ({ items: [it] })),
    // Well-formed but never issued by the owner: no take id, a made-up one, or one of the wrong type.
    fc.constant({ items: [item] }),
    fc.string({ minLength: 1, maxLength: 16 }).map((id) => ({ items: [{ ...item, takeId: id }] })),
    fc.oneof(notString, longString(200)).map((id) => ({ items: [{ ...item, takeId: id }] })),
    notArray.map((items) => ({ items })),
  );
  const forward = fc.oneof(
    notArray,
    fc.constant([[1, 2, 3, 4]]),
    fc.constant([['_INBOX.x', '', '', { params: 'x' }]]),
  );
  const bodies: Record<string, Arbitrary<unknown>> = { take, refund, forward };
  const requests = fc
    .tuple(fc.constantFrom(...nodeIds), fc.constantFrom('take', 'refund', 'forward'))
    .chain(([node, op]) =>
      fc.oneof(bodies[op]!.map(json), notJson).map((payload): BadInput => ({
        kind: 'nats',
        subject: `headroom.int.${namespace}.${node}.${op}`,
        payload,
        what: `internal ${op}`,
      })),
    );
  // Heartbeats (services/cluster/beats.ts): `{id, seq}`, every field broken in turn.
  const beat = fc.oneof(
    notObject,
    broken({ id: nodeIds[0]!, seq: 1 }, { id: fc.oneof(notString, longString(300)), seq: badBeatSeq }),
    fc.constant({ id: nodeIds[0]!, seq: 1, extra: true }),
  );
  const beats = fc.oneof(beat.map(json), notJson).map((payload): BadInput => ({
    kind: 'nats',
    subject: `headroom.int.${namespace}.beat`,
    payload,
    what: 'internal beat',
    noReply: true,
  }));
  return fc.oneof({ weight: 6, arbitrary: requests }, { weight: 1, arbitrary: beats });
}

/** Bad HTTP requests: bad bodies on every route, bad paths, wrong methods. */
export function badHttpRequests(maxPayloadBytes: number): Arbitrary<BadInput> {
  const routes: Array<[string, string, string]> = [
    ['POST', '/v1/check', 'check'],
    ['POST', '/v1/check/batch', 'check.batch'],
    ['POST', '/v1/rules', 'rules.put'],
    ['PUT', '/v1/rules', 'rules.put'],
    ['POST', '/v1/events', 'events.publish'],
  ];
  const bodies = routes.map(([method, path, op]) =>
    badPayload(op, maxPayloadBytes).map(({ payload, what }): BadInput => ({
      kind: 'http',
      method,
      path,
      body: payload,
      what: `http ${what}`,
    })),
  );
  const badPath = fc
    .tuple(
      fc.constantFrom('GET', 'DELETE'),
      fc.oneof(
        fc.constantFrom('%ZZ', '%C0%AF', '%FF', '%', '%E0%A4%A', 'a%2Fb'),
        fc.stringMatching(/^[A-Za-z0-9]{129,300}$/),
        badId
          .filter((v): v is string => typeof v === 'string' && v !== '' && !v.includes('/'))
          .map(encodeURIComponent),
      ),
      fc.constantFrom('', '/history'),
    )
    .map(([method, id, tail]): BadInput => ({
      kind: 'http',
      method,
      path: `/v1/rules/${id}${tail}`,
      body: '',
      what: 'http bad rule path',
    }));
  // In a query string every value is a string: only breaks that stay bad as strings.
  const badQueryString = broken(validQuery, {
    from: fc.constantFrom('x', '', '2026-13-01T00:00:00Z'),
    to: fc.constantFrom(iso(Date.now() - 2 * 86_400_000), iso(Date.now() + 40 * 86_400_000), 'later'),
    step: fc.constantFrom('1.5s', '0s', '-1', '1ms', 'x'),
    topic: fc.constantFrom('', 'a b', 'x'.repeat(200)),
  }).map((q): BadInput => ({
    kind: 'http',
    method: 'GET',
    path: `/v1/events?${new URLSearchParams(
      Object.entries(q).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : json(v)]),
    ).toString()}`,
    body: '',
    what: 'http events query',
  }));
  const wrongRoute = fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      fc.constantFrom(
        '/v1',
        '/v2/check',
        '/v1/check/x',
        '/v1/rules/a/b/c',
        '/v1/status/x',
        '/%ZZ',
        '/v1/checks',
        // Leases are served on NATS only.
        '/v1/lease',
        '/v1/lease/batch',
        '/v1/lease/return',
        '/v1/lease/return/batch',
      ),
    )
    .map(([method, path]): BadInput => ({ kind: 'http', method, path, body: '{}', what: 'http no route' }));
  // The dashboard's data routes (services/api/dashboard/queries.ts): unknown, repeated or bad parameters.
  const badDashboard = fc
    .oneof(
      fc.tuple(
        fc.constantFrom('/v1/dashboard/overview', '/v1/dashboard/pools'),
        fc.oneof(
          unknownKey.map((k) => `${encodeURIComponent(k)}=1`),
          fc.constant('token=a'),
        ),
      ),
      fc.tuple(
        fc.constant('/v1/dashboard/token'),
        fc.oneof(
          fc.constantFrom(
            '',
            'token=',
            'token=a&token=b',
            'token=a&params=%7B%7D',
            'params=%7B',
            'params=null',
          ),
          unknownKey.map((k) => `token=a&${encodeURIComponent(k)}=1`),
          notObject.map((v) => `params=${encodeURIComponent(json(v))}`),
          fc.constant(`params=${encodeURIComponent(json({ u: { deep: 1 } }))}`),
        ),
      ),
    )
    .map(([path, query]): BadInput => ({
      kind: 'http',
      method: 'GET',
      path: query === '' ? path : `${path}?${query}`,
      body: '',
      what: 'http dashboard query',
    }));
  return fc.oneof(...bodies, badPath, badQueryString, wrongRoute, badDashboard);
}
