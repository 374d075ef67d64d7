// Hostile pool season checkpoints for the fuzz test (test/integration/fuzz.test.ts):
// values put under `season.<pool>` in the `<ns>_pools` KV bucket before the
// pool's manager starts and reads it (services/pools/season-keeper.ts). The
// bucket is writable by the `node` role only, but what a manager reads there
// is input all the same (lib `decodeSeasonCheckpoint`).
import fc from 'fast-check';
import {
  HeadroomError,
  SeasonalProfile,
  decodeSeasonCheckpoint,
  encodeSeasonCheckpoint,
} from '../../lib/index.ts';
import type { SeasonCheckpointShape } from '../../lib/index.ts';

/** The kinds of hostile value, one arbitrary each ({@link badSeasonCheckpoint}). */
export const SeasonCheckpointFault = [
  'random bytes',
  'random JSON',
  'one field replaced',
  'poisoned value',
  'another pool',
  'another configuration',
  'huge',
] as const;
export type SeasonCheckpointFault = (typeof SeasonCheckpointFault)[number];

/** A value to put under a pool's key, and what it is. */
export interface BadSeasonCheckpoint {
  fault: SeasonCheckpointFault;
  bytes: Uint8Array;
  /**
   * Bad by construction: a manager must refuse it whatever the decoder says.
   * False for `one field replaced` (an arbitrary value may happen to be a
   * valid one: a boolean `final`, a short string `node`).
   */
  mustRefuse: boolean;
}

/** The writer named in the valid checkpoints that the faults start from. */
export const SEEDER_NODE = 'fz-seeder';

/** The shape of a pool's checkpoint as its manager expects it (lib `SeasonalProfile` gives the size). */
export function seasonShape(pool: string, stepMs: number, seasonMs: number): SeasonCheckpointShape {
  const seasonSteps = Math.round(seasonMs / stepMs);
  return { pool, stepMs, seasonSteps, size: new SeasonalProfile(seasonSteps).size };
}

const encoder = new TextEncoder();

/**
 * A valid checkpoint of `shape` at `nowStep` - `age`: its last `known` steps
 * hold demands, the rest unknown (NaN).
 */
function validText(
  shape: SeasonCheckpointShape,
  nowStep: number,
  age: number,
  known: number,
  final: boolean,
): string {
  const values = new Float64Array(shape.size).fill(Number.NaN);
  for (let i = Math.max(0, shape.size - known); i < shape.size; i++) values[i] = (i % 17) * 3.5;
  return encodeSeasonCheckpoint(shape, { lastStep: nowStep - age, values }, SEEDER_NODE, Date.now(), final);
}

const validArb = (shape: SeasonCheckpointShape, nowStep: number): fc.Arbitrary<string> =>
  fc
    .tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: shape.size }), fc.boolean())
    .map(([age, known, final]) => validText(shape, nowStep, age, known, final));

const FIELDS = [
  'v',
  'pool',
  'stepMs',
  'seasonSteps',
  'size',
  'lastStep',
  'node',
  'atMs',
  'final',
  'values',
  'extra',
];

/**
 * Hostile values of `fault` for the pool `shape` describes, read at about
 * `nowStep`; `maxBytes` is the server's max payload (a `huge` one is just
 * under it).
 */
export function badSeasonCheckpoint(
  fault: SeasonCheckpointFault,
  shape: SeasonCheckpointShape,
  nowStep: number,
  maxBytes: number,
): fc.Arbitrary<BadSeasonCheckpoint> {
  const text = (arb: fc.Arbitrary<string>, mustRefuse = true): fc.Arbitrary<BadSeasonCheckpoint> =>
    arb.map((s) => ({ fault, bytes: encoder.encode(s), mustRefuse }));
  switch (fault) {
    case 'random bytes':
      return fc
        .uint8Array({ minLength: 1, maxLength: 4096 })
        .map((bytes) => ({ fault, bytes, mustRefuse: true }));
    case 'random JSON':
      // No JSON value fast-check makes is a checkpoint (it would need v 1, this pool's name and 18,720 base64 Float32s).
      return text(fc.jsonValue().map((v) => JSON.stringify(v)));
    case 'one field replaced':
      return text(
        fc
          .tuple(validArb(shape, nowStep), fc.constantFrom(...FIELDS), fc.jsonValue())
          .map(([s, k, v]) => JSON.stringify({ ...(JSON.parse(s) as object), [k]: v })),
        false,
      );
    case 'poisoned value':
      // Well-formed base64 of the right length, one Float32 negative or infinite.
      return text(
        fc
          .tuple(
            validArb(shape, nowStep),
            fc.nat({ max: shape.size - 1 }),
            fc.constantFrom(-1, -1e-30, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -3e38),
          )
          .map(([s, i, bad]) => {
            const cp = JSON.parse(s) as { values: string };
            const bytes = Buffer.from(cp.values, 'base64');
            bytes.writeFloatLE(bad, 4 * i);
            return JSON.stringify({ ...cp, values: bytes.toString('base64') });
          }),
      );
    case 'another pool':
      return text(
        fc
          .constantFrom('fz-elsewhere', `${shape.pool}-2`, shape.pool.toUpperCase(), '')
          .chain((pool) => validArb({ ...shape, pool }, nowStep)),
      );
    case 'another configuration':
      // Another step (same memory size) or another season (another size): valid for that pool, not this one.
      return text(
        fc
          .oneof(
            fc.constantFrom(1000, 500, shape.stepMs * 2).map((stepMs) => ({ ...shape, stepMs })),
            fc
              .constantFrom(shape.seasonSteps / 2, shape.seasonSteps * 2, 12)
              .map((seasonSteps) => ({ ...shape, seasonSteps, size: new SeasonalProfile(seasonSteps).size })),
          )
          .chain((other) => validArb(other, nowStep)),
      );
    case 'huge':
      // Refused on its length before it is parsed: a valid checkpoint padded with spaces (JSON.parse
      // would take it), its values repeated, or plain filler.
      return text(
        fc
          .tuple(
            validArb(shape, nowStep),
            fc.constantFrom('spaces', 'values', 'filler'),
            fc.integer({ min: maxBytes - 65_536, max: maxBytes - 1024 }),
          )
          .map(([s, how, n]) => {
            if (how === 'spaces') return s + ' '.repeat(Math.max(0, n - s.length));
            if (how === 'filler') return 'A'.repeat(n);
            const cp = JSON.parse(s) as { values: string };
            const pad = n - s.length;
            return JSON.stringify({
              ...cp,
              values: cp.values + 'AAAA'.repeat(Math.max(0, Math.floor(pad / 4))),
            });
          }),
      );
  }
}

/** What a manager must do with a value: refuse it naming `field` (with `code`), or take it. */
export type SeasonOutcome = { refused: true; field: string | null; code: string | null } | { refused: false };

/**
 * What lib's decoder makes of `bytes` (read as the store reads them: UTF-8,
 * bad sequences replaced), for the pool `shape` at `nowStep`.
 */
export function expectedOutcome(
  bytes: Uint8Array,
  shape: SeasonCheckpointShape,
  nowStep: number,
): SeasonOutcome {
  try {
    decodeSeasonCheckpoint(new TextDecoder().decode(bytes), shape, nowStep);
    return { refused: false };
  } catch (err) {
    const e = err instanceof HeadroomError ? err : undefined;
    return { refused: true, field: e?.field ?? null, code: e?.code ?? null };
  }
}

/** A `season-checkpoint-refused` warning as a node logged it. */
export interface SeasonRefusal {
  pool: string;
  field: string;
  code: string;
}

/**
 * The `season-checkpoint-refused` warnings in a node's pretty log
 * (services/runtime/logging.ts: `msg event=... pool=... field=... code=...`,
 * the fields in the order season-keeper.ts logs them).
 */
export function seasonRefusals(output: string): SeasonRefusal[] {
  const out: SeasonRefusal[] = [];
  for (const m of output.matchAll(/ event=season-checkpoint-refused pool=(\S+) field=(\S+) code=(\S+)/g))
    out.push({ pool: m[1]!, field: m[2]!, code: m[3]! });
  return out;
}
