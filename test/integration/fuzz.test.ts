// Property-based fuzz (fast-check): at least 10,000 inputs that are bad by
// construction, spread over every public NATS subject (forecast.get
// included: its bodies are in test/helpers/bad-inputs.ts; and each node's
// own subjects, headroom.v1.node.<id>.check[.batch] and .lease[.batch|.return[.batch]]), every internal
// subject and every HTTP route, sent to two real node processes while valid
// checks are in flight. Every bad input must get a coded error, no process
// may exit, no NATS connection may drop, and every valid check is answered. Then a cluster member
// (Moleculer, role node) calls the lease relay actions throttle.lease / throttle.leaseReturn, the
// hand-off throttle.receive, the pools actions pools.want / local / holds, forecast.predict,
// bayes.query, every trainer.* action and training.series with bad params: each gets a coded
// error back. Then it emits bad forecast.error and forecast.model events, which have no reply:
// the node counts each one and drops it (the trainer's error average does not move), and answers
// afterwards. Last it broadcasts bad headroom.events.signal rows and forged $node.connected,
// $node.disconnected and $services.changed events (Moleculer's transit hands those to the
// handlers too): counted and dropped alike, and the node answers afterwards.
// Before any node starts, each pool's season checkpoint (`season.<pool>` in the `headroom_pools`
// JetStream KV bucket, services/pools/season-store.ts) is set to a hostile value: random bytes,
// random JSON, a valid checkpoint with one field replaced, a poisoned value, another pool's or
// configuration's checkpoint, one near the server's max payload (test/helpers/bad-season-checkpoints.ts).
// fz-pool and fz-pool-op (on the valid checks' rules) draw their fault at random; one more pool per
// kind of fault makes sure every kind is read on every run. Each manager reads its pool's value as it starts (again on the other node when
// fz-2's arrival moves the pool before it had a season to write): it must refuse it with a warning
// naming the field lib's decoder names (or take it, when a replaced field happened to be valid),
// and by the end the pools the valid checks draw on hold a checkpoint their manager wrote.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import type { NatsConnection } from 'nats';
import { decodeSeasonCheckpoint, eventId } from '../../lib/index.ts';
import type { SeasonCheckpointShape } from '../../lib/index.ts';
import type { PoolStatus } from '../../services/pools/index.ts';
import { seasonBucket, seasonKey } from '../../services/pools/index.ts';
import { badHttpRequests, badInternalRequests, badNatsRequests } from '../helpers/bad-inputs.ts';
import type { BadInput } from '../helpers/bad-inputs.ts';
import {
  SEEDER_NODE,
  SeasonCheckpointFault,
  badSeasonCheckpoint,
  expectedOutcome,
  seasonRefusals,
  seasonShape,
} from '../helpers/bad-season-checkpoints.ts';
import type { BadSeasonCheckpoint, SeasonOutcome } from '../helpers/bad-season-checkpoints.ts';
import { freePort, startNatsServer } from '../helpers/nats-server.ts';
import { client, request, settle, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';
import { observerBroker } from '../helpers/observer-broker.ts';

const INPUTS = Number(process.env['HEADROOM_FUZZ_INPUTS'] ?? 10_000);
const SEED = Number(process.env['HEADROOM_FUZZ_SEED'] ?? 20261205);
const MAX_PAYLOAD = 4096;
const NAMESPACE = 'headroom';
/** The pools' step and season (the defaults, written out: the checkpoints' shape depends on them). */
const POOL_STEP_MS = 5000;
const POOL_SEASON_MS = 86_400_000;

/** A pool of the fuzzed cluster and the hostile season checkpoint put under its key. */
interface SeededSeason {
  pool: string;
  shape: SeasonCheckpointShape;
  bad: BadSeasonCheckpoint;
  /** What lib's decoder makes of it at the time it was put. */
  expected: SeasonOutcome;
}

/**
 * The pools and their hostile season checkpoints: fz-pool and fz-pool-op (the valid checks'
 * rules draw on them) with a fault drawn at random, and one pool per kind of fault (on rules
 * no one puts) so that every kind is read on every run.
 */
function seasonSeeds(nowStep: number, maxBytes: number): SeededSeason[] {
  const seeds: Array<{
    pool: string;
    arb: (shape: SeasonCheckpointShape) => fc.Arbitrary<BadSeasonCheckpoint>;
  }> = [
    ...['fz-pool', 'fz-pool-op'].map((pool) => ({
      pool,
      arb: (shape: SeasonCheckpointShape) =>
        fc
          .constantFrom(...SeasonCheckpointFault)
          .chain((fault) => badSeasonCheckpoint(fault, shape, nowStep, maxBytes)),
    })),
    ...SeasonCheckpointFault.map((fault, i) => ({
      pool: `fz-season-${i + 1}`,
      arb: (shape: SeasonCheckpointShape) => badSeasonCheckpoint(fault, shape, nowStep, maxBytes),
    })),
  ];
  return seeds.map(({ pool, arb }, i) => {
    const shape = seasonShape(pool, POOL_STEP_MS, POOL_SEASON_MS);
    const bad = fc.sample(arb(shape), { numRuns: 1, seed: SEED + i })[0]!;
    return { pool, shape, bad, expected: expectedOutcome(bad.bytes, shape, nowStep) };
  });
}

/** The pools file's entry of each seeded pool: both valid checks' pools checkpoint every step. */
function seasonPoolSpecs(seeds: SeededSeason[]): unknown[] {
  const rules: Record<string, string> = { 'fz-pool': 'per-user', 'fz-pool-op': 'per-op' };
  return seeds.map(({ pool }) => ({
    name: pool,
    rules: [rules[pool] ?? `${pool}-rule`],
    kind: 'simulated',
    unitCapacity: 100,
    maxUnits: 4,
    stepMs: POOL_STEP_MS,
    seasonMs: POOL_SEASON_MS,
    ...(pool in rules ? { seasonCheckpointMs: POOL_STEP_MS } : {}),
  }));
}

interface Connz {
  connections: Array<{ cid: number; name?: string }>;
}

async function connections(monitorPort: number): Promise<Map<number, string>> {
  const r = await fetch(`http://127.0.0.1:${monitorPort}/connz?limit=1000`);
  const body = (await r.json()) as Connz;
  return new Map(body.connections.map((c) => [c.cid, c.name ?? '']));
}

/** What a bad input got back: a coded error, or a description of what went wrong. */
async function send(nc: NatsConnection, httpUrl: string, input: BadInput): Promise<string | null> {
  if (input.kind === 'nats' && input.noReply === true) {
    nc.publish(input.subject, input.payload);
    return null;
  }
  if (input.kind === 'nats') {
    let text: string;
    try {
      const msg = await nc.request(input.subject, input.payload, { timeout: 10_000 });
      text = msg.string();
    } catch (err) {
      return `no reply (${(err as Error).message})`;
    }
    // A forwarded batch is acknowledged with an empty message once its clients had their (error) answers.
    if (text === '' && input.what === 'internal forward') return null;
    return codedError(text);
  }
  const res = await fetch(`${httpUrl}${input.path}`, {
    method: input.method,
    ...(input.body === '' || input.method === 'GET' ? {} : { body: input.body }),
  });
  const text = await res.text();
  if (res.status < 400) return `HTTP ${res.status}`;
  return codedError(text);
}

function codedError(text: string): string | null {
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    return `reply not JSON: ${text.slice(0, 80)}`;
  }
  const err = (reply as { error?: { code?: unknown; message?: unknown; field?: unknown } }).error;
  if (err === undefined) return `not an error: ${text.slice(0, 120)}`;
  if (typeof err.code !== 'string' || !err.code.startsWith('HEADROOM_ERR_'))
    return `uncoded error: ${text.slice(0, 120)}`;
  if (typeof err.message !== 'string' || err.message === '')
    return `error without a message: ${text.slice(0, 120)}`;
  return null;
}

/**
 * The client library's node subjects (client/): bad checks and leases on each
 * node's own subjects (`headroom.v1.topology` is among the public operations).
 */
function badNodeRequests(nodeIds: string[]): fc.Arbitrary<BadInput> {
  return badNatsRequests(MAX_PAYLOAD)
    .filter(
      (i) =>
        i.kind === 'nats' &&
        /^headroom\.v1\.(check(\.batch)?|lease(\.batch|\.return(\.batch)?)?)$/.test(i.subject),
    )
    .chain((i) =>
      i.kind !== 'nats'
        ? fc.constant(i)
        : fc.constantFrom(...nodeIds).map((id): BadInput => ({
            ...i,
            subject: i.subject.replace('headroom.v1.', `headroom.v1.node.${id}.`),
            what: `node ${i.what}`,
          })),
    );
}

/**
 * Bad params of `throttle.lease` and `throttle.leaseReturn`: anything, or a
 * valid ask or return (of a token no node grants: the ask is well-formed but
 * its return names no slice) with one field broken.
 */
function badRelayParams(): fc.Arbitrary<unknown> {
  const ask = {
    client: 'fz-client',
    token: 'per-user|user=fz',
    rule: { id: 'per-user', rate: 1000, periodMs: 1000, burst: 1000, mode: 'enforce' },
    want: 5,
  };
  const ret = { lease: 'AAAAAAAAAAAA', token: 'per-user|user=fz', unused: 1 };
  const bad = fc.oneof(
    // No string (a token is one) and no object ({} is a valid `params`): never valid in any field.
    fc
      .jsonValue()
      .filter((v) => typeof v !== 'string' && (v === null || typeof v !== 'object' || Array.isArray(v))),
    fc.constantFrom(-1, 0, 1e300, '', 'x'.repeat(20_000), null),
  );
  const broken = (base: Record<string, unknown>, keys: string[]): fc.Arbitrary<unknown> =>
    fc.tuple(fc.constantFrom(...keys), bad).map(([k, v]) => ({ ...base, [k]: v }));
  return fc.oneof(
    fc.jsonValue(),
    broken(ask, ['client', 'token', 'rule', 'want', 'previous', 'params', 'report', 'extra']),
    broken(ret, ['lease', 'token', 'unused', 'report', 'node']),
    // Well-formed, but no node holds this slice.
    fc.constant(ret),
  );
}

/**
 * Bad params of the pools actions (role node: a node sends its tokens'
 * wants to the pool's owner, services/pools/pool-wants.ts): a good want with
 * one field broken, or anything in place of the pool's name.
 */
function badPoolCalls(): fc.Arbitrary<[string, string, unknown]> {
  const want = {
    token: 'per-user|user=fz',
    priority: 1,
    wants: { horizons: [1, 6], p10: [1, 1], p50: [2, 2], p90: [3, 3] },
    actual: 1,
    denied: 0,
    perSecond: [1, 1],
    limit: { rate: 1000, periodMs: 1000 },
  };
  // Never valid in any of these fields: no number (counts may be any number >= 0), no string (a
  // token or a pool name may be almost any), no object, no list of numbers >= 0 (an empty list of
  // seconds is a valid one).
  const amounts = (v: unknown): boolean =>
    Array.isArray(v) && v.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0);
  const bad = fc.oneof(
    fc.jsonValue().filter((v) => v === null || typeof v === 'boolean' || (Array.isArray(v) && !amounts(v))),
    fc.constantFrom(-1, -0.5, '', 'x'.repeat(20_000), null, ['1'], [-1, 2]),
  );
  const brokenWant = fc
    .tuple(fc.constantFrom('token', 'priority', 'wants', 'actual', 'denied', 'perSecond', 'limit'), bad)
    .map(([k, v]) => ({ pool: 'fz-pool', wants: [{ ...want, [k]: v }] }));
  const brokenQuantiles = fc
    .tuple(fc.constantFrom('horizons', 'p10', 'p50', 'p90'), bad)
    .map(([k, v]) => ({ pool: 'fz-pool', wants: [{ ...want, wants: { ...want.wants, [k]: v } }] }));
  const wants = fc.oneof(
    brokenWant,
    brokenQuantiles,
    bad.map((pool) => ({ pool, wants: [want] })),
    fc.constant({ pool: 'fz-pool', wants: 'x' }),
    // A pool no node runs.
    fc.constant({ pool: 'no-such-pool', wants: [want] }),
  );
  // pools.local and pools.holds take `{pool}` only.
  const pools = fc.oneof(
    bad.map((pool) => ({ pool })),
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
  );
  return fc.oneof(
    fc.tuple(fc.constantFrom('fz-1', 'fz-2'), fc.constant('pools.want'), wants),
    fc.tuple(fc.constantFrom('fz-1', 'fz-2'), fc.constantFrom('pools.local', 'pools.holds'), pools),
  );
}

/**
 * Bad params of `forecast.predict` (the node's own forecast round calls it;
 * any cluster member can): anything but `{items: [...]}`, or a list of good
 * items with one field of one broken, `season` (one number >= 0 or null per
 * horizon, 3 on the fuzzed node) among them.
 */
function badPredictParams(): fc.Arbitrary<unknown> {
  const item = {
    token: 'per-user|user=fz',
    values: [1, 0, 2],
    startMs: 1_764_000_000_000,
    season: [1, null, 2],
  };
  // Never valid in any field of an item: no number (a start), no non-empty string (a token), no
  // list of numbers >= 0 (values), nor of three numbers >= 0 or null (a season).
  const counts = (v: unknown): boolean =>
    Array.isArray(v) && v.length > 0 && v.every((n) => n === null || (typeof n === 'number' && n >= 0));
  const bad = fc.oneof(
    fc.jsonValue().filter((v) => typeof v !== 'number' && (typeof v !== 'string' || v === '') && !counts(v)),
    fc.constantFrom(null, '', [], ['1'], [-1, 2], {}, true),
  );
  // Wrong for a season only: a wrong length, a negative, a string, a list of anything.
  const badSeason = fc.oneof(
    fc.constantFrom([1, 2], [1, -1, 2], [1, '2', 3], [null, null, null, null], 'x', 0),
    fc.array(fc.jsonValue(), { maxLength: 6 }).filter((v) => !(v.length === 3 && counts(v))),
  );
  const broken = fc
    .tuple(fc.constantFrom('token', 'values', 'startMs', 'season'), bad)
    .map(([k, v]) => ({ ...item, [k]: v }));
  const items = fc.oneof(
    broken,
    badSeason.map((season) => ({ ...item, season })),
    bad.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
  );
  return fc.oneof(
    fc
      .jsonValue()
      .filter(
        (v) => !(typeof v === 'object' && v !== null && Array.isArray((v as { items?: unknown }).items)),
      ),
    fc
      .tuple(
        fc.array(fc.constant(item), { maxLength: 3 }),
        items,
        fc.array(fc.constant(item), { maxLength: 3 }),
      )
      .map(([before, one, after]) => ({ items: [...before, one, ...after] })),
  );
}

/** The fuzzed node's forecast horizons (the defaults). */
const HORIZONS_MS = [5000, 30_000, 300_000];

/** Anything JSON but null and strings and objects: never valid where a string, an object or a default (null) fits. */
const notStringOrObject = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc
      .jsonValue()
      .filter((v) => v !== null && typeof v !== 'string' && (typeof v !== 'object' || Array.isArray(v))),
    fc.constantFrom(-1, 0, 1.5, true, [], [1]),
  );

/** `good` with one of its fields (or an unknown one) set to a value from that field's bad ones. */
function brokenField(
  good: Record<string, unknown>,
  bad: Record<string, fc.Arbitrary<unknown>>,
): fc.Arbitrary<unknown> {
  return fc.oneof(
    ...Object.entries(bad).map(([k, values]) => values.map((v) => ({ ...good, [k]: v }))),
    fc.jsonValue().map((v) => ({ ...good, extra: v })),
  );
}

/**
 * Bad params of the member actions the first part leaves out (all role
 * node): `bayes.query`, `trainer.*` and `training.series` on fz-1 (fz-2
 * runs without forecasting), `throttle.receive` on both. Each is bad by
 * construction; a well-formed hand-off names a live node other than the
 * caller (refused: a node hands over only its own actors).
 */
function badMemberCalls(): fc.Arbitrary<[string, string, unknown]> {
  const notNumber = fc.jsonValue().filter((v) => typeof v !== 'number');
  const bayes = fc.oneof(
    brokenField(
      { evidence: { event: 'spike' }, target: 'burst', horizonMs: HORIZONS_MS[0] },
      {
        evidence: fc.oneof(
          notStringOrObject(),
          fc.constantFrom(
            { event: true },
            { event: -1 },
            { event: '' },
            { event: {} },
            { event: 'x'.repeat(65) },
          ),
        ),
        target: fc.oneof(notStringOrObject(), fc.constantFrom('', 'storm', 'BURST')),
        horizonMs: fc.oneof(
          notNumber.filter((v) => v !== null),
          fc.constantFrom(-1, 0, 1000, 5000.5, 1e300),
        ),
      },
    ),
    notStringOrObject(),
  );
  // status, train and rollback take {} (or no params): anything else is refused before it runs.
  const empty = fc.oneof(
    fc
      .jsonValue()
      .filter(
        (v) => v !== null && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0),
      ),
    fc.constantFrom({ now: true }, { version: 'v000001' }, 'x', 0),
  );
  const promote = fc.oneof(
    brokenField(
      { version: 'v000001' },
      {
        version: fc.oneof(
          notStringOrObject(),
          fc.constantFrom('', 'latest', 'v1', '../v000001', 'x'.repeat(20_000)),
        ),
      },
    ),
    fc.constant({}),
    notStringOrObject(),
    fc.constant(null),
  );
  const series = fc.oneof(
    brokenField(
      { maxTokens: 10 },
      { maxTokens: fc.oneof(notNumber, fc.constantFrom(-1, 0, 1.5, 1001, 1e300)) },
    ),
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
  );
  const item = {
    rule: { id: 'per-user', rate: 1000, periodMs: 1000, burst: 1000, mode: 'enforce' },
    snapshot: { token: 'per-user|user=fz', ruleId: 'per-user' },
  };
  const receive = fc.oneof(
    fc.constantFrom('fz-1', 'fz-2').chain((from) =>
      brokenField(
        { from, items: [item], done: true },
        {
          from: fc.oneof(notStringOrObject(), fc.constantFrom('', 'x'.repeat(300))),
          items: fc.oneof(
            notStringOrObject().filter((v) => !(Array.isArray(v) && v.length === 0)),
            fc.constantFrom(
              [{ ...item, rule: { ...item.rule, rate: -1 } }],
              [{ ...item, snapshot: { token: 'other|user=fz', ruleId: 'per-user' } }],
              [{ ...item, extra: 1 }],
              [null],
            ),
          ),
          done: fc.oneof(
            notStringOrObject().filter((v) => typeof v !== 'boolean'),
            fc.constantFrom('true', null),
          ),
        },
      ),
    ),
    // Well-formed: refused because the caller is not `from`.
    fc.constantFrom('fz-1', 'fz-2').map((from) => ({ from, items: [item], done: true })),
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
  );
  return fc.oneof(
    fc.tuple(fc.constant('fz-1'), fc.constant('bayes.query'), bayes),
    fc.tuple(
      fc.constant('fz-1'),
      fc.constantFrom('trainer.status', 'trainer.train', 'trainer.rollback'),
      empty,
    ),
    fc.tuple(fc.constant('fz-1'), fc.constant('trainer.promote'), promote),
    fc.tuple(fc.constant('fz-1'), fc.constant('training.series'), series),
    fc.tuple(fc.constantFrom('fz-1', 'fz-2'), fc.constant('throttle.receive'), receive),
  );
}

/**
 * Bad `forecast.error` and `forecast.model` events (both heard on fz-1
 * only). The first few would move the trainer's error average by 10^11 or
 * more if they were taken (the node's own rounds report WAPEs far below
 * 10^6): a negative WAPE, a count that is a string or a fraction, an unknown
 * field.
 */
function badForecastEvents(): fc.Arbitrary<[string, unknown]> {
  const error = fc.oneof(
    brokenField(
      { wape: 0.5, n: 3 },
      {
        wape: fc.oneof(
          fc.jsonValue().filter((v) => typeof v !== 'number'),
          fc.constantFrom(-1, -1e-9),
        ),
        n: fc.oneof(
          fc.jsonValue().filter((v) => typeof v !== 'number'),
          fc.constantFrom(0, -1, 1.5, 1e300),
        ),
      },
    ),
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    fc.constant({}),
  );
  const model = fc.oneof(
    brokenField(
      { version: 'v000001' },
      { version: fc.oneof(notStringOrObject(), fc.constantFrom('', 'pretrained', '../v000001', 'v1')) },
    ),
    notStringOrObject(),
  );
  return fc.oneof(
    fc.tuple(fc.constant('forecast.error'), error),
    fc.tuple(fc.constant('forecast.model'), model),
  );
}

/**
 * Bad `headroom.events.signal` rows (services/collection/events.ts; heard on
 * fz-1 only, fz-2 keeps no events): a well-formed row with one field broken
 * (any change breaks it, as the row's id is that of what it carries), an
 * unknown field, or no object at all. The first few are what the handler
 * once took: a null row, string tokens, a time that is not a number.
 */
function badSignalRows(): fc.Arbitrary<unknown> {
  const e = { source: 'fz', topic: 'fz-news', timeMs: Date.UTC(2026, 11, 1), value: 1, tokens: ['k1:fz'] };
  const good = { ...e, id: eventId(e) };
  const notString = fc.jsonValue().filter((v) => typeof v !== 'string');
  return fc.oneof(
    fc.constantFrom(null, { ...good, tokens: 'k1:fz' }, { ...good, timeMs: '2026-12-01T00:00:00Z' }),
    brokenField(good, {
      id: fc.oneof(notString, fc.constantFrom('', 'f'.repeat(32))),
      source: fc.oneof(notString, fc.constantFrom('', 'a b', 'x'.repeat(129), 'other')),
      topic: fc.oneof(notString, fc.constantFrom('', 'a b', 'x'.repeat(129), 'other')),
      timeMs: fc.oneof(
        fc.jsonValue().filter((v) => typeof v !== 'number'),
        fc.constantFrom(-1, 0.5, 1e300, 0),
      ),
      value: fc.jsonValue().filter((v) => typeof v !== 'number'),
      tokens: fc.oneof(
        fc.jsonValue().filter((v) => !Array.isArray(v)),
        fc.constantFrom(
          [''],
          [1],
          [null],
          ['k1:other'],
          Array.from({ length: 101 }, (_, i) => `k${i}`),
        ),
      ),
    }),
    fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    fc.constant({}),
  );
}

/**
 * Forged membership events: Moleculer's registry raises them on each node
 * only, so any from the wire is refused, well-formed ones too (a member
 * naming a live node as gone, or a leaving one as back), as is garbage that
 * the handlers once dereferenced. Broadcast: fz-1 hears every one.
 */
function forgedMembershipEvents(): fc.Arbitrary<[string, unknown]> {
  return fc.tuple(
    fc.constantFrom('$node.connected', '$node.disconnected', '$services.changed'),
    fc.oneof(
      fc.constantFrom(
        null,
        { node: { id: 'fz-1' } },
        { node: { id: 'fz-2' }, unexpected: true },
        { node: { id: 'fz-gone' }, reconnected: true },
        { localService: false },
      ),
      fc.record({ node: fc.record({ id: fc.jsonValue() }) }),
      fc.jsonValue(),
    ),
  );
}

/** Events the trainer took before its params were checked, each far off any real WAPE. */
const LOUD_BAD_ERRORS: Array<[string, unknown]> = [
  ['forecast.error', { wape: -1e12, n: 1 }],
  ['forecast.error', { wape: 1e12, n: '1' }],
  ['forecast.error', { wape: 1e12, n: 1.5 }],
  ['forecast.error', { wape: 1e12, n: 1, node: 'fz-2' }],
];

/** Runs `work` over `items` with `width` in flight. */
async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

test('fuzz - every bad input gets a coded error while valid checks keep being answered', async (t) => {
  t.timeout(300_000);
  const monitorPort = await freePort();
  const nats = await startNatsServer({ args: ['-m', String(monitorPort)] });
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-fuzz-'));
  const nodes: NodeProcess[] = [];
  let nc: NatsConnection | undefined;
  // The valid checks' loop: stopped in `finally` too, so a failed step cannot leave it spinning.
  let stop = false;
  let checker: Promise<void> | undefined;
  try {
    // Pools on both nodes: fz-pool's actions (role node) are fuzzed by the cluster member below, and
    // every pool's season checkpoint is hostile before its first manager starts (the bucket made
    // as the nodes make it, services/pools/season-store.ts).
    nc = await client(nats.url);
    const seeding = performance.now();
    const seeds = seasonSeeds(Math.floor(Date.now() / POOL_STEP_MS), nc.info!.max_payload);
    const kv = await nc.jetstream().views.kv(seasonBucket(NAMESPACE), { history: 1 });
    for (const { pool, bad } of seeds) await kv.put(seasonKey(pool), bad.bytes);
    const seedingMs = performance.now() - seeding;
    const poolsFile = join(dataDir, 'pools.json');
    await writeFile(poolsFile, JSON.stringify({ pools: seasonPoolSpecs(seeds) }));
    const common = [
      '--nats',
      nats.url,
      '--max-payload-bytes',
      String(MAX_PAYLOAD),
      '--pools-file',
      poolsFile,
    ];
    nodes.push(
      // One node with the defaults (store, forecasting and TensorFlow.js loaded) and the HTTP API.
      await startNodeProcess({
        nodeId: 'fz-1',
        args: [...common, '--http-port', '0', '--data-dir', dataDir],
      }),
      await startNodeProcess({ nodeId: 'fz-2', args: [...common, '--store', 'none', '--forecast', 'false'] }),
    );
    await settle(nc, ['fz-1', 'fz-2']);
    for (const rule of [
      { id: 'per-user', key: ['user'], rate: 1000, period: '1s' },
      { id: 'per-op', key: ['op'], rate: 100_000, period: '1s' },
    ]) {
      t.falsy((await request(nc, 'headroom.v1.rules.put', rule)).error);
    }
    const before = await connections(monitorPort);
    const nodeConns = [...before].filter(([, name]) => name !== 'headroom-test-client').map(([cid]) => cid);

    const inputs = fc.sample(
      fc.oneof(
        { weight: 5, arbitrary: badNatsRequests(MAX_PAYLOAD) },
        { weight: 2, arbitrary: badInternalRequests(NAMESPACE, ['fz-1', 'fz-2']) },
        { weight: 3, arbitrary: badHttpRequests(MAX_PAYLOAD) },
        { weight: 1, arbitrary: badNodeRequests(['fz-1', 'fz-2']) },
      ),
      { numRuns: INPUTS, seed: SEED },
    );

    // Valid checks in flight the whole time, through both nodes (queue group) and two rules.
    const valid = { sent: 0, answered: 0, failures: [] as string[] };
    checker = (async () => {
      const conn = await client(nats.url);
      try {
        await pool(
          Array.from({ length: 8 }, (_, i) => i),
          8,
          async (w) => {
            for (let i = 0; !stop; i++) {
              valid.sent++;
              try {
                const r = await request<{ allow?: unknown; error?: unknown }>(conn, 'headroom.v1.check', {
                  params: { user: `ok-${w}-${i % 20}`, op: 'read' },
                });
                if (typeof r.allow === 'boolean' && r.error === undefined) valid.answered++;
                else valid.failures.push(JSON.stringify(r).slice(0, 200));
              } catch (err) {
                valid.failures.push((err as Error).message);
              }
            }
          },
        );
      } finally {
        await conn.close();
      }
    })();

    const failures: string[] = [];
    const byWhat = new Map<string, number>();
    const started = performance.now();
    await pool(inputs, 32, async (input) => {
      byWhat.set(input.what, (byWhat.get(input.what) ?? 0) + 1);
      const problem = await send(nc!, nodes[0]!.httpUrl!, input);
      if (problem !== null && failures.length < 20) {
        failures.push(
          `${input.what} ${input.kind === 'nats' ? input.subject : `${input.method} ${input.path.slice(0, 80)}`} ${(input.kind === 'nats' ? input.payload : input.body).slice(0, 120)} -> ${problem}`,
        );
      } else if (problem !== null) failures.push('');
    });
    const seconds = (performance.now() - started) / 1000;

    // The lease relay actions (role node: another node relays a client's lease or return to the
    // token's owner, services/check/lease-desk.ts), called by a cluster member with bad params:
    // each gets a coded error back, and the nodes stay up.
    const member = observerBroker(nats.url, NAMESPACE);
    const relayFailures: string[] = [];
    const relayed = [
      ...fc.sample(
        fc.oneof(
          fc.tuple(
            fc.constantFrom('fz-1', 'fz-2'),
            fc.constantFrom('throttle.lease', 'throttle.leaseReturn'),
            badRelayParams(),
          ),
          badPoolCalls(),
        ),
        { numRuns: Math.max(200, Math.round(INPUTS / 20)), seed: SEED },
      ),
      // forecast.predict: only fz-1 forecasts (fz-2 runs with --forecast false).
      ...fc.sample(fc.tuple(fc.constant('fz-1'), fc.constant('forecast.predict'), badPredictParams()), {
        numRuns: Math.max(100, Math.round(INPUTS / 40)),
        seed: SEED,
      }),
    ];
    // Each bad predict is refused by its check (an InputError naming the field), not by anything else.
    const predictCodes = new Map<string, number>();
    // The other member actions: each bad call refused by its params' check (a well-formed hand-off
    // by its caller check), so with one of these codes.
    const memberCalls = fc.sample(badMemberCalls(), {
      numRuns: Math.max(200, Math.round(INPUTS / 40)),
      seed: SEED,
    });
    const memberCodes = new Map<string, number>();
    const events = [
      ...LOUD_BAD_ERRORS,
      ...fc.sample(badForecastEvents(), { numRuns: Math.max(100, Math.round(INPUTS / 100)), seed: SEED }),
    ];
    let eventsCounted = 0;
    let recentWape: number | null = null;
    const clusterEvents: Array<[string, unknown]> = [
      ...fc
        .sample(badSignalRows(), { numRuns: Math.max(50, Math.round(INPUTS / 200)), seed: SEED })
        .map((row): [string, unknown] => ['headroom.events.signal', row]),
      ...fc.sample(forgedMembershipEvents(), { numRuns: Math.max(50, Math.round(INPUTS / 200)), seed: SEED }),
    ];
    let clusterEventsCounted = 0;
    let poolStatus: PoolStatus[] = [];
    await member.start();
    try {
      await pool(relayed, 16, async ([nodeID, action, params]) => {
        try {
          await member.call(action, params, { nodeID, timeout: 10_000 });
          relayFailures.push(`${action} ${JSON.stringify(params).slice(0, 120)} -> accepted`);
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (action === 'forecast.predict')
            predictCodes.set(String(code), (predictCodes.get(String(code)) ?? 0) + 1);
          if (typeof code !== 'string' || !code.startsWith('HEADROOM_ERR_'))
            relayFailures.push(
              `${action} ${JSON.stringify(params).slice(0, 120)} -> ${String(code)} ${(err as Error).message}`,
            );
        }
      });
      await pool(memberCalls, 16, async ([nodeID, action, params]) => {
        let code: unknown = 'accepted';
        try {
          await member.call(action, params, { nodeID, timeout: 10_000 });
        } catch (err) {
          code = (err as { code?: unknown }).code;
        }
        const key = `${action} ${String(code)}`;
        memberCodes.set(key, (memberCodes.get(key) ?? 0) + 1);
        if (typeof code !== 'string' || !code.startsWith('HEADROOM_ERR_'))
          relayFailures.push(`${action} ${JSON.stringify(params).slice(0, 120)} -> ${String(code)}`);
      });

      // The events: fz-1 must be the elected trainer (its only one), or a forecast.error reaches no
      // error average. Each bad event is counted among fz-1's refused calls and dropped.
      await member.waitForServices(['trainer', 'forecast'], 20_000);
      const trainerStatus = (): Promise<{ active: boolean; recentWape: number | null }> =>
        member.call('trainer.status', {}, { nodeID: 'fz-1', timeout: 10_000 });
      await waitUntil(async () => (await trainerStatus()).active, 30_000, 'fz-1 elected as the trainer');
      const refusedCalls = async (): Promise<number> => {
        const s = await request<{ nodes: Array<{ id: string; refused: { callsRefused: number } | null }> }>(
          nc!,
          'headroom.v1.status',
          {},
        );
        return s.nodes.find((n) => n.id === 'fz-1')?.refused?.callsRefused ?? Number.NaN;
      };
      const before = await refusedCalls();
      for (const [event, payload] of events) await member.emit(event, payload);
      let counted = before;
      await waitUntil(
        async () => (counted = await refusedCalls()) - before >= events.length,
        20_000,
        `fz-1 counting ${events.length} bad events (${counted - before} so far)`,
      );
      eventsCounted = counted - before;
      // The node answers afterwards, and no bad WAPE reached the trainer's average.
      recentWape = (await trainerStatus()).recentWape;

      // The cluster's own events, broadcast (fz-1 hears each once): counted among fz-1's refused
      // calls and dropped, and fz-1 answers afterwards, still listing both nodes' actors.
      const beforeCluster = await refusedCalls();
      for (const [event, payload] of clusterEvents) await member.broadcast(event, payload);
      let countedCluster = beforeCluster;
      await waitUntil(
        async () => (countedCluster = await refusedCalls()) - beforeCluster >= clusterEvents.length,
        20_000,
        `fz-1 counting ${clusterEvents.length} bad cluster events (${countedCluster - beforeCluster} so far)`,
      );
      clusterEventsCounted = countedCluster - beforeCluster;
      await member.call('throttle.actors', {}, { nodeID: 'fz-1', timeout: 10_000 });
      poolStatus = await member.call('pools.status', {}, { timeout: 10_000 });
    } finally {
      await member.stop();
    }
    t.log(
      `${relayed.length} bad throttle.lease / throttle.leaseReturn / pools.want / pools.local / pools.holds / forecast.predict calls (${relayed.filter(([, a]) => a === 'forecast.predict').length} predict): ${relayed.length - relayFailures.length} coded errors`,
    );
    t.deepEqual(relayFailures.slice(0, 10), [], `${relayFailures.length} relay calls without a coded error`);
    t.deepEqual([...predictCodes.keys()], ['HEADROOM_ERR_INVALID_FIELD'], JSON.stringify([...predictCodes]));
    t.log(
      `${memberCalls.length} bad bayes.query / trainer.* / training.series / throttle.receive calls: ${[
        ...memberCodes,
      ]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')}`,
    );
    const inputCodes = ['INVALID_FIELD', 'UNKNOWN_FIELD', 'MISSING_FIELD'].map((c) => `HEADROOM_ERR_${c}`);
    const unexpected = [...memberCodes.keys()].filter((k) => {
      const [action, code] = k.split(' ') as [string, string];
      return !(
        inputCodes.includes(code) ||
        (action === 'throttle.receive' && code === 'HEADROOM_ERR_NOT_PERMITTED')
      );
    });
    t.deepEqual(unexpected, [], JSON.stringify([...memberCodes]));
    for (const action of [
      'bayes.query',
      'trainer.status',
      'trainer.train',
      'trainer.promote',
      'trainer.rollback',
    ])
      t.true(
        memberCalls.some(([, a]) => a === action),
        `no ${action} call was fuzzed`,
      );
    t.log(
      `${events.length} bad forecast.error / forecast.model events: ${eventsCounted} counted and dropped`,
    );
    t.is(eventsCounted, events.length);
    t.log(
      `${clusterEvents.length} bad headroom.events.signal / forged $node.* and $services.changed events: ${clusterEventsCounted} counted and dropped`,
    );
    t.is(clusterEventsCounted, clusterEvents.length);
    t.true(
      recentWape === null || (recentWape >= 0 && recentWape < 1e6),
      `the trainer's error average moved to ${recentWape}`,
    );

    stop = true;
    await checker;

    const after = await connections(monitorPort);
    const dropped = nodeConns.filter((cid) => !after.has(cid));
    const exited = nodes
      .filter((n) => n.child.exitCode !== null || n.child.signalCode !== null)
      .map((n) => n.id);
    t.log(
      `${inputs.length} bad inputs in ${seconds.toFixed(1)} s (seed ${SEED}): ${inputs.length - failures.length} coded errors; ` +
        `valid checks ${valid.answered}/${valid.sent} answered; node connections ${nodeConns.length}, dropped ${dropped.length}; exited ${exited.length}`,
    );
    t.log(
      [...byWhat]
        .sort()
        .map(([w, n]) => `${w}: ${n}`)
        .join(', '),
    );
    t.true(inputs.length >= 10_000 || process.env['HEADROOM_FUZZ_INPUTS'] !== undefined);
    t.deepEqual(
      failures.filter((f) => f !== '').slice(0, 20),
      [],
      `${failures.length} bad inputs without a coded error`,
    );
    t.deepEqual(exited, [], nodes.map((n) => n.output().slice(-2000)).join('\n'));
    t.deepEqual(dropped, [], 'node NATS connections dropped');
    // Bad heartbeats get no answer: each node counts them among its bad messages instead.
    await nc.flush();
    const beats = byWhat.get('internal beat') ?? 0;
    t.true(beats > 0);
    const status = await request<{ nodes: Array<{ id: string; refused: { badMessages: number } | null }> }>(
      nc,
      'headroom.v1.status',
      {},
    );
    for (const n of status.nodes) {
      t.true(
        (n.refused?.badMessages ?? 0) >= beats,
        `${n.id} counted ${n.refused?.badMessages} of ${beats} bad beats`,
      );
    }

    // The season checkpoints: each hostile one refused naming the field lib's decoder names (or,
    // where a replaced field was valid after all, taken), by every manager that read it.
    const refusals = nodes.flatMap((n) => seasonRefusals(n.output()));
    t.log(
      `${seeds.length} hostile season checkpoints (made and put in ${seedingMs.toFixed(0)} ms): ${seeds
        .map(
          ({ pool, bad, expected }) =>
            `${pool} ${bad.fault} (${bad.bytes.length} bytes): ${
              expected.refused ? `${expected.field}` : 'valid'
            }, refused ${refusals.filter((r) => r.pool === pool).length}x`,
        )
        .join('; ')}`,
    );
    for (const { pool, bad, expected } of seeds) {
      const mine = refusals.filter((r) => r.pool === pool);
      const what = `${pool} (${bad.fault}): ${JSON.stringify(expected)}, logged ${JSON.stringify(mine)}`;
      if (bad.mustRefuse) t.true(expected.refused, `lib's decoder took a hostile checkpoint: ${what}`);
      if (expected.refused) {
        t.true(expected.field?.startsWith('checkpoint') === true, `no field named: ${what}`);
        t.true(mine.length > 0, `not refused: ${what}`);
        for (const r of mine) t.deepEqual([r.field, r.code], [expected.field, expected.code], what);
      } else {
        t.deepEqual(mine, [], what);
        const s = poolStatus.find((p) => p.pool === pool);
        t.truthy(s?.seasonal?.recoveredFrom, `not recovered: ${what}, status ${JSON.stringify(s)}`);
      }
    }
    // The pools the valid checks draw on have a season by now: their manager's checkpoint replaced
    // the hostile one.
    const rewriting = performance.now();
    for (const { pool, shape } of seeds.filter((s) => s.pool === 'fz-pool' || s.pool === 'fz-pool-op')) {
      let last = '';
      const rewritten = await waitUntil(
        async () => {
          const e = await kv.get(seasonKey(pool));
          try {
            const cp = decodeSeasonCheckpoint(
              e?.string() ?? '',
              shape,
              Math.floor(Date.now() / POOL_STEP_MS),
            );
            last = `written by ${cp.node}`;
            return cp.node !== SEEDER_NODE;
          } catch (err) {
            last = (err as Error).message.slice(0, 200);
            return false;
          }
        },
        20_000,
        `${pool}'s manager writing its own season checkpoint`,
      ).then(
        () => true,
        () => false,
      );
      t.true(rewritten, `${pool}'s checkpoint at the end: ${last}`);
      t.true(['written by fz-1', 'written by fz-2'].includes(last), `${pool}'s checkpoint ${last}`);
    }
    t.log(
      `fz-pool's and fz-pool-op's own checkpoints read back in ${(performance.now() - rewriting).toFixed(0)} ms`,
    );
    t.deepEqual(valid.failures.slice(0, 10), []);
    t.is(valid.answered, valid.sent);
    t.true(valid.sent > 100, `only ${valid.sent} valid checks ran beside the fuzz`);
  } finally {
    stop = true;
    await checker?.catch(() => undefined);
    await nc?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
