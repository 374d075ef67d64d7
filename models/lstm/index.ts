// Entry file of models/lstm: the global quantile LSTM.
export { LstmForecaster } from './lstm-forecaster.ts';
export { QuantileNetwork, QUANTILES } from './network.ts';
export { LstmInference } from './inference.ts';
export { buildFeatures, staticWidth, minHistory } from './features.ts';
export { compileLstmOptions, defaultLstmOptions } from './options.ts';

export type { FeatureSpec, FeatureBatch } from './features.ts';
export type { NetworkSpec } from './network.ts';
export type { InferenceSpec, ExportedWeights } from './inference.ts';
export type { LstmOptions } from './options.ts';
export type { LstmState } from './lstm-forecaster.ts';
