/**
 * A pool's seasonal memory (lib `SeasonalProfile`) as a checkpoint its next
 * manager can start from: the manager moves with the pool's owner, and
 * without it the daily floor would be gone for a whole season.
 *
 * Compact and exact enough: the season's steps (a day of 5 s steps and a
 * level window: 18 720) as little-endian Float32, base64 (about 100 KB for a
 * day). Float32 keeps a step's demand to a relative 6e-8 (24-bit mantissa):
 * exact for whole demands below 2^24 (16.7 million requests a step), and far
 * below the noise of a day-old step elsewhere. Unknown steps are NaN.
 *
 * Decoding treats the text as input (it comes from a store any node may
 * write): every field is checked against the pool's own configuration, and
 * a bad one is an InputError naming it, never a poisoned profile.
 */
import { invalidField } from '../errors.ts';
import { isPlainObject } from '../guards.ts';
import type { SeasonalSnapshot } from './seasonal.ts';

/** Format version written into every checkpoint. */
export const SEASON_CHECKPOINT_VERSION = 1;

/** Steps a checkpoint may be ahead of the reader's clock (nodes' clocks differ a little). */
export const SEASON_CHECKPOINT_SKEW_STEPS = 2;

/** What a checkpoint must match: the reading pool's own configuration. */
export interface SeasonCheckpointShape {
  pool: string;
  stepMs: number;
  seasonSteps: number;
  /** The profile's memory in steps (`SeasonalProfile.size`). */
  size: number;
}

/** A decoded checkpoint. */
export interface SeasonCheckpoint extends SeasonCheckpointShape, SeasonalSnapshot {
  /** The node that wrote it. */
  node: string;
  /** When it was written, on the writer's clock. */
  atMs: number;
  /** Written by a manager as it stopped (a graceful move), not on its periodic timer. */
  final: boolean;
  values: Float32Array;
}

const FIELDS = ['v', 'pool', 'stepMs', 'seasonSteps', 'size', 'lastStep', 'node', 'atMs', 'final', 'values'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Longest `node` accepted (node ids are short; anything longer is not one). */
const MAX_NODE = 256;

/**
 * The checkpoint text of `snap`, a snapshot of `shape`'s profile, written by
 * `node` at `atMs`; `final` when its manager is stopping.
 */
export function encodeSeasonCheckpoint(
  shape: SeasonCheckpointShape,
  snap: SeasonalSnapshot,
  node: string,
  atMs: number,
  final = false,
): string {
  if (snap.values.length !== shape.size)
    throw invalidField('values.length', `the profile's size ${shape.size}`, snap.values.length);
  const bytes = new Uint8Array(4 * shape.size);
  const view = new DataView(bytes.buffer);
  snap.values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return JSON.stringify({
    v: SEASON_CHECKPOINT_VERSION,
    pool: shape.pool,
    stepMs: shape.stepMs,
    seasonSteps: shape.seasonSteps,
    size: shape.size,
    lastStep: snap.lastStep,
    node,
    atMs,
    final,
    values: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
  });
}

/**
 * Reads checkpoint `text` for the pool `expect` describes, at step `nowStep`
 * of the reader's clock.
 * @throws InputError naming the first bad field (`checkpoint.<field>`): not
 *   JSON, an unknown field, another version, another pool or configuration
 *   (stepMs, seasonSteps, size), a last step ahead of the clock, values not
 *   base64 of `size` Float32s, or a value negative or infinite.
 */
export function decodeSeasonCheckpoint(
  text: string,
  expect: SeasonCheckpointShape,
  nowStep: number,
): SeasonCheckpoint {
  // Base64 of the values plus a few hundred bytes of fields; anything much longer is not one.
  const maxChars = Math.ceil((4 * expect.size) / 3) * 4 + 4096;
  if (text.length > maxChars) throw invalidField('checkpoint', `at most ${maxChars} characters`, text.length);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw invalidField('checkpoint', 'JSON', text.slice(0, 40));
  }
  if (!isPlainObject(raw)) throw invalidField('checkpoint', 'a JSON object', raw);
  for (const k of Object.keys(raw))
    if (!FIELDS.includes(k)) throw invalidField(`checkpoint.${k}`, 'absent (not a known field)', raw[k]);
  const same = (k: keyof SeasonCheckpointShape | 'v', want: unknown): void => {
    if (raw[k] !== want)
      throw invalidField(`checkpoint.${k}`, `${JSON.stringify(want)} (this pool's)`, raw[k]);
  };
  same('v', SEASON_CHECKPOINT_VERSION);
  same('pool', expect.pool);
  same('stepMs', expect.stepMs);
  same('seasonSteps', expect.seasonSteps);
  same('size', expect.size);
  const { lastStep, node, atMs, final, values } = raw;
  if (!(typeof lastStep === 'number' && Number.isSafeInteger(lastStep) && lastStep >= 0))
    throw invalidField('checkpoint.lastStep', 'an integer step index >= 0', lastStep);
  if (lastStep > nowStep + SEASON_CHECKPOINT_SKEW_STEPS)
    throw invalidField('checkpoint.lastStep', `at most the current step ${nowStep}`, lastStep);
  if (!(typeof node === 'string' && node.length > 0 && node.length <= MAX_NODE))
    throw invalidField('checkpoint.node', `a node id of 1 to ${MAX_NODE} characters`, node);
  if (!(typeof atMs === 'number' && Number.isFinite(atMs) && atMs >= 0))
    throw invalidField('checkpoint.atMs', 'a time in ms >= 0', atMs);
  if (typeof final !== 'boolean') throw invalidField('checkpoint.final', 'true or false', final);
  const chars = Math.ceil((4 * expect.size) / 3) * 4;
  if (!(typeof values === 'string' && values.length === chars && BASE64.test(values)))
    throw invalidField(
      'checkpoint.values',
      `base64 of ${expect.size} Float32s (${chars} characters)`,
      typeof values === 'string' ? `${values.length} characters` : values,
    );
  const bytes = Buffer.from(values, 'base64');
  if (bytes.byteLength !== 4 * expect.size)
    throw invalidField('checkpoint.values', `${4 * expect.size} bytes`, bytes.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(expect.size);
  for (let i = 0; i < expect.size; i++) {
    const v = view.getFloat32(4 * i, true);
    if (!Number.isNaN(v) && !(Number.isFinite(v) && v >= 0))
      throw invalidField(`checkpoint.values[${i}]`, 'a demand >= 0 (NaN: unknown)', v);
    out[i] = v;
  }
  return {
    pool: expect.pool,
    stepMs: expect.stepMs,
    seasonSteps: expect.seasonSteps,
    size: expect.size,
    lastStep,
    node,
    atMs,
    final,
    values: out,
  };
}
