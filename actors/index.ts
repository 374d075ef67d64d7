// Entry file of actors/: the actor runtime (mailbox, host with activation,
// passivation, eviction and hand-off) and the actor kinds. Values first, then
// types. Other folders import this file, never deep paths. actor-slots.ts is
// internal: the slot machinery that ActorHost delegates to.
export { Mailbox } from './mailbox.ts';
export { ActorHost, NOT_NOW } from './actor-host.ts';
export { Residency } from './residency.ts';
export {
  ActorStatus,
  PassivationReason,
  defaultActorHostOptions,
  compileActorHostOptions,
} from './actor-host-options.ts';
export { TokenActor } from './token-actor.ts';
export { PoolManager } from './pool-manager.ts';
export { DormantTokens } from './dormant-tokens.ts';
export {
  TakeLedger,
  RefundRejection,
  compileTakeLedgerOptions,
  defaultTakeLedgerOptions,
  isTakeId,
} from './take-ledger.ts';

export type { ActorHostOptions, ActorHostEvents, ActorHostStats } from './actor-host-options.ts';
export type { ActorFactory } from './actor-slots.ts';
export type { Resident } from './residency.ts';
export type { DormantState } from './dormant-tokens.ts';
export type { TokenActorSnapshot, TokenDescription, TokenForecast, LeaseTerms } from './token-actor.ts';
export type {
  ResourceProvider,
  PoolConfig,
  TokenWant,
  AllocationDecision,
  DecisionSink,
  StepFeedback,
  TickResult,
} from './pool-manager.ts';
export type { TakeLedgerOptions, TakeEntry, TakeLedgerStats } from './take-ledger.ts';
