// Entry file of models/: forecasting models on TensorFlow.js and plain TS.
// Importing it does not load TensorFlow.js: the LSTM loads it on first use
// (loadTf in backend.ts), so every other folder may import this file.
// Values first, then types. Other folders import this file, never deep paths.
export { emptyForecast } from './types.ts';
export { TfBackend, useBackend, loadTf } from './backend.ts';
export {
  newAccumulator,
  addObservation,
  mergeAccumulators,
  finishMetrics,
  naiveScale,
  pinballLoss,
} from './metrics.ts';
export { quantile, sortedQuantile, localScale, AdaptiveInterval } from './calibration.ts';
export { HybridCombiner, fitSimplexL1 } from './hybrid.ts';
export { rollingForecast } from './rolling.ts';
export { scoreRun, predictionRows, formatMetricsTable, PREDICTION_COLUMNS } from './scoring.ts';
export { ModelName, MODEL_NAMES, buildMembers, createLstmForecaster, createBayesForecaster } from './zoo.ts';
export {
  BaselineName,
  makeBaseline,
  PerTokenForecaster,
  NaiveModel,
  SeasonalNaiveModel,
  EwmaModel,
  HoltWintersModel,
  nonNegative,
} from './baselines/index.ts';
export {
  LstmForecaster,
  LstmInference,
  QuantileNetwork,
  QUANTILES,
  buildFeatures,
  staticWidth,
  minHistory,
  compileLstmOptions,
  defaultLstmOptions,
} from './lstm/index.ts';

export {
  BayesNet,
  BayesForecaster,
  learnStructure,
  nodeBic,
  binnedQuantile,
  BnNode,
  timeOfWeekBand,
  originEvidence,
  bin,
  recentMean,
  TOW_STATES,
  EVENT_STATES,
  TREND_STATES,
  BURST_STATES,
  multiply,
  sumOut,
  reduce,
} from './bayes/index.ts';

export { ModelSet, ForecastSource, bayesToJSON, bayesFromJSON } from './serving.ts';
export {
  LiveZoo,
  LIVE_MEMBERS,
  OnlineCombiner,
  defaultCombinerOptions,
  STAT_MEMBERS,
  statForecasts,
  statLatest,
  liveForecasts,
  combineTrack,
} from './live/index.ts';
export { loadPretrained, PRETRAINED_DIR } from './pretrained.ts';
export { trainCandidate, judgeCandidate, scoreForecasts } from './training.ts';
export { trainInWorker } from './train-runner.ts';
export { ModelRegistry, ModelStatus } from './registry.ts';
export {
  RlPolicy,
  RL_ACTIONS,
  DEFAULT_ACTION,
  STATE_COUNT,
  featuresOf,
  stateOf,
  volatilityWindow,
  RecentLoad,
} from './rl/index.ts';

export type { SeriesView, QuantileForecast, Forecaster } from './types.ts';
export type { RlOptions, RlPolicyJson, RlAction, RlFeatures } from './rl/index.ts';
export type { TfBackendName, BackendChoice, TfModule } from './backend.ts';
export type { ForecastMetrics, MetricsAccumulator } from './metrics.ts';
export type { CalibrationSample, AdaptiveIntervalOptions } from './calibration.ts';
export type { RollingOptions, RollingResult } from './rolling.ts';
export type { MetricsTable } from './scoring.ts';
export type { ZooOptions } from './zoo.ts';
export type { PointModel, HoltWintersParams } from './baselines/index.ts';
export type {
  BnNodeSpec,
  BayesNetJson,
  Evidence,
  Factor,
  StructureOptions,
  BayesForecasterOptions,
  OriginEvidence,
} from './bayes/index.ts';
export type {
  LstmOptions,
  LstmState,
  FeatureSpec,
  FeatureBatch,
  NetworkSpec,
  InferenceSpec,
  ExportedWeights,
} from './lstm/index.ts';
export type { ServingInput, ServingForecast, BayesForecasterJson } from './serving.ts';
export type {
  LiveZooOptions,
  LiveMember,
  StatMember,
  CombinerOptions,
  CombinerState,
  CombinedPoint,
  LiveTrackOptions,
  LiveTrack,
} from './live/index.ts';
export type { PretrainedMeta } from './pretrained.ts';
export type { TrainJob, TrainResult, TrainProgress, ModelScore, PromotionVerdict } from './training.ts';
export type { WorkerMessage } from './train-runner.ts';
export type { ModelVersionMeta, NewModelVersion } from './registry.ts';
