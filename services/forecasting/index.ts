// Entry file of services/forecasting: forecasting wired into a node. The
// `forecast` service (batched predictions from the model registry), the
// `bayes` service, the trainer (one per cluster: retrain, validate, promote),
// the cadence that forecasts every live token, and the training data read
// from the store or from live collection; setupForecasting puts them on a
// broker. Runs in the node's process (training on a worker thread, see
// models/). Depends on lib/, actors/, models/, store/ and services/runtime,
// collection and check. Values first, then types.
export { setupForecasting } from './forecasting.ts';
export { ForecastHub, checkPredictParams, forecastService, registryDirOf } from './forecast-service.ts';
export { bayesQuery, bayesService } from './bayes-service.ts';
export { Trainer, holdoutOf, trainerService } from './trainer-service.ts';
export { ForecastCadence } from './forecast-cadence.ts';
export { liveTrainingSource, storeTrainingSource } from './training-data.ts';

export type { Forecasting } from './forecasting.ts';
export type { ForecastConfig, ModelsModule, PredictParams, PredictReply } from './forecast-service.ts';
export type { BayesQueryParams, BayesQueryReply } from './bayes-service.ts';
export type { TrainRunSummary, TrainerDeps, TrainerOptions, TrainerStatus } from './trainer-service.ts';
export type { ForecastCadenceDeps } from './forecast-cadence.ts';
export type { TrainingData, TrainingSource } from './training-data.ts';
