// Entry file of services/wire: the messages nodes send each other (takes,
// refunds and forwarded checks on the owner link, hand-offs and pool wants as
// Moleculer actions), their validation (nothing from the network is trusted:
// every message and every action's params are checked as strictly as the
// public API), and the Guard that counts and logs what a node refused. Pure
// but for the Guard's logger; used by services/check, cluster, pools and api.
// Depends on lib/ and actors/. Values first, then types.
export { refOf } from './wire.ts';
export {
  MAX_LINK_BYTES,
  MAX_LINK_ITEMS,
  MAX_TAKE_PARTS,
  MAX_TOKEN_LENGTH,
  checkRuleRef,
  checkTakeItem,
  decodeLinkJson,
  parseRefundMessage,
  parseTakeMessage,
} from './wire-schema.ts';
export { MAX_FORWARDS, MAX_SUBJECT_LENGTH, isReplySubject, parseForwardBatch } from './forward-schema.ts';
export { parseLinkReply, refundReplyOk, takeReplyChecker } from './wire-reply.ts';
export {
  MAX_ACTORS_LIMIT,
  MAX_HANDOFF_ITEMS,
  MAX_NODE_ID_LENGTH,
  parseActorsParams,
  parseBeat,
  parseDescribeParams,
  parseEmptyParams,
  knownFields,
  parseHandoffParams,
  parsePoolParams,
  parsePrepareLeaveParams,
  requireCaller,
} from './action-params.ts';
export { Guard, LOG_EVERY_MS, Refused, emptyGuardStats, guardOf } from './guard.ts';
export { guardedAction, guardedEvent, refuseCall } from './guarded.ts';

export type {
  HandoffItem,
  HandoffParams,
  RefundItem,
  RefundParams,
  RuleRef,
  TakeDecision,
  TakeItem,
  TakeMeta,
  TakePart,
  TakeParams,
} from './wire.ts';
export type { TakeMessage } from './wire-schema.ts';
export type { ForwardWire } from './forward-schema.ts';
export type { LinkReply } from './wire-reply.ts';
export type { GuardLog, GuardStats } from './guard.ts';
