/**
 * Validation of the params of a `process` pool worker's actions
 * (worker-main.ts): `work {rounds?}`, `configure {slowdown}` and
 * `health {}`. A worker joins the cluster's Moleculer as a node does, so
 * any member can call it; each call is checked as strictly as the public
 * API, and a bad one gets an InputError naming the field and the value,
 * never a worker stuck in a loop of 10^12 hashes or an uncoded error. Pure,
 * and kept apart from worker-main.ts, which starts a broker when imported.
 */
import { invalidField, missingField } from '../../../lib/index.ts';
import { knownFields } from '../../wire/index.ts';

/** Most SHA-256 rounds one `work` call may ask for (the provider's `workRounds` option has the same bound). */
export const MAX_WORK_ROUNDS = 10_000_000;
/** Largest `slowdown` of `configure`. */
export const MAX_SLOWDOWN = 1000;

const wholeIn = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** `work`: `{rounds?}`, from 1 to {@link MAX_WORK_ROUNDS}; `defaultRounds` when absent. */
export function parseWorkParams(params: unknown, defaultRounds: number): { rounds: number } {
  const p = knownFields(params ?? {}, ['rounds'], 'an object {rounds?}');
  const rounds = p['rounds'] ?? defaultRounds;
  if (!wholeIn(rounds, 1, MAX_WORK_ROUNDS))
    throw invalidField('params.rounds', `a whole number from 1 to ${MAX_WORK_ROUNDS}`, rounds);
  return { rounds };
}

/** `configure`: `{slowdown}`, from 1 to {@link MAX_SLOWDOWN}. */
export function parseConfigureParams(params: unknown): { slowdown: number } {
  const p = knownFields(params ?? {}, ['slowdown'], 'an object {slowdown}');
  const slowdown = p['slowdown'];
  const expected = `a whole number from 1 to ${MAX_SLOWDOWN}`;
  if (slowdown === undefined) throw missingField('params.slowdown', expected);
  if (!wholeIn(slowdown, 1, MAX_SLOWDOWN)) throw invalidField('params.slowdown', expected, slowdown);
  return { slowdown };
}

/** `health`: `{}`. */
export function parseHealthParams(params: unknown): Record<string, never> {
  knownFields(params ?? {}, [], 'an empty object');
  return {};
}
