/**
 * Traffic weights from spare capacity: a unit that has room gets traffic in
 * proportion to that room, a saturated one keeps a small floor `epsilon` so
 * that the router still probes it and notices when it recovers.
 */
import { invalidField } from '../errors.ts';

/** One unit's capacity and recent load, in the same unit (e.g. requests in flight). */
export interface UnitLoad {
  id: string;
  capacity: number;
  load: number;
}

/**
 * Normalised weights (summing to 1), `w_i ∝ max(ε·c_i, c_i − load_i)`.
 * The floor scales with the unit's capacity so that a saturated unit gets
 * about ε of its fair share. Returns an empty map for no units.
 * @param epsilon floor as a fraction of capacity, in (0, 1]. @default 0.05
 */
export function spareWeights(units: readonly UnitLoad[], epsilon = 0.05): Map<string, number> {
  if (!(Number.isFinite(epsilon) && epsilon > 0 && epsilon <= 1))
    throw invalidField('weights.epsilon', 'a number in (0, 1]', epsilon);
  const raw: [string, number][] = [];
  let total = 0;
  for (const u of units) {
    if (!(Number.isFinite(u.capacity) && u.capacity > 0))
      throw invalidField(`weights.${u.id}.capacity`, 'a positive number', u.capacity);
    if (!(Number.isFinite(u.load) && u.load >= 0))
      throw invalidField(`weights.${u.id}.load`, 'a finite number >= 0', u.load);
    const w = Math.max(epsilon * u.capacity, u.capacity - u.load);
    raw.push([u.id, w]);
    total += w;
  }
  return new Map(raw.map(([id, w]) => [id, w / total]));
}

/**
 * Weighted choice: the id whose cumulative weight interval holds `r · Σw`.
 * `r` is a uniform draw in [0, 1) (injected, so tests and replay are
 * deterministic). Zero-weight ids are never picked; undefined when no id has
 * weight.
 */
export function pickWeighted(weights: ReadonlyMap<string, number>, r: number): string | undefined {
  if (!(Number.isFinite(r) && r >= 0 && r < 1)) throw invalidField('weights.r', 'a number in [0, 1)', r);
  let total = 0;
  for (const w of weights.values()) if (w > 0) total += w;
  if (!(total > 0)) return undefined;
  let x = r * total;
  let last: string | undefined;
  for (const [id, w] of weights) {
    if (!(w > 0)) continue;
    last = id;
    if (x < w) return id;
    x -= w;
  }
  return last; // rounding left x just past the last interval
}
