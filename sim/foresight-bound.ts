import { unitsFor } from '../lib/index.ts';
import type { CapacityPolicy, PolicyObservation } from '../lib/index.ts';
import type { FrontierPoint } from './frontier.ts';
import { requestCapacityCost } from './policies.ts';
import type { ReplayData } from './setup.ts';

/**
 * Throttle prices of the bound's sweep, as multiples of the capacity cost of
 * one request at full use: a geometric grid (ratio 2^(1/4)) from 1, where
 * serving starts to pay, to 10^5, where nothing worth a unit is throttled.
 */
export const BOUND_PRICE_RATIOS: readonly number[] = Array.from({ length: 67 }, (_, i) => 2 ** (i / 4));

/** One point of the bound: its totals over the scored steps, and the units it holds. */
export interface ForesightSchedule extends FrontierPoint {
  /** Units held after the decision at the end of step `from + i` (what a policy would return there). */
  units: Int32Array;
  from: number;
}

/**
 * The steps at which each unit of the pool would serve something: level k
 * (1-based) lists step 0 and every scored step whose demand exceeds
 * (k-1) x unit capacity, in compressed rows (`steps[start[k-1] .. start[k]]`).
 * Between two listed steps a unit serves nothing, so the programme of
 * {@link foresightSchedule} only visits these, in O(total units of demand).
 */
interface Levels {
  K: number;
  start: Int32Array;
  steps: Int32Array;
}

function levelsOf(d: Float64Array, c: number, minLevels: number): Levels {
  const T = d.length;
  const top = new Int32Array(T);
  let K = minLevels;
  for (let s = 0; s < T; s++) {
    let L = Math.max(0, Math.ceil(d[s]! / c));
    while (d[s]! - L * c > 0) L++;
    while (L > 0 && d[s]! - (L - 1) * c <= 0) L--;
    top[s] = L;
    K = Math.max(K, L);
  }
  const start = new Int32Array(K + 1);
  for (let s = 1; s < T; s++) for (let k = 0; k < top[s]!; k++) start[k + 1]!++;
  for (let k = 0; k < K; k++) start[k + 1]! += start[k]! + 1;
  const steps = new Int32Array(start[K]!);
  const fill = start.slice(0, K);
  for (let k = 0; k < K; k++) steps[fill[k]!++] = 0;
  for (let s = 1; s < T; s++) for (let k = 0; k < top[s]!; k++) steps[fill[k]!++] = s;
  return { K, start, steps };
}

const levelsCache = new WeakMap<ReplayData, Levels>();

/**
 * The physical bound of a replay at one throttle price: the schedule of
 * units with the least cost + price x throttled over the scored steps,
 * knowing all demand in advance and bound by the same rules as every
 * policy (units asked at the end of step t serve from t + 1 + lead and cost
 * from t + 1; releases are immediate; at least `minUnits`). Unlike the
 * `oracle` policy, which scales the coming peak by one headroom, it drops
 * exactly the demand that costs more to serve than to throttle (a short
 * spike needs a unit for its whole start-up), so no policy reaches a lower
 * throttled fraction at the same cost.
 *
 * The problem splits by unit: the k-th unit serves min(c, demand - (k-1)c)
 * when ready, and both its cost and the throttling it saves depend on its
 * own on/off schedule only; each is a two-state dynamic programme over
 * the steps (on: ready; off: released or starting, a start costing `lead`
 * unit-steps). The k-th unit's demand falls with k, so its optimal ready
 * steps are a subset of the (k-1)-th's and the schedules stack into one
 * pool (tested by replaying `units` through the allocation code).
 */
export function foresightSchedule(data: ReplayData, priceRatio: number): ForesightSchedule {
  const m = data.model;
  const c = m.unitCapacity;
  const lead = m.leadSteps;
  const from = data.start;
  const d = data.demand.subarray(from);
  const T = d.length;
  const u = (m.unitCost * data.stepMs) / 1000;
  const price = priceRatio * requestCapacityCost(data);
  const init = Math.min(m.maxUnits, Math.max(m.minUnits, unitsFor(data.demand[from - 1] ?? 0, c)));
  let lv = levelsCache.get(data);
  if (!lv) levelsCache.set(data, (lv = levelsOf(d, c, init)));
  const { K, start, steps } = lv;
  // Held units per decision, as differences (+1 where a unit's holding starts, -1 after it ends).
  const diff = new Int32Array(T + 1);
  // Per listed step: how the best "on" / "off" state there was reached.
  const onVia = new Uint8Array(steps.length);
  const offVia = new Uint8Array(steps.length);
  const VIA_OFF = 0;
  const VIA_ON = 1;
  const VIA_RESTART = 2;
  const INF = Number.POSITIVE_INFINITY;
  let cost = 0;
  let throttled = 0;
  for (let k = 1; k <= K; k++) {
    const base = (k - 1) * c;
    const first = start[k - 1]!;
    const last = start[k]! - 1;
    const mustHold = k <= m.minUnits;
    const x0 = Math.min(c, Math.max(0, d[0]! - base));
    // Value, cost and throttling of the best schedule ending on / off at the listed step.
    let vOn = k <= init ? u : INF;
    let cOn = vOn === u ? u : 0;
    let tOn = 0;
    let vOff = k <= init ? INF : price * x0;
    let cOff = 0;
    let tOff = k <= init ? 0 : x0;
    for (let i = first + 1; i <= last; i++) {
      const b = steps[i]!;
      const gap = b - steps[i - 1]! - 1;
      const x = Math.min(c, Math.max(0, d[b]! - base));
      // On at b: held through the gap (gap units), or released and started again,
      // which needs the start asked at the end of a scored step (b - 1 - lead >= 0).
      const canStart = b >= 1 + lead;
      const hold = mustHold || gap <= lead || !canStart;
      const viaOn = vOn + (hold ? gap : lead) * u;
      const viaOff = canStart ? vOff + lead * u : INF;
      const onFromOn = viaOn <= viaOff;
      const nOn = (onFromOn ? viaOn : viaOff) + u;
      const nCOn = (onFromOn ? cOn + (hold ? gap : lead) * u : cOff + lead * u) + u;
      const nTOn = onFromOn ? tOn : tOff;
      const offFromOn = vOn < vOff;
      const nOff = mustHold ? INF : (offFromOn ? vOn : vOff) + price * x;
      const nCOff = offFromOn ? cOn : cOff;
      const nTOff = (offFromOn ? tOn : tOff) + x;
      onVia[i] = onFromOn ? (hold ? VIA_ON : VIA_RESTART) : VIA_OFF;
      offVia[i] = offFromOn ? VIA_ON : VIA_OFF;
      vOn = nOn;
      cOn = nCOn;
      tOn = nTOn;
      vOff = nOff;
      cOff = nCOff;
      tOff = nTOff;
    }
    const endOn = vOn <= vOff;
    // A unit the pool may not release is held to the end, past its last listed step.
    const tail = mustHold ? T - 1 - steps[last]! : 0;
    cost += endOn ? cOn + tail * u : cOff;
    throttled += endOn ? tOn : tOff;
    // Walk back over the ready runs; a run ready from step p to step q is held by the
    // decisions ending steps p - 1 - lead .. q - 1 (from p - 1 only for the first, already ready).
    let on = endOn;
    let runEnd = mustHold ? T : -1;
    for (let i = last; i >= first; i--) {
      const s = steps[i]!;
      if (on && runEnd < 0) runEnd = s;
      const via = i > first ? (on ? onVia[i]! : offVia[i]!) : VIA_OFF;
      if (on && (i === first || via !== VIA_ON)) {
        // The run starts at s: started fresh, unless it is the initial unit at step 0.
        const lo = i === first ? 0 : s - 1 - lead;
        diff[lo]!++;
        diff[runEnd]!--;
        runEnd = -1;
      }
      on = via !== VIA_OFF;
    }
  }
  const held = new Int32Array(T);
  let h = 0;
  for (let s = 0; s < T; s++) held[s] = h += diff[s]!;
  let requests = 0;
  for (const x of d) requests += x;
  return {
    setting: priceRatio,
    cost,
    throttledFraction: requests > 0 ? throttled / requests : 0,
    objective: cost + m.throttlePrice * throttled,
    units: held,
    from,
  };
}

/** The bound's cost/throttling front: {@link foresightSchedule} at every price of `priceRatios`. */
export function foresightFront(
  data: ReplayData,
  priceRatios: readonly number[] = BOUND_PRICE_RATIOS,
): FrontierPoint[] {
  return priceRatios.map((p) => {
    const { units: _units, from: _from, ...point } = foresightSchedule(data, p);
    return point;
  });
}

/** Replays a fixed schedule of units (the bound's), so the allocation code can check its figures. */
export class SchedulePolicy implements CapacityPolicy {
  readonly name = 'schedule';
  constructor(readonly schedule: Pick<ForesightSchedule, 'units' | 'from'>) {}
  decide(obs: PolicyObservation): number {
    return this.schedule.units[obs.step - this.schedule.from] ?? 0;
  }
}
