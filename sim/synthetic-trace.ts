import { DAY_MS, HOUR_MS, invalidField, mulberry32 } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';

/** Options of {@link syntheticTrace}; every shape parameter is drawn from the seed. */
export interface SyntheticTraceOptions {
  /** Seed of the generator: the same seed gives the same trace. */
  seed: number;
  /** Number of slots. @default 8000 */
  steps?: number;
  /** Slot length. @default 300000 (five minutes) */
  stepMs?: number;
  /**
   * Number of equal stretches, each with its own burstiness, cycle and
   * noise drawn afresh (traffic whose character changes, for checking that
   * a learner keeps up). @default 1
   */
  regimes?: number;
}

interface Shape {
  dayAmp: number;
  weekAmp: number;
  phase: number;
  burstsPerDay: number;
  sizeScale: number;
  tail: number;
  excite: number;
  decayMs: number;
  noise: number;
  shiftsPerWeek: number;
}

function drawShape(u: (a: number, b: number) => number): Shape {
  return {
    dayAmp: u(0, 0.8),
    weekAmp: u(0, 0.3),
    phase: u(0, 2 * Math.PI),
    // Bursts per day on average, their size scale (x base) and tail index.
    burstsPerDay: Math.exp(u(Math.log(0.2), Math.log(20))),
    sizeScale: Math.exp(u(Math.log(0.3), Math.log(5))),
    tail: u(1.1, 2.5),
    excite: u(0, 0.7),
    decayMs: Math.exp(u(Math.log(120_000), Math.log(3 * HOUR_MS))),
    noise: u(0.02, 0.25),
    shiftsPerWeek: u(0, 1.5),
  };
}

/**
 * A seeded demand trace for tuning the allocation policies away from the
 * shared traces: a diurnal and weekly cycle, slow level drift, occasional
 * level shifts, and bursts that arrive in clusters (a self-exciting process,
 * as in Hawkes models of social-media and request bursts) with heavy-tailed
 * (Pareto) sizes, a ramp of a few slots and an exponential decay. The seed
 * draws how calm or bursty a trace is, so a handful of seeds covers steady
 * diurnal traffic as well as traffic dominated by spikes. Counts are
 * Poisson-like around the rate (normal approximation, never negative).
 */
export function syntheticTrace(o: SyntheticTraceOptions): Trace {
  const steps = o.steps ?? 8000;
  const stepMs = o.stepMs ?? 300_000;
  const regimes = o.regimes ?? 1;
  if (!(Number.isInteger(regimes) && regimes >= 1 && regimes <= steps))
    throw invalidField('regimes', `an integer in [1, ${steps}]`, regimes);
  if (!(Number.isInteger(steps) && steps >= 100)) throw invalidField('steps', 'an integer >= 100', steps);
  if (!(Number.isFinite(stepMs) && stepMs > 0)) throw invalidField('stepMs', 'a positive number', stepMs);
  const rand = mulberry32(o.seed);
  const u = (a: number, b: number): number => a + (b - a) * rand();
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const base = Math.exp(u(Math.log(20), Math.log(2000)));
  let sh = drawShape(u);
  const t0 = Date.UTC(2021, 0, 4);
  const timestamps = new Float64Array(steps);
  const values = new Float64Array(steps);
  let level = 1;
  let burst = 0;
  let pending: { at: number; size: number }[] = [];
  let heat = 0;
  for (let i = 0; i < steps; i++) {
    if (i > 0 && Math.floor((i * regimes) / steps) !== Math.floor(((i - 1) * regimes) / steps))
      sh = drawShape(u);
    const { dayAmp, weekAmp, phase, sizeScale, tail, excite, noise } = sh;
    const pBurst = (sh.burstsPerDay * stepMs) / DAY_MS;
    const pShift = (sh.shiftsPerWeek * stepMs) / (7 * DAY_MS);
    const keep = Math.exp(-stepMs / sh.decayMs);
    const t = t0 + i * stepMs;
    timestamps[i] = t;
    if (rand() < pShift) level *= Math.exp(u(-0.7, 0.7));
    level *= Math.exp(0.002 * gauss());
    // Self-excitation: each burst raises the chance of the next for a while.
    heat *= keep;
    if (rand() < Math.min(0.5, pBurst * (1 + 20 * heat))) {
      const size = sizeScale * (Math.pow(1 - rand(), -1 / tail) - 1) * base;
      const ramp = Math.floor(u(0, 4));
      pending.push({ at: i + ramp, size });
      heat += excite;
    }
    burst *= keep;
    pending = pending.filter((b) => {
      if (b.at > i) {
        burst += b.size / (b.at - i + 1) / 4;
        return true;
      }
      burst += b.size;
      return false;
    });
    const day = (2 * Math.PI * (t % DAY_MS)) / DAY_MS;
    const week = (2 * Math.PI * (t % (7 * DAY_MS))) / (7 * DAY_MS);
    const cycle = Math.max(0.05, 1 + dayAmp * Math.sin(day + phase) + weekAmp * Math.sin(week));
    const rate = base * level * cycle + burst;
    values[i] = Math.max(0, Math.round(rate + gauss() * (Math.sqrt(rate) + noise * rate)));
  }
  return {
    format: 'series',
    formatReason: 'synthetic',
    intervalMs: stepMs,
    timestamps,
    tokens: ['synthetic'],
    values: [values],
    features: {},
    filledSlots: 0,
  };
}
