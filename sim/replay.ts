import { SimulatedClock } from '../lib/index.ts';
import { planWants, unitsFor } from '../lib/index.ts';
import type { CapacityPolicy, PoolWants } from '../lib/index.ts';
import { PoolManager } from '../actors/index.ts';
import type { DecisionSink } from '../actors/index.ts';
import { SimulatedProvider } from './simulated-provider.ts';
import type { ReplayData, ResourceModel } from './setup.ts';

/** Per-step record of a replay (`--timeline`, `--plot`). */
export interface Timeline {
  step: Int32Array;
  timestamp: Float64Array;
  demand: Float64Array;
  /** Ready capacity, requests per step. */
  capacity: Float64Array;
  served: Float64Array;
  throttled: Float64Array;
  /** The forecast (p10, p50, p90) for this step made `lead + 1` steps earlier; NaN before the first. */
  forecastP10: Float64Array;
  forecastP50: Float64Array;
  forecastP90: Float64Array;
}

/** Totals of a replay (the `--json` report, plus the objective). */
export interface ReplayResult {
  policy: string;
  requests: number;
  throttled: number;
  throttledFraction: number;
  unitSeconds: number;
  /** Reservation cost: unit-seconds x unit cost. */
  cost: number;
  meanUtilization: number;
  /** cost + throttle price x throttled + churn cost x units changed. */
  objective: number;
  unitChanges: number;
  steps: number;
  timeline?: Timeline;
}

/** Options of {@link runReplay}. */
export interface RunReplayOptions {
  timeline?: boolean;
  sink?: DecisionSink;
  /** Resource model overrides (e.g. a sweep's throttle price for the objective). */
  model?: Partial<ResourceModel>;
  /** Steps to replay. @default data.start .. end of trace */
  from?: number;
  to?: number;
}

/**
 * Replays a trace through the production allocation code: a PoolManager
 * with the given policy, driving a simulated provider, on a simulated clock.
 * At each step the ready capacity serves the demand (the rest is throttled),
 * then every token sends its forecast wants for the origin, planned as a
 * live pool plans them (lib `planWants`: read at the pool's horizons; no
 * trend lift, see below), and the manager decides (with a seasonal floor
 * when the model keeps a season); nothing reads beyond the current step
 * except the oracle.
 */
export function runReplay(data: ReplayData, policy: CapacityPolicy, o: RunReplayOptions = {}): ReplayResult {
  const m = { ...data.model, ...o.model };
  const from = o.from ?? data.start;
  const to = Math.min(o.to ?? data.demand.length, data.demand.length);
  const stepMs = data.stepMs;
  const clock = new SimulatedClock(data.timestamps[from]!);
  const c = m.unitCapacity;
  const provider = new SimulatedProvider({
    leadMs: m.leadSteps * stepMs,
    initialUnits: Math.min(m.maxUnits, Math.max(m.minUnits, unitsFor(data.demand[from - 1] ?? 0, c))),
  });
  const manager = new PoolManager(
    {
      name: 'replay',
      unitCapacity: c,
      minUnits: m.minUnits,
      maxUnits: m.maxUnits,
      stepMs,
      leadSteps: m.leadSteps,
      leaseTtlMs: 3 * stepMs,
      seasonSteps: m.seasonSteps,
    },
    { clock, provider, policy, ...(o.sink ? { sink: o.sink } : {}) },
  );
  const fc = data.forecasts;
  const H = fc.horizons.length;
  const len = Math.max(0, to - from);
  const tl: Timeline | undefined = o.timeline
    ? {
        step: new Int32Array(len),
        timestamp: new Float64Array(len),
        demand: new Float64Array(len),
        capacity: new Float64Array(len),
        served: new Float64Array(len),
        throttled: new Float64Array(len),
        forecastP10: new Float64Array(len).fill(Number.NaN),
        forecastP50: new Float64Array(len).fill(Number.NaN),
        forecastP90: new Float64Array(len).fill(Number.NaN),
      }
    : undefined;
  let requests = 0;
  let throttled = 0;
  let unitSteps = 0;
  let servedSum = 0;
  let capSum = 0;
  let changes = 0;
  let lastTarget = -1;
  const stepSec = stepMs / 1000;
  for (let t = from; t < to; t++) {
    const now = data.timestamps[t]!;
    clock.set(Math.max(clock.now(), now));
    const ready = provider.readyUnits(now);
    const starting = provider.startingUnits(now);
    const d = data.demand[t]!;
    const cap = ready * c;
    const served = Math.min(d, cap);
    const thr = d - served;
    requests += d;
    throttled += thr;
    servedSum += served;
    capSum += cap;
    unitSteps += ready + starting;
    if (tl) {
      const j = t - from;
      tl.step[j] = t;
      tl.timestamp[j] = now;
      tl.demand[j] = d;
      tl.capacity[j] = cap;
      tl.served[j] = served;
      tl.throttled[j] = thr;
      const back = t - fc.horizons[H - 1]! - fc.runFrom;
      if (back >= 0) {
        let p10 = 0;
        let p50 = 0;
        let p90 = 0;
        for (const f of fc.perToken) {
          p10 += f.p10[H - 1]![back]!;
          p50 += f.p50[H - 1]![back]!;
          p90 += f.p90[H - 1]![back]!;
        }
        tl.forecastP10[j] = p10;
        tl.forecastP50[j] = p50;
        tl.forecastP90[j] = p90;
      }
    }
    clock.set(now + stepMs);
    const j = t - fc.runFrom;
    data.tokens.forEach((token, k) => {
      const f = fc.perToken[k]!;
      const forecast: PoolWants = {
        horizons: fc.horizons,
        p10: f.p10.map((a) => a[j] ?? Number.NaN),
        p50: f.p50.map((a) => a[j] ?? Number.NaN),
        p90: f.p90.map((a) => a[j] ?? Number.NaN),
      };
      // Planned as a live pool plans (lib planWants), without the trend of the token's last seconds:
      // on azure-1s (a lead of 120 one-second steps) the line of its last 20 s, extended over the
      // lead, held 25x the reactive cost (bench/replay-eval.ts); on traces of minutes it has no samples.
      const v = data.values[k]!;
      const { wants } = planWants(forecast, m.leadSteps, [], stepMs, { sampleMs: stepMs });
      manager.want({ token, priority: 1, wants, actual: v[t]! });
    });
    const r = manager.tick({ step: t, demand: d, served, throttled: thr });
    if (lastTarget >= 0) changes += Math.abs(r.target - lastTarget);
    lastTarget = r.target;
  }
  const unitSeconds = unitSteps * stepSec;
  const cost = unitSeconds * m.unitCost;
  const result: ReplayResult = {
    policy: policy.name,
    requests,
    throttled,
    throttledFraction: requests > 0 ? throttled / requests : 0,
    unitSeconds,
    cost,
    meanUtilization: capSum > 0 ? servedSum / capSum : 0,
    objective: cost + m.throttlePrice * throttled + m.churnCost * changes,
    unitChanges: changes,
    steps: len,
  };
  if (tl) result.timeline = tl;
  return result;
}
