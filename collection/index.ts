// Entry file of collection/: the behavioural-data collector, without Moleculer
// or threads of its own. A Collector observes the owner's decisions (a
// DecisionObserver), queues them on the check path, and on a Clock tick
// anonymises them (lib/privacy), adds calendar, profile and event features,
// holds them through the refund grace (lib/collect.ts) and hands rows to the
// store's Batcher. DecisionBatch carries decisions to a collection worker in
// typed arrays. A node runs the collector on its collection worker thread
// (services/collection); unit tests and benches run it in-process. Depends on
// lib/ and store/ only. Values first, then types.
export { Collector } from './collector.ts';
export { compileCollectorOptions, defaultCollectorOptions } from './collector-options.ts';
export { DecisionQueue, Queued } from './collector-queue.ts';
export { DecisionBatchBuilder, forEachDecision, itemAt, transferOf } from './collector-batch.ts';
export { PortSampler, Slot } from './collector-sample.ts';
export { AnonymisationMemo } from './collector-memo.ts';
export { MapProfileProvider, noProfiles, parseProfiles } from './profiles.ts';

export type { CollectorStats } from './collector.ts';
export type { CollectorDeps, CollectorLogger, CollectorOptions } from './collector-options.ts';
export type { CountedDecisions, DecisionBatch, ShadowDecisions } from './collector-batch.ts';
export type { PortSampling, TokenSecond } from './collector-sample.ts';
export type { DecisionObserver, ObservedItem } from './observer.ts';
export type { ProfileAttributes, ProfileProvider } from './profiles.ts';
