// Entry file of sim/: trace replay of the allocation code on a simulated clock.
// Values first, then types.
export { SimulatedProvider } from './simulated-provider.ts';
export { OraclePolicy } from './oracle.ts';
export { BOUND_PRICE_RATIOS, SchedulePolicy, foresightFront, foresightSchedule } from './foresight-bound.ts';
export { forecastTrace, REPLAY_FORECASTERS } from './forecasts.ts';
export {
  LinearRulePolicy,
  NEIGHBOUR_SPANS,
  NeighbourPolicy,
  PEER_QUANTILES,
  causalFeatureRows,
  fittedCausalFront,
  neighbourFront,
  poissonQuantile,
} from './peers.ts';
export { prepareReplay, defaultThrottlePrice } from './setup.ts';
export { runReplay } from './replay.ts';
export {
  PolicyName,
  POLICY_NAMES,
  RISK_SETTINGS,
  makePolicy,
  pretrainRl,
  requestCapacityCost,
} from './policies.ts';
export { sweepPolicy } from './sweep.ts';
export { paretoFront, throttleAtCost, costAtThrottle } from './frontier.ts';
export { plotReplaySvg, replaySummary, summaryLine, timelineCsv } from './plot-svg.ts';
export { plotCompareSvg } from './plot-compare.ts';
export { busiestWindow, niceTicks, reduceColumns, zoomSteps } from './plot-scale.ts';
export { evaluateTargets, TARGET_BOUNDS } from './targets.ts';
export { syntheticTrace } from './synthetic-trace.ts';

export type { ForecastTrack } from './forecasts.ts';
export type { ResourceModel, ReplaySetupOptions, ReplayData } from './setup.ts';
export type { Timeline, ReplayResult, RunReplayOptions } from './replay.ts';
export type { MakePolicyOptions } from './policies.ts';
export type { FrontierPoint } from './frontier.ts';
export type { ForesightSchedule } from './foresight-bound.ts';
export type { TargetRatios, TargetEvaluation } from './targets.ts';
export type { ReplaySummary, ReplayPlotOptions } from './plot-svg.ts';
export type { CompareRun, ComparePlotOptions } from './plot-compare.ts';
export type { Columns } from './plot-scale.ts';
export type { SyntheticTraceOptions } from './synthetic-trace.ts';
