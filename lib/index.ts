// Entry file of lib/: pure domain code, no Moleculer, no I/O.
// Values first, then types. Other folders import this file, never deep paths.
export { SystemClock, SimulatedClock, ScaledClock, domainClock, sleep } from './clock.ts';
export {
  ErrorCode,
  HeadroomError,
  InputError,
  StateError,
  show,
  invalidField,
  missingField,
  toHeadroomError,
  fromBody,
} from './errors.ts';
export { isPlainObject, isThenable } from './guards.ts';

export type { Clock, ScaledClockSpec, TimerHandle } from './clock.ts';
export type { ErrorBody, HeadroomErrorInit } from './errors.ts';

// Throttling core: durations, params, GCRA, rules, placement, behaviour window.
export {
  parseDurationMs,
  parseRulePeriodMs,
  isoDateTimeMs,
  MIN_RULE_PERIOD_MS,
  MAX_RULE_PERIOD_MS,
  HOUR_MS,
  DAY_MS,
} from './duration.ts';
export {
  parseParams,
  parseCost,
  isParamValue,
  isParamKey,
  MAX_PARAM_KEYS,
  MAX_PARAM_KEY_LENGTH,
  MAX_PARAM_STRING_LENGTH,
  MAX_COST,
} from './params.ts';
export { gcraTake, gcraPeek, gcraRefund, gcraToleranceMs, gcraCapDebt } from './gcra.ts';
export {
  RuleMode,
  parseRule,
  parseStoredRule,
  parseRuleId,
  isRuleId,
  compileRule,
  MAX_RULE_RATE,
} from './rules.ts';
export { ruleApplies, tokenKeyOf, ruleIdOfToken, RuleSet } from './rule-set.ts';
export { MatchMemo } from './match-memo.ts';
export { Placement, ownerOf } from './placement.ts';
export { BehaviourWindow, defaultWindowOptions, compileWindowOptions } from './window.ts';
export { fnv1a32, fmix32, hash32 } from './hash.ts';
export { mulberry32, pooledRandomBytes } from './random.ts';

export type { ParamValue, Params } from './params.ts';
export type { GcraLimit, GcraState, GcraDecision } from './gcra.ts';
export type { RuleSpec, CompiledRule, TokenKey } from './rules.ts';
export type { Matched } from './match-memo.ts';
export type { BucketCounts, WindowOptions, WindowSnapshot, RingSnapshot, Resolution } from './window.ts';

// Check path: API request validation, combining per-token decisions, options.
export {
  parseJsonPayload,
  payloadTooLarge,
  parseCheckRequest,
  batchColumns,
  parseBatchRequest,
  parseCheckRequests,
  parseIdRequest,
  parseEmptyRequest,
  rejectUnknown,
  MAX_BATCH,
  MAX_LEASE_BATCH,
} from './api-schema.ts';
export { CHECK_REPLY_FIELDS, combineDecisions, replyOfOne, shadowReply } from './decide.ts';
export {
  compileOptions,
  mergeOptions,
  optionsError,
  optString,
  optNullableString,
  optInt,
  optNullableInt,
  optNumber,
  optNullableInstantMs,
  optBool,
  optDurationMs,
  optOneOf,
  optStrictInt,
  optPositiveInt,
  optPositiveMs,
  optFiniteAtLeast,
  optClock,
  optFunction,
  compileOptionsObject,
  unknownKeysFirst,
} from './options.ts';

export type { BatchRequest, CheckRequest } from './api-schema.ts';
export type { RuleDecision, CheckReply, Combined } from './decide.ts';
export type { OptionParser, OptionSchema, OptionProblem } from './options.ts';

// Behavioural data collection: calendar features, records and buckets, event feeds.
export { HolidayCalendar, parseHolidays, calendarFeatures } from './calendar.ts';
export { CollectionWindow, RefundOutcome } from './collect.ts';
export { buildRecord } from './collect-record.ts';
export {
  parseEvent,
  parseEventQuery,
  parseEventLine,
  eventId,
  MAX_EVENT_NAME,
  MAX_EVENT_TOKENS,
  MAX_EVENT_TOKEN_LENGTH,
  MAX_EVENT_RANGE_MS,
  MAX_EVENT_AGE_MS,
  MAX_EVENT_LEAD_MS,
} from './events.ts';
export { EventSignals } from './event-signals.ts';

export type { CalendarFeatures } from './calendar.ts';
export type { CollectedRecord, CollectedBucket, AnonymisedParts, Decided } from './collect-record.ts';
export type { CollectedBatch } from './collect.ts';
export type { EventInput, EventQuery } from './events.ts';
export type { SignalEvent } from './event-signals.ts';

// Demand traces (the shared CSVs and the like).
export { TraceFormat, parseTrace, detectFormat, parseTimestamp, describeTrace } from './traces.ts';
export type { Trace, TraceFormatOption, ParseTraceOptions } from './traces.ts';

// Allocation: fair share, leases, capacity policies.
export * from './allocation/index.ts';
