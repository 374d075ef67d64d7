// A pool's seasonal memory as a checkpoint (lib season-checkpoint.ts): what
// goes in comes back to Float32 precision, and a checkpoint of another
// configuration, a corrupt or a hostile one is refused naming its field and
// leaves the memory as it was (services/pools/season-keeper.ts).
import test from 'ava';
import fc from 'fast-check';
import {
  InputError,
  SEASON_CHECKPOINT_SKEW_STEPS,
  SeasonalProfile,
  SimulatedClock,
  decodeSeasonCheckpoint,
  encodeSeasonCheckpoint,
} from '../../lib/index.ts';
import type { SeasonCheckpointShape } from '../../lib/index.ts';
import { SeasonKeeper } from '../../services/pools/index.ts';
import type { SeasonStore } from '../../services/pools/index.ts';

const shapeOf = (p: SeasonalProfile, pool = 'api', stepMs = 5000): SeasonCheckpointShape => ({
  pool,
  stepMs,
  seasonSteps: p.seasonSteps,
  size: p.size,
});

/** Every step of `p`'s memory up to `last`, as `at` reads it (NaN unknown). */
const memory = (p: SeasonalProfile, last: number): number[] =>
  Array.from({ length: p.size }, (_, i) => p.at(last - p.size + 1 + i));

/** A profile with `obs` observed (step, demand) pairs. */
function filled(seasonSteps: number, obs: ReadonlyArray<[number, number]>): SeasonalProfile {
  const p = new SeasonalProfile(seasonSteps);
  for (const [s, d] of obs) p.observe(s, d);
  return p;
}

const arbProfile = fc.integer({ min: 4, max: 300 }).chain((seasonSteps) =>
  fc.record({
    seasonSteps: fc.constant(seasonSteps),
    obs: fc.array(
      fc.tuple(
        fc.integer({ min: 1_000_000, max: 1_000_000 + 3 * seasonSteps }),
        fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.nat({ max: 1 << 24 })),
      ),
      { minLength: 1, maxLength: 400 },
    ),
  }),
);

test('seasonal checkpoint - a profile comes back as Float32 of what went in, unknown steps unknown', (t) => {
  fc.assert(
    fc.property(arbProfile, ({ seasonSteps, obs }) => {
      const a = filled(seasonSteps, obs);
      const snap = a.snapshot()!;
      const text = encodeSeasonCheckpoint(shapeOf(a), snap, 'n1', 42);
      const cp = decodeSeasonCheckpoint(text, shapeOf(a), snap.lastStep);
      const b = new SeasonalProfile(seasonSteps);
      const taken = b.restore(cp);
      t.is(taken, a.knownSteps);
      t.is(b.knownSteps, a.knownSteps);
      t.is(cp.node, 'n1');
      t.is(cp.atMs, 42);
      const want = memory(a, snap.lastStep).map((v) => Math.fround(v));
      t.deepEqual(memory(b, snap.lastStep), want);
      // Whole demands below 2^24 come back exactly.
      for (const [s, d] of obs)
        if (s > snap.lastStep - a.size && Number.isInteger(d) && a.at(s) === d) t.is(b.at(s), d);
    }),
    { numRuns: 200 },
  );
});

test('seasonal checkpoint - a day of 5 s steps is about 100 KB', (t) => {
  const p = new SeasonalProfile(17_280);
  for (let s = 0; s < 17_280 + 1440; s++) p.observe(s, s % 97);
  const text = encodeSeasonCheckpoint(shapeOf(p), p.snapshot()!, 'n1', 0);
  t.true(text.length < 101_000, `${text.length} characters`);
  t.true(text.length > 4 * 18_720, `${text.length} characters`);
});

test('seasonal checkpoint - restore keeps the steps observed since and takes only unknown ones', (t) => {
  const old = filled(8, [
    [100, 1],
    [101, 2],
    [102, 3],
  ]);
  const fresh = filled(8, [[102, 30]]);
  const cp = decodeSeasonCheckpoint(
    encodeSeasonCheckpoint(shapeOf(old), old.snapshot()!, 'n1', 0),
    shapeOf(fresh),
    102,
  );
  t.is(fresh.restore(cp), 2);
  t.is(fresh.at(100), 1);
  t.is(fresh.at(101), 2);
  t.is(fresh.at(102), 30, 'the step this manager observed itself stays');
});

/** A valid checkpoint's JSON, for the refusal cases to spoil one field of. */
function validJson(): { p: SeasonalProfile; body: Record<string, unknown> } {
  const p = filled(8, [
    [200, 5],
    [201, 6],
  ]);
  return { p, body: JSON.parse(encodeSeasonCheckpoint(shapeOf(p), p.snapshot()!, 'n1', 7)) };
}

/** Float32s, little-endian, base64. */
const f32 = (xs: number[]): string => {
  const b = Buffer.alloc(4 * xs.length);
  xs.forEach((x, i) => b.writeFloatLE(x, 4 * i));
  return b.toString('base64');
};

test('seasonal checkpoint - each spoilt field is refused naming it', (t) => {
  const { p } = validJson();
  const size = p.size;
  const cases: Array<[string, unknown, string]> = [
    ['v', 2, 'checkpoint.v'],
    ['pool', 'other', 'checkpoint.pool'],
    ['stepMs', 1000, 'checkpoint.stepMs'],
    ['seasonSteps', 16, 'checkpoint.seasonSteps'],
    ['size', size + 1, 'checkpoint.size'],
    ['lastStep', -1, 'checkpoint.lastStep'],
    ['lastStep', 1.5, 'checkpoint.lastStep'],
    ['lastStep', '201', 'checkpoint.lastStep'],
    ['lastStep', 201 + SEASON_CHECKPOINT_SKEW_STEPS + 1, 'checkpoint.lastStep'],
    ['node', '', 'checkpoint.node'],
    ['node', 'x'.repeat(300), 'checkpoint.node'],
    ['atMs', -5, 'checkpoint.atMs'],
    ['final', 'yes', 'checkpoint.final'],
    ['values', 'not base64!', 'checkpoint.values'],
    ['values', f32(new Array<number>(size - 1).fill(1)), 'checkpoint.values'],
    ['values', f32(new Array<number>(size).fill(-1)), 'checkpoint.values[0]'],
    [
      'values',
      f32([...new Array<number>(size - 1).fill(1), Number.POSITIVE_INFINITY]),
      `checkpoint.values[${size - 1}]`,
    ],
    ['values', 17, 'checkpoint.values'],
    ['extra', 1, 'checkpoint.extra'],
    ['__proto__', { polluted: true }, 'checkpoint.__proto__'],
  ];
  for (const [field, value, named] of cases) {
    const { body } = validJson();
    const target = filled(8, [[201, 9]]);
    const before = memory(target, 201);
    const spoilt =
      JSON.stringify(body).replace(/}$/, '') + `,${JSON.stringify(field)}:${JSON.stringify(value)}}`;
    const e = t.throws(() => target.restore(decodeSeasonCheckpoint(spoilt, shapeOf(target), 201)), {
      instanceOf: InputError,
    });
    t.is(e?.field, named, `${field} = ${JSON.stringify(value).slice(0, 40)}: ${e?.message}`);
    t.deepEqual(memory(target, 201), before, 'the memory is as it was');
  }
  t.throws(() => decodeSeasonCheckpoint('{"v":1', shapeOf(p), 201), {
    instanceOf: InputError,
    message: /JSON/,
  });
  t.throws(() => decodeSeasonCheckpoint('[1,2]', shapeOf(p), 201), { instanceOf: InputError });
  t.throws(() => decodeSeasonCheckpoint('x'.repeat(1 << 20), shapeOf(p), 201), {
    instanceOf: InputError,
    message: /characters/,
  });
});

test('seasonal checkpoint - any text decodes to a valid memory or is refused with an InputError', (t) => {
  const { p, body } = validJson();
  const arbText = fc.oneof(
    fc.string(),
    fc.json(),
    // A valid checkpoint with one field set to anything.
    fc
      .tuple(fc.constantFrom(...Object.keys(body)), fc.jsonValue())
      .map(([k, v]) => JSON.stringify({ ...body, [k]: v })),
    // Valid fields, values of random bytes (negative, infinite and NaN Float32s among them).
    fc
      .uint8Array({ minLength: 4 * p.size, maxLength: 4 * p.size })
      .map((b) => JSON.stringify({ ...body, values: Buffer.from(b).toString('base64') })),
  );
  fc.assert(
    fc.property(arbText, (text) => {
      const target = filled(8, [[201, 9]]);
      try {
        const taken = target.restore(decodeSeasonCheckpoint(text, shapeOf(target), 201));
        for (const v of memory(target, 201)) t.true(Number.isNaN(v) || (Number.isFinite(v) && v >= 0));
        t.true(taken >= 0);
      } catch (err) {
        t.true(err instanceof InputError, String(err));
        t.regex((err as InputError).field ?? '', /^checkpoint/);
        t.is(target.at(201), 9);
      }
    }),
    { numRuns: 300 },
  );
});

/** A store of checkpoints in this process (the cluster's is a KV bucket: test/integration/pool-season.test.ts). */
class MemoryStore implements SeasonStore {
  readonly texts = new Map<string, string>();
  writes = 0;
  fail = false;
  read(pool: string): Promise<string | null> {
    return this.fail
      ? Promise.reject(new Error('store down'))
      : Promise.resolve(this.texts.get(pool) ?? null);
  }
  write(pool: string, text: string): Promise<void> {
    this.writes++;
    this.texts.set(pool, text);
    return Promise.resolve();
  }
}

function keeperOf(store: MemoryStore, profile: SeasonalProfile, clock: SimulatedClock, warns: unknown[][]) {
  return new SeasonKeeper({
    pool: 'api',
    stepMs: 5000,
    profile,
    store,
    node: 'n2',
    clock,
    log: { info: () => {}, warn: (...a: unknown[]) => warns.push(a) },
    everySteps: 3,
  });
}

test('season keeper - a refused checkpoint is a structured warning naming the field, then overwritten', async (t) => {
  const clock = new SimulatedClock(210 * 5000);
  const store = new MemoryStore();
  const other = filled(16, [[200, 5]]);
  store.texts.set('api', encodeSeasonCheckpoint(shapeOf(other), other.snapshot()!, 'n1', 0));
  const profile = filled(8, [[205, 1]]);
  const warns: unknown[][] = [];
  const k = keeperOf(store, profile, clock, warns);
  await k.recover();
  t.is(k.status().recoveredSteps, 0);
  t.is(warns.length, 1);
  t.like(warns[0]![0], { event: 'season-checkpoint-refused', pool: 'api', field: 'checkpoint.seasonSteps' });
  for (let i = 0; i < 3; i++) k.afterTick();
  await k.final();
  const back = decodeSeasonCheckpoint(store.texts.get('api')!, shapeOf(profile), 210);
  t.is(back.node, 'n2', 'its own season replaced the refused one');
});

test("season keeper - writes nothing until it has read its predecessor's checkpoint", async (t) => {
  const clock = new SimulatedClock(210 * 5000);
  const store = new MemoryStore();
  const old = filled(8, [
    [204, 4],
    [205, 5],
  ]);
  store.texts.set('api', encodeSeasonCheckpoint(shapeOf(old), old.snapshot()!, 'n1', 0));
  store.fail = true;
  const profile = filled(8, [[209, 1]]);
  const warns: unknown[][] = [];
  const k = keeperOf(store, profile, clock, warns);
  await k.recover();
  for (let i = 0; i < 3; i++) k.afterTick();
  await k.final();
  t.is(store.writes, 0, "the predecessor's checkpoint is not overwritten by a season that lacks it");
  store.fail = false;
  for (let i = 0; i < 3; i++) k.afterTick(); // the next checkpoint time reads again
  await k.final();
  t.is(k.status().recoveredSteps, 2);
  t.like(k.status().recoveredFrom, { node: 'n1', lastStep: 205, sum: 9 });
  t.is(profile.at(204), 4);
  t.is(store.writes, 1);
  const written = decodeSeasonCheckpoint(store.texts.get('api')!, shapeOf(profile), 210);
  t.like(written, { node: 'n2', lastStep: 209, final: true });
  t.is(written.values[written.values.length - 1], 1);
});

test('season keeper - without a store the season is reported and nothing else happens', async (t) => {
  const profile = filled(8, [
    [208, 1],
    [209, 2],
  ]);
  const k = new SeasonKeeper({
    pool: 'api',
    stepMs: 5000,
    profile,
    node: 'n1',
    clock: new SimulatedClock(210 * 5000),
    log: { info: () => {}, warn: () => t.fail('no warning') },
    everySteps: 1,
  });
  await k.recover();
  k.afterTick();
  await k.final();
  t.deepEqual(k.status(), {
    seasonSteps: 8,
    knownSteps: 2,
    lastStep: 209,
    recoveredSteps: 0,
    recoveredFrom: null,
    checkpointStep: null,
  });
});
