// Entry file of models/rl: the reinforcement-learning capacity policy.
// Values first, then types.
export { RlPolicy } from './q-policy.ts';
export { RL_ACTIONS, DEFAULT_ACTION } from './actions.ts';
export { STATE_COUNT, featuresOf, stateOf, volatilityWindow } from './features.ts';
export { RecentLoad } from './recent-load.ts';

export type { RlOptions, RlPolicyJson } from './q-policy.ts';
export type { RlAction } from './actions.ts';
export type { RlFeatures } from './features.ts';
