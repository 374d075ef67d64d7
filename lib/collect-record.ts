/**
 * Behavioural records, as the token's owner collects them: one record per
 * decided request (allowed or denied), built from the decision, the
 * request's anonymised parts, its calendar features and the event levels at
 * its time; and the bucket row a token's counts become. The records are held
 * and built by the collection window (collect.ts). Pure.
 */
import type { CalendarFeatures } from './calendar.ts';

/** One decided request (allowed or denied), anonymised: the store's RequestRecord. */
export interface CollectedRecord extends CalendarFeatures {
  /** Unique insert id; replays of the same id are stored once. */
  id: string;
  timeMs: number;
  /** Keyed hash of the token key. */
  token: string;
  op?: string;
  params: Record<string, string>;
  allow: boolean;
  ruleId: string | null;
  cost: number;
  profile: Record<string, string>;
  region?: string;
  /** Level of each external event signal at `timeMs`. */
  events: Record<string, number>;
}

/** A token's counts in one bucket: the store's BucketRow, less its source. */
export interface CollectedBucket {
  token: string;
  resolution: '1s' | '1m';
  startMs: number;
  requests: number;
  allowed: number;
  denied: number;
  cost: number;
}

/** The anonymised parts of a request (PrivacyPipeline's output). */
export interface AnonymisedParts {
  token: string;
  params: Record<string, string>;
  profile: Record<string, string>;
  region?: string;
}

/** What the owner knows of one decision. */
export interface Decided {
  id: string;
  atMs: number;
  allow: boolean;
  ruleId: string | null;
  cost: number;
}

/** Builds the record of one decided request. `op` is the anonymised `op` parameter, when kept. */
export function buildRecord(
  decided: Decided,
  parts: AnonymisedParts,
  calendar: CalendarFeatures,
  events: Record<string, number>,
): CollectedRecord {
  // Written out, not spread: this runs once per request.
  const r: CollectedRecord = {
    id: decided.id,
    timeMs: decided.atMs,
    token: parts.token,
    params: parts.params,
    allow: decided.allow,
    ruleId: decided.ruleId,
    cost: decided.cost,
    secondOfMinute: calendar.secondOfMinute,
    minuteOfHour: calendar.minuteOfHour,
    hourOfDay: calendar.hourOfDay,
    dayOfWeek: calendar.dayOfWeek,
    dayOfYear: calendar.dayOfYear,
    holiday: calendar.holiday,
    profile: parts.profile,
    events,
  };
  const op = parts.params['op'];
  if (op !== undefined) r.op = op;
  if (parts.region !== undefined) r.region = parts.region;
  return r;
}

/** What a record is built from besides its decision: one per token and second, shared by its decisions. */
export interface RecordFeatures {
  parts: AnonymisedParts;
  calendar: CalendarFeatures;
  events: Record<string, number>;
}
