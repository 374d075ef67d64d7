// Entry file of models/live: what a node serves for every token from its
// first request (the statistical members, the LSTM and the Bayesian network
// combined online per token and horizon by their realised error).
export { STAT_MEMBERS, statForecasts, statLatest } from './members.ts';
export { OnlineCombiner, defaultCombinerOptions } from './combiner.ts';
export { LiveZoo, LIVE_MEMBERS } from './live-zoo.ts';
export { liveForecasts, combineTrack } from './live-track.ts';

export type { StatMember } from './members.ts';
export type { CombinerOptions, CombinerState, CombinedPoint } from './combiner.ts';
export type { LiveZooOptions, LiveMember } from './live-zoo.ts';
export type { LiveTrackOptions, LiveTrack } from './live-track.ts';
