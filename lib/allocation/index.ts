// Entry file of lib/allocation: pure allocation math (fair share, leases,
// provisioning, the reactive, fixed and quantile-regression capacity policies). Values first, then types.
export { maxMinFairShare, shareWithSpare } from './fair-share.ts';
export { LeaseLimits, effectiveLimit, leaseBurst, leaseRate } from './lease.ts';
export {
  Z90,
  normalQuantile,
  levelAtZ,
  quantileAt,
  unitsFor,
  leadSteps,
  horizonsForLead,
} from './provisioning.ts';
export { unitsForWants, sumWants, leadHorizon } from './policy.ts';
export {
  TREND_MIN_T,
  TREND_SECONDS,
  TREND_WINDOWS_S,
  WANTS_AT_MS,
  tickAtMs,
  untilStepPhase,
  planHorizons,
  wantsAt,
  trendOf,
  liftByTrend,
  stepTotals,
  planWants,
} from './planning.ts';
export { SeasonalProfile, seasonalLift } from './seasonal.ts';
export {
  SEASON_CHECKPOINT_SKEW_STEPS,
  SEASON_CHECKPOINT_VERSION,
  decodeSeasonCheckpoint,
  encodeSeasonCheckpoint,
} from './season-checkpoint.ts';
export { HpaPolicy, compileHpaOptions, defaultHpaOptions } from './reactive.ts';
export { StaticPolicy, QuantilePolicy, HoldDownPolicy } from './simple-policies.ts';
export { QRA_FEATURES, QraBand, QraFeatures, QraPolicy, defaultQraOptions } from './qra.ts';
export { QuantileRegressionFit, fitQuantileRegression } from './quantile-regression.ts';
export { ForecastFeedback } from './feedback.ts';
export { spareWeights, pickWeighted } from './weights.ts';

export type { Claim } from './fair-share.ts';
export type { Lease, LeaseContext } from './lease.ts';
export type { PoolWants, PolicyObservation, CapacityPolicy } from './policy.ts';
export type { HpaOptions } from './reactive.ts';
export type { QraOptions } from './qra.ts';
export type { Trend, Lifted, PlanOptions } from './planning.ts';
export type { SeasonalOptions, SeasonalForecast, SeasonalLifted, SeasonalSnapshot } from './seasonal.ts';
export type { SeasonCheckpoint, SeasonCheckpointShape } from './season-checkpoint.ts';
export type { HorizonFeedback } from './feedback.ts';
export type { UnitLoad } from './weights.ts';
