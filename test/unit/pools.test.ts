import test from 'ava';
import fc from 'fast-check';
import type { ServiceBroker } from 'moleculer';
import { TokenActor } from '../../actors/index.ts';
import { InputError, SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import { PoolRunner, Pools, checkWantParams, compilePools, wantOf } from '../../services/index.ts';
import type { PlacementTracker, WireWant } from '../../services/index.ts';
import type { DecisionRow } from '../../store/index.ts';

const T0 = 1_764_000_000_000;
const silent = { info() {}, warn() {}, debug() {} };

function setup() {
  const clock = new SimulatedClock(T0);
  let owner = 'n1';
  const listeners: Array<() => void> = [];
  const tracker = {
    owner: () => owner,
    liveNodes: ['n1'],
    onChange: (l: () => void) => listeners.push(l),
  } as unknown as PlacementTracker;
  const broker = { nodeID: 'n1', getLogger: () => silent } as unknown as ServiceBroker;
  const specs = compilePools(
    {
      pools: [
        {
          name: 'api',
          rules: ['per-user'],
          kind: 'simulated',
          unitCapacity: 10,
          minUnits: 1,
          maxUnits: 4,
          stepMs: 1000,
          leadMs: 0,
        },
      ],
    },
    null,
  );
  const rows: DecisionRow[] = [];
  const pools = new Pools({
    broker,
    tracker,
    clock,
    specs,
    write: (r) => rows.push(r),
    storeToken: (t) => `h(${t})`,
  });
  const move = (to: string) => {
    owner = to;
    for (const l of listeners) l();
  };
  return { clock, pools, rows, move };
}

const want = (token: string, p90: number, actual = p90): WireWant => ({
  token,
  priority: 1,
  wants: { horizons: [1, 5], p10: [p90 / 2, p90 / 2], p50: [p90 * 0.8, p90 * 0.8], p90: [p90, p90] },
  actual,
});

test('pools - the owner runs the manager: wants sent as a step ends are answered after its tick, with leases', async (t) => {
  const { clock, pools, rows } = setup();
  pools.start();
  t.truthy(pools.local('api'));
  // Sent at a step's end (T0): answered after the tick a quarter step later, with its leases.
  const answer = pools.want('api', [want('a', 4), want('b', 4)]);
  clock.advance(300);
  const leases = await answer;
  t.is(leases.length, 2);
  // One ready unit serves 10 per step: both get their 4 and share the spare.
  t.is(leases[0]!.rate + leases[1]!.rate, 10);
  t.true(leases.every((l) => l.rate >= 4 && l.expiresAtMs === T0 + 260 + 3000));
  const lease = rows.find((r) => r.kind === 'lease')!;
  t.is(lease.token, 'h(a)');
  // With no start-up lead the pool plans one step ahead: the wants read at horizon 1.
  t.deepEqual(JSON.parse(lease.detail).forecast.horizons, [1]);
  t.like(JSON.parse(lease.detail), { pool: 'api', token: 'h(a)' });
  t.like(pools.local('api'), { ready: 1, leases: 2 });
  // Wants that come late (the next tick over half a step away) are answered at once, with the leases held.
  t.deepEqual(await pools.want('api', [want('a', 4)]), [leases[0]]);
  t.deepEqual(await pools.want('api', [want('c', 4)]), [], 'a new token holds none yet');
});

test('pools - when ownership moves the old owner stops its manager', async (t) => {
  const { pools, move } = setup();
  pools.start();
  t.truthy(pools.local('api'));
  move('n2');
  t.is(pools.local('api'), undefined);
  await t.throwsAsync(pools.want('api', [want('a', 1)]), {
    instanceOf: InputError,
    message: /pool must be a pool run on n1/,
  });
  move('n1');
  t.truthy(pools.local('api'));
  await pools.stop();
  t.is(pools.local('api'), undefined);
});

test('pools - a token wants its forecast per pool step, with its last step demand and its last seconds', (t) => {
  const clock = new SimulatedClock(T0);
  const rule = compileRule(
    parseRule({ id: 'per-user', key: ['user'], rate: 100, period: '1s', priority: 2 }),
  );
  const actor = new TokenActor(tokenKeyOf(rule, { user: 'u1' }), rule, clock);
  clock.advance(1000);
  for (let i = 0; i < 6; i++) actor.check(1);
  clock.advance(1000);
  // No forecast yet: the recent demand stands in at every horizon.
  const cold = wantOf(actor, 2000, [5000, 30_000], clock.now());
  t.deepEqual(cold.wants, { horizons: [3, 15], p10: [6, 6], p50: [6, 6], p90: [6, 6] });
  t.is(cold.priority, 3);
  actor.setForecast({
    madeMs: clock.now(),
    horizonsMs: [5000, 30_000],
    p10: [1, 2],
    p50: [2, 3],
    p90: [3, 4],
  });
  const w = wantOf(actor, 2000, [5000, 30_000], clock.now());
  // Per second -> per 2 s step.
  t.deepEqual(w.wants, { horizons: [3, 15], p10: [2, 4], p50: [4, 6], p90: [6, 8] });
  t.is(w.actual, 6);
  t.is(w.denied, 0);
  // Its seconds since it was created (the part-second it started in left out), for the pool's trend.
  t.deepEqual(w.perSecond, [6]);
  clock.advance(2000);
  t.deepEqual(wantOf(actor, 2000, [5000], clock.now()).perSecond, [6, 0, 0]);
  // The rule's own limit goes with the wants: the lease comes back per its period.
  t.deepEqual(w.limit, { rate: 100, periodMs: 1000, burst: 100 });
});

test('pools - every scale-up and scale-down is one info line with its figures', (t) => {
  const clock = new SimulatedClock(T0);
  const lines: unknown[][] = [];
  const log = { info: (...a: unknown[]) => lines.push(a), warn() {} };
  const [spec] = compilePools(
    {
      pools: [
        {
          name: 'api',
          rules: ['per-user'],
          kind: 'simulated',
          unitCapacity: 10,
          minUnits: 1,
          maxUnits: 8,
          stepMs: 1000,
          leadMs: 0,
        },
      ],
    },
    null,
  );
  const broker = { nodeID: 'n1' } as unknown as ServiceBroker;
  const runner = new PoolRunner(spec!, { broker, clock, sink: () => {}, log });
  t.teardown(() => runner.stop());
  const flat = (x: number) => ({ horizons: [1, 5], p10: [x, x], p50: [x, x], p90: [x, x] });
  t.is(runner.status().forecast, null, 'no forecast before the first tick');
  // 45 per 1 s step wanted: 5 units of 10.
  runner.want([{ token: 'a', priority: 1, wants: flat(45), actual: 30 }]);
  runner.tick();
  runner.want([{ token: 'a', priority: 1, wants: flat(12), actual: 40 }]);
  runner.tick();
  t.is(lines.length, 2);
  const [up, down] = lines as [[Record<string, unknown>, string], [Record<string, unknown>, string]];
  t.like(up[0], {
    event: 'scale-up',
    pool: 'api',
    fromUnits: 1,
    toUnits: 5,
    policy: 'quantile',
    limits: 'raise-only',
    forecast: { p10: 45, p50: 45, p90: 45, horizonMs: 1000 },
  });
  t.regex(up[0].reason as string, /^policy quantile asked for 5 units; forecast p50 45, p90 45/);
  t.is(up[1], `pool api: scale-up from 1 to 5 units (${up[0].reason as string})`);
  t.like(down[0], { event: 'scale-down', fromUnits: 5, toUnits: 2 });
  t.like(runner.status(), { target: 2, forecast: { p50: 12, horizonMs: 1000 }, demand: 40 });
});

test('pools - a qra pool learns the quantile of its demand that the forecast band misses', (t) => {
  const clock = new SimulatedClock(T0);
  const lines: unknown[][] = [];
  const log = { info: (...a: unknown[]) => lines.push(a), warn() {} };
  const spec = (policy: string) =>
    compilePools(
      {
        pools: [
          {
            name: 'api',
            rules: ['per-user'],
            kind: 'simulated',
            unitCapacity: 10,
            minUnits: 1,
            maxUnits: 8,
            stepMs: 1000,
            leadMs: 0,
            policy,
            quantile: 0.9,
          },
        ],
      },
      null,
    )[0]!;
  const broker = { nodeID: 'n1' } as unknown as ServiceBroker;
  const qra = new PoolRunner(spec('qra'), { broker, clock, sink: () => {}, log });
  const quantile = new PoolRunner(spec('quantile'), { broker, clock, sink: () => {}, log: silent });
  t.teardown(() => Promise.all([qra.stop(), quantile.stop()]));
  // The forecast says 20 a step with no spread; the demand is 12 or 28, at random.
  const flat = { horizons: [1, 5], p10: [20, 20], p50: [20, 20], p90: [20, 20] };
  const targets: number[] = [];
  let seed = 7;
  for (let s = 0; s < 400; s++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const want = { token: 'a', priority: 1, wants: flat, actual: seed / 2 ** 31 < 0.5 ? 12 : 28 };
    qra.want([want]);
    quantile.want([want]);
    qra.tick();
    quantile.tick();
    targets.push(qra.status().target);
    t.is(quantile.status().target, 2, 'the quantile policy holds the band-less forecast');
  }
  // Before its first fit it decides as the quantile policy; after, it holds for the 28s.
  t.true(targets.slice(0, 150).every((u) => u === 2));
  t.true(
    targets.slice(300).every((u) => u === 3),
    `${targets.slice(300).join(',')}`,
  );
  t.true(lines.some(([l]) => (l as { policy?: string }).policy === 'qra'));
});

test('pools - pools.want params are checked, naming the field and the value', (t) => {
  const ok = { pool: 'api', wants: [{ ...want('a', 4), perSecond: [1, 2, 3] }] };
  t.is(checkWantParams(ok), ok);
  const bad: Array<[unknown, RegExp]> = [
    [{ wants: [] }, /^pool must be a pool name, got undefined/],
    [{ pool: 'api', wants: {} }, /^wants must be a list of at most 100000 token wants/],
    [{ pool: 'api', wants: [null] }, /^wants\[0\] must be a token want \(an object\), got null/],
    [
      { pool: 'api', wants: [{ ...want('a', 4), priority: 0 }] },
      /^wants\[0\]\.priority must be a positive number, got 0/,
    ],
    [
      { pool: 'api', wants: [{ ...want('a', 4), wants: { ...want('a', 4).wants, p50: ['4'] } }] },
      /^wants\[0\]\.wants\.p50 must be a list of 2 numbers >= 0 \(one per horizon\), got \["4"\]/,
    ],
    [
      { pool: 'api', wants: [{ ...want('a', 4), denied: 'x' }] },
      /^wants\[0\]\.denied must be a number >= 0, got "x"/,
    ],
    [
      { pool: 'api', wants: [{ ...want('a', 4), perSecond: [1, -2] }] },
      /^wants\[0\]\.perSecond must be a list of at most 300 numbers >= 0, got \[1,-2\]/,
    ],
    [{ pool: 'api', wants: [{ ...want('a', 4), perSecond: 'x' }] }, /^wants\[0\]\.perSecond must be/],
    [
      { pool: 'api', wants: [{ ...want('a', 4), perSecond: new Array(301).fill(1) }] },
      /^wants\[0\]\.perSecond must be/,
    ],
    [
      { pool: 'api', wants: [{ ...want('a', 4), limit: { rate: 0, periodMs: 1000 } }] },
      /^wants\[0\]\.limit\.rate must be a positive number, got 0/,
    ],
  ];
  for (const [params, message] of bad)
    t.throws(() => checkWantParams(params), { instanceOf: InputError, message });
});

test('pools - pools.want params fuzzed: every input is either a typed want list or an InputError naming a field', (t) => {
  const ok = { pool: 'api', wants: [{ ...want('a', 4), perSecond: [1, 2], denied: 1 }] };
  const junk = fc.oneof(
    fc.jsonValue(),
    fc.constantFrom(-1, 0, Number.NaN, Infinity, 1e300, '', 'x'.repeat(2000), null, [], {}, ['1']),
  );
  const paths = [
    ['pool'],
    ['wants'],
    ['wants', 0],
    ['wants', 0, 'token'],
    ['wants', 0, 'priority'],
    ['wants', 0, 'wants'],
    ['wants', 0, 'wants', 'horizons'],
    ['wants', 0, 'wants', 'p10'],
    ['wants', 0, 'wants', 'p50', 1],
    ['wants', 0, 'wants', 'p90'],
    ['wants', 0, 'actual'],
    ['wants', 0, 'denied'],
    ['wants', 0, 'perSecond'],
    ['wants', 0, 'perSecond', 0],
    ['wants', 0, 'limit'],
    ['wants', 0, 'limit', 'rate'],
    ['wants', 0, 'limit', 'periodMs'],
  ] as const;
  const amount = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...paths), junk), { minLength: 1, maxLength: 3 }),
      (edits) => {
        const params = structuredClone(ok) as unknown as Record<string | number, unknown>;
        for (const [path, value] of edits) {
          let at: Record<string | number, unknown> = params;
          for (const k of path.slice(0, -1)) {
            const next = at[k];
            if (typeof next !== 'object' || next === null) return; // an earlier edit replaced the parent
            at = next as Record<string | number, unknown>;
          }
          at[path.at(-1)!] = value;
        }
        let checked: ReturnType<typeof checkWantParams>;
        try {
          checked = checkWantParams(params);
        } catch (err) {
          t.true(err instanceof InputError, String(err));
          t.true(typeof (err as InputError).field === 'string' && (err as InputError).field !== '');
          return;
        }
        for (const w of checked.wants) {
          t.true(typeof w.token === 'string' && w.priority > 0);
          const n = w.wants.horizons.length;
          for (const k of ['horizons', 'p10', 'p50', 'p90'] as const)
            t.true(
              w.wants[k].length === n && w.wants[k].every(amount),
              `${k}: ${JSON.stringify(w.wants[k])}`,
            );
          for (const v of [w.actual, w.denied]) t.true(v === undefined || amount(v));
          t.true(w.perSecond === undefined || w.perSecond.every(amount));
        }
      },
    ),
    { numRuns: 2000, seed: 20261206 },
  );
});
