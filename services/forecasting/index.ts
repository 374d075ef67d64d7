// Entry file of services/forecasting: forecasting wired into a node. The
// `forecast` service (batched predictions from the model registry), the
// `bayes` service, the trainer (one per cluster: retrain, validate, promote),
// the cadence that forecasts every live token, and the training data read
// from the store or from live collection; setupForecasting puts them on a
// broker. Runs in the node's process (training on a worker thread, see
// models/). What other members send the services is checked
// (forecasting-params.ts) and refusals counted by the node's Guard
// (services/wire guarded.ts). Depends on lib/, actors/, models/, store/ and
// services/runtime, collection, check and wire. Values first, then types.
export { setupForecasting } from './forecasting.ts';
export {
  ForecastHub,
  PRETRAINED_VERSION,
  checkPredictParams,
  forecastService,
  registryDirOf,
} from './forecast-service.ts';
export { bayesQuery, bayesService } from './bayes-service.ts';
export {
  MAX_EVIDENCE,
  MAX_SERIES_TOKENS,
  parseBayesQueryParams,
  parseForecastErrorEvent,
  parseForecastModelEvent,
  parsePromoteParams,
  parseSeriesParams,
} from './forecasting-params.ts';
export { forecastGet, parseForecastGetRequest } from './forecast-get.ts';
export { Trainer } from './trainer.ts';
export { holdoutOf, minTrainingSlots } from './trainer-types.ts';
export { trainerService } from './trainer-service.ts';
export { LEADER_KEY, TrainerElection } from './trainer-election.ts';
export { CURRENT_KEY, KEEP_VERSIONS, SharedModels, parseCurrentModel } from './model-store.ts';
export { setupTrainerCluster, trainerBuckets } from './trainer-cluster.ts';
export { ForecastCadence } from './forecast-cadence.ts';
export { liveTrainingSource, sinceFirstDemand, storeTrainingSource } from './training-data.ts';
export {
  TRAINING_SERVICE,
  clusterTrainingSource,
  decodeSeriesReply,
  encodeTrainingData,
  mergeTrainingData,
  trainingPeers,
  trainingSeriesService,
} from './cluster-training.ts';

export type { Forecasting } from './forecasting.ts';
export type { ForecastConfig, ModelsModule, PredictParams, PredictReply } from './forecast-service.ts';
export type { BayesQueryParams, BayesQueryReply } from './bayes-service.ts';
export type { BayesQuery } from './forecasting-params.ts';
export type { ForecastGetDeps, ForecastGetReply, TokenForecastView } from './forecast-get.ts';
export type { TrainRunSummary, TrainerDeps, TrainerOptions, TrainerStatus } from './trainer-types.ts';
export type { ForecastCadenceDeps, KeptForecast } from './forecast-cadence.ts';
export type { TrainingData, TrainingSource } from './training-data.ts';
export type { ClusterTrainingDeps, SeriesReply } from './cluster-training.ts';
export type { ElectionView, TrainerElectionDeps } from './trainer-election.ts';
export type { CurrentModel, SharedModelsDeps } from './model-store.ts';
export type { TrainerCluster } from './trainer-cluster.ts';
