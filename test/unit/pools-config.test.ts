import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { compilePools, loadPoolsFile } from '../../services/index.ts';

const pool = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'api',
  rules: ['per-user'],
  kind: 'simulated',
  unitCapacity: 100,
  minUnits: 1,
  maxUnits: 10,
  ...patch,
});

function bad(raw: unknown, message: RegExp, natsUrl: string | null = null) {
  return (t: ExecutionContext) => {
    const err = t.throws(() => compilePools(raw, natsUrl), { instanceOf: InputError, message });
    t.is(err?.code, ErrorCode.InvalidOptions);
  };
}

test('pools-config - defaults follow the step', (t) => {
  const [p] = compilePools({ pools: [pool({ stepMs: 2000 })] }, null);
  t.like(p, {
    name: 'api',
    rules: ['per-user'],
    kind: 'simulated',
    stepMs: 2000,
    leadMs: 10_000,
    leaseTtlMs: 6000,
    decayMs: 4000,
    policy: 'quantile',
    limits: 'raise-only',
    seasonMs: 86_400_000,
    quantile: 0.9,
    db: null,
    process: null,
  });
  t.true(Object.isFrozen(p));
  const [d] = compilePools({ pools: [pool()] }, null);
  t.like(d, { stepMs: 5000, leaseTtlMs: 15_000, decayMs: 10_000 });
});

test('pools-config - durations as strings, zero lead time, explicit ttl and decay', (t) => {
  const [p] = compilePools(
    { pools: [pool({ stepMs: '1s', leadMs: 0, leaseTtlMs: '5s', decayMs: 0, policy: 'reactive' })] },
    null,
  );
  t.like(p, { stepMs: 1000, leadMs: 0, leaseTtlMs: 5000, decayMs: 0, policy: 'reactive' });
});

test('pools-config - limits is raise-only or protect, named when it is neither', (t) => {
  const [p] = compilePools({ pools: [pool({ limits: 'protect' })] }, null);
  t.is(p!.limits, 'protect');
  const err = t.throws(() => compilePools({ pools: [pool({ limits: 'lower' })] }, null), {
    instanceOf: InputError,
    message: /pools\.pools\[0\]\.limits/,
  });
  t.is(err?.field, 'pools.pools[0].limits');
});

test('pools-config - db and process pools compile their provider options', (t) => {
  const [db, proc] = compilePools(
    {
      pools: [
        pool({ name: 'pg', kind: 'db', rules: ['a'], db: { port: 5433 } }),
        pool({ name: 'workers', kind: 'process', rules: ['b'] }),
      ],
    },
    'nats://127.0.0.1:4222',
  );
  t.like(db!.db, { port: 5433, maxUnits: 10 });
  t.like(proc!.process, { natsUrl: 'nats://127.0.0.1:4222', pool: 'workers', maxUnits: 10 });
});

test('pools-config - not an object or no pools list', bad([], /pools\.pools must be a list of pools/));
test('pools-config - unknown top-level key', bad({ pools: [], poolz: 1 }, /pools\.poolz is not a known key/));
test(
  'pools-config - unknown pool key',
  bad({ pools: [pool({ capacity: 3 })] }, /pools\.pools\[0\]\.capacity is not a known option/),
);
test('pools-config - entry not an object', bad({ pools: [3] }, /pools\.pools\[0\] must be an object, got 3/));
test('pools-config - required fields', (t) => {
  const err = t.throws(() => compilePools({ pools: [{}] }, null), { instanceOf: InputError });
  for (const f of ['name', 'rules', 'kind', 'unitCapacity', 'maxUnits'])
    t.regex(err!.message, new RegExp(`pools\\.pools\\[0\\]\\.${f} is required`));
});
test(
  'pools-config - bad name',
  bad({ pools: [pool({ name: 'a b' })] }, /pools\.pools\[0\]\.name must be letters/),
);
test(
  'pools-config - empty rules',
  bad({ pools: [pool({ rules: [] })] }, /pools\.pools\[0\]\.rules must be a non-empty list/),
);
test(
  'pools-config - bad rule id',
  bad(
    { pools: [pool({ rules: ['a', 7] })] },
    /pools\.pools\[0\]\.rules\[1\] must be a non-empty string, got 7/,
  ),
);
test(
  'pools-config - bad kind',
  bad(
    { pools: [pool({ kind: 'cloud' })] },
    /pools\.pools\[0\]\.kind must be one of simulated, db, process, got "cloud"/,
  ),
);
test(
  'pools-config - bad unit capacity',
  bad(
    { pools: [pool({ unitCapacity: -3 })] },
    /pools\.pools\[0\]\.unitCapacity must be a positive number, got -3/,
  ),
);
test(
  'pools-config - bad min units',
  bad({ pools: [pool({ minUnits: 1.5 })] }, /pools\.pools\[0\]\.minUnits must be an integer >= 0, got 1\.5/),
);
test(
  'pools-config - max below min',
  bad(
    { pools: [pool({ minUnits: 5, maxUnits: 2 })] },
    /pools\.pools\[0\]\.maxUnits must be an integer >= max\(1, minUnits\), got 2/,
  ),
);
test('pools-config - bad step', bad({ pools: [pool({ stepMs: 0 })] }, /pools\.pools\[0\]\.stepMs/));
test('pools-config - bad lead', bad({ pools: [pool({ leadMs: -1 })] }, /pools\.pools\[0\]\.leadMs/));
test(
  'pools-config - bad ttl',
  bad({ pools: [pool({ leaseTtlMs: 'soon' })] }, /pools\.pools\[0\]\.leaseTtlMs/),
);
test('pools-config - bad decay', bad({ pools: [pool({ decayMs: -5 })] }, /pools\.pools\[0\]\.decayMs/));
test('pools-config - a season is a duration of at least 4 steps, or null', (t) => {
  t.is(compilePools({ pools: [pool({ seasonMs: '1h' })] }, null)[0]!.seasonMs, 3_600_000);
  t.is(compilePools({ pools: [pool({ seasonMs: null })] }, null)[0]!.seasonMs, null);
});
test(
  'pools-config - bad season',
  bad(
    { pools: [pool({ stepMs: 5000, seasonMs: '10s' })] },
    /pools\.pools\[0\]\.seasonMs must be a duration of at least 4 steps \(20000 ms\), or null, got 10000/,
  ),
);
test('pools-config - a season is checkpointed every minute unless told, at least once a step', (t) => {
  t.is(compilePools({ pools: [pool()] }, null)[0]!.seasonCheckpointMs, 60_000);
  t.is(compilePools({ pools: [pool({ seasonCheckpointMs: '10s' })] }, null)[0]!.seasonCheckpointMs, 10_000);
});
test(
  'pools-config - season checkpoint shorter than a step',
  bad(
    { pools: [pool({ stepMs: 5000, seasonCheckpointMs: 1000 })] },
    /pools\.pools\[0\]\.seasonCheckpointMs must be a duration of at least one step \(5000 ms\), got 1000/,
  ),
);
test(
  'pools-config - season not a duration',
  bad({ pools: [pool({ seasonMs: 'daily' })] }, /pools\.pools\[0\]\.seasonMs/),
);
test(
  'pools-config - bad policy',
  bad(
    { pools: [pool({ policy: 'magic' })] },
    /pools\.pools\[0\]\.policy must be one of quantile, qra, reactive, static, rl, got "magic"/,
  ),
);
test(
  'pools-config - bad quantile',
  bad(
    { pools: [pool({ quantile: 1.5 })] },
    /pools\.pools\[0\]\.quantile must be a number between 0 and 1, got 1\.5/,
  ),
);
test(
  'pools-config - db options on another kind',
  bad({ pools: [pool({ db: {} })] }, /pools\.pools\[0\]\.db is only for kind db/),
);
test(
  'pools-config - process options on another kind',
  bad({ pools: [pool({ process: {} })] }, /pools\.pools\[0\]\.process is only for kind process/),
);
test(
  'pools-config - bad db options',
  bad({ pools: [pool({ kind: 'db', db: { port: 0 } })] }, /pools\.pools\[0\]: .*db\.port/),
);
test(
  'pools-config - process pool without a NATS url',
  bad({ pools: [pool({ kind: 'process' })] }, /process\.natsUrl is required/),
);
test(
  'pools-config - duplicate names',
  bad(
    { pools: [pool(), pool({ rules: ['other'] })] },
    /pools\.pools\[1\]\.name "api" is used by another pool/,
  ),
);
test(
  'pools-config - a rule on two pools',
  bad(
    { pools: [pool(), pool({ name: 'b' })] },
    /pools\.pools\[1\]\.rules\[0\] "per-user" already draws on pool api/,
  ),
);

test('pools-config - every problem in one error, the first as its field', (t) => {
  const err = t.throws(
    () =>
      compilePools(
        { pools: [pool({ kind: 'cloud' }), pool({ name: 'b', rules: ['x'], unitCapacity: 0 })] },
        null,
      ),
    { instanceOf: InputError },
  );
  t.is(err!.field, 'pools.pools[0].kind');
  t.regex(err!.message, /pools\.pools\[0\]\.kind/);
  t.regex(err!.message, /pools\.pools\[1\]\.unitCapacity/);
});

test('pools-config - an rl pool loads its offline-trained table, relative to the pools file', async (t) => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { RlPolicy } = await import('../../models/index.ts');
  const dir = await mkdtemp(join(tmpdir(), 'headroom-pools-'));
  try {
    const table = new RlPolicy({ throttlePrice: 5 }).toJSON();
    await writeFile(join(dir, 'rl.json'), JSON.stringify(table));
    await writeFile(
      join(dir, 'pools.json'),
      JSON.stringify({ pools: [pool({ policy: 'rl', rlModel: 'rl.json', throttlePrice: 5 })] }),
    );
    const [spec] = await loadPoolsFile(join(dir, 'pools.json'), null);
    t.is(spec!.throttlePrice, 5);
    t.deepEqual(spec!.rlState, JSON.parse(JSON.stringify(table)));
    await writeFile(
      join(dir, 'pools.json'),
      JSON.stringify({ pools: [pool({ policy: 'rl', rlModel: 'nope.json' })] }),
    );
    const err = await t.throwsAsync(loadPoolsFile(join(dir, 'pools.json'), null), { instanceOf: InputError });
    t.is(err.code, ErrorCode.InvalidOptions);
    t.is(err.field, 'pools.pools[0].rlModel');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
