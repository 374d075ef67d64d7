/**
 * One action: hold enough for the forecast at `z` spreads above its median
 * (z = 1.28 is the p90) at every horizon up to the lead, at least `load`
 * times the last minute's load, and at least `hpa` times what the reactive
 * (HPA) rule holds. (z, 0, 1) is the reactive rule topped up by the forecast.
 */
export interface RlAction {
  z: number;
  load: number;
  hpa: number;
}

const ZS = [-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6];
const FLOORS: readonly [number, number][] = [
  [0, 0],
  [1, 0],
  [1.2, 0],
  [1.43, 0],
  [1.7, 0],
  [2.2, 0],
  [0, 0.85],
  [0, 1],
  [0, 1.3],
];

/** The action set: every z with every floor. */
export const RL_ACTIONS: readonly RlAction[] = ZS.flatMap((z) =>
  FLOORS.map(([load, hpa]) => ({ z, load, hpa })),
);
/** Index of the action an untrained policy takes: the p93 of the forecast, no floor. */
export const DEFAULT_ACTION = RL_ACTIONS.findIndex((a) => a.z === 1.5 && a.load === 0 && a.hpa === 0);
