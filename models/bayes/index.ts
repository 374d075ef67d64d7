// Entry file of models/bayes: the discrete Bayesian network and its forecaster.
export { BayesNet } from './network.ts';
export { multiply, sumOut, reduce } from './factor.ts';
export { learnStructure, nodeBic } from './structure.ts';
export { BayesForecaster, binnedQuantile } from './bayes-forecaster.ts';
export {
  BnNode,
  timeOfWeekBand,
  originEvidence,
  bin,
  recentMean,
  TOW_STATES,
  EVENT_STATES,
  TREND_STATES,
  BURST_STATES,
} from './discretize.ts';

export type { BnNodeSpec, BayesNetJson, Evidence } from './network.ts';
export type { Factor } from './factor.ts';
export type { StructureOptions } from './structure.ts';
export type { BayesForecasterOptions } from './bayes-forecaster.ts';
export type { OriginEvidence } from './discretize.ts';
