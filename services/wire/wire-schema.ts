/**
 * Validation of the messages that travel on the owner link
 * (services/check/owner-link.ts): takes and refunds here, forwarded checks in
 * forward-schema.ts, the replies in wire-reply.ts. They are checked as
 * strictly as the public API (types, bounds, unknown fields), because only
 * nodes are meant to publish them but anything that can reach the subjects
 * could. Pure: every problem is an InputError naming the field and the value.
 * Takes are on the check path, so the checks read the parsed JSON in place
 * (no copies) and build field names only for the error.
 */
import {
  ErrorCode,
  InputError,
  MAX_COST,
  MAX_RULE_PERIOD_MS,
  MAX_RULE_RATE,
  MAX_PARAM_KEYS,
  RuleMode,
  invalidField,
  isParamKey,
  isParamValue,
  isRuleId,
  parseJsonPayload,
  isPlainObject,
  missingField,
} from '../../lib/index.ts';
import { isTakeId } from '../../actors/index.ts';
import type { RefundItem, RefundParams, RuleRef, TakeItem, TakeParams } from './wire.ts';

/** Largest link message decoded (a take of a full batch is far below it). */
export const MAX_LINK_BYTES = 8 * 1024 * 1024;
/** Most parts (checks) in one take message. */
export const MAX_TAKE_PARTS = 10_000;
/** Most items in one take or refund message, all parts together. */
export const MAX_LINK_ITEMS = 100_000;
/** Longest token key: a 128-character rule id and 16 escaped key fields fit. */
export const MAX_TOKEN_LENGTH = 16_384;
/** Longest trace header value (`traceparent` is 55, `tracestate` at most 512). */
export const MAX_TRACE_VALUE = 1024;
const MAX_TRACE_KEYS = 8;
// Rule refs are bounded as `rules.put` bounds rules (lib/rules.ts).
const MAX_RATE = MAX_RULE_RATE;
const MAX_PERIOD_MS = MAX_RULE_PERIOD_MS;
/** Latest time accepted (ECMAScript's largest date). */
const MAX_TIME_MS = 8.64e15;

/** A take as it travels: the parts, their trace contexts, and the forwarded flag. */
export interface TakeMessage extends TakeParams {
  traces?: Array<Record<string, string>>;
}

/**
 * Decodes a link payload as JSON, as the public API decodes its own (size
 * first, then JSON; an empty payload reads as `{}`, which no link message is).
 * @throws InputError (payload too large, invalid JSON).
 */
export function decodeLinkJson(data: Uint8Array): unknown {
  return parseJsonPayload(data, MAX_LINK_BYTES);
}

function unknownField(field: string, value: unknown): InputError {
  return new InputError(ErrorCode.UnknownField, `${field} is not a known field`, { field, value });
}

const isCost = (v: unknown): v is number => typeof v === 'number' && v > 0 && v <= MAX_COST;
const isTime = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= MAX_TIME_MS;
const COST = `a number greater than 0 and at most ${MAX_COST}`;
const TOKEN = `a token key of 1 to ${MAX_TOKEN_LENGTH} characters`;

function isToken(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TOKEN_LENGTH;
}

/** Whether token `t` belongs to rule `id` (`id` or `id|...`): an owner runs a token only under its own rule. */
function tokenOfRule(t: string, id: string): boolean {
  return t.startsWith(id) && (t.length === id.length || t.charCodeAt(id.length) === 124); /* | */
}

/** @throws InputError naming `field.<key>` */
export function checkRuleRef(v: unknown, field: string): RuleRef {
  if (!isPlainObject(v)) throw invalidField(field, 'a rule reference {id, rate, periodMs, burst, mode}', v);
  for (const k in v) {
    if (k !== 'id' && k !== 'rate' && k !== 'periodMs' && k !== 'burst' && k !== 'mode') {
      throw unknownField(`${field}.${k}`, v[k]);
    }
  }
  const { id, rate, periodMs, burst, mode } = v;
  if (
    id === undefined ||
    rate === undefined ||
    periodMs === undefined ||
    burst === undefined ||
    mode === undefined
  ) {
    throw missingField(field, 'id, rate, periodMs, burst and mode');
  }
  if (typeof id !== 'string' || !isRuleId(id)) {
    throw invalidField(`${field}.id`, '1 to 128 characters of A-Z a-z 0-9 _ . : -', id);
  }
  if (typeof rate !== 'number' || !(rate > 0 && rate <= MAX_RATE)) {
    throw invalidField(`${field}.rate`, `a number greater than 0 and at most ${MAX_RATE}`, rate);
  }
  if (!Number.isInteger(periodMs) || !((periodMs as number) >= 1 && (periodMs as number) <= MAX_PERIOD_MS)) {
    throw invalidField(`${field}.periodMs`, `a whole number of ms from 1 to ${MAX_PERIOD_MS}`, periodMs);
  }
  if (typeof burst !== 'number' || !(burst >= 1 && burst <= MAX_RATE)) {
    throw invalidField(`${field}.burst`, `a number from 1 to ${MAX_RATE}`, burst);
  }
  if (mode !== RuleMode.Enforce && mode !== RuleMode.Shadow) {
    throw invalidField(`${field}.mode`, '"enforce" or "shadow"', mode);
  }
  return v as unknown as RuleRef;
}

/** Request parameters, checked in place (as lib parseParams, without the copy). */
function checkParams(v: unknown, field: string): void {
  if (!isPlainObject(v)) throw invalidField(field, 'an object of parameters', v);
  let n = 0;
  for (const k in v) {
    if (++n > MAX_PARAM_KEYS) throw invalidField(field, `at most ${MAX_PARAM_KEYS} parameters`, `${n}+ keys`);
    if (!isParamKey(k)) throw invalidField(`${field} key`, '1 to 64 characters long', k);
    if (!isParamValue(v[k])) {
      throw invalidField(
        `${field}.${k}`,
        'a string of at most 256 characters, a finite number or a boolean',
        v[k],
      );
    }
  }
}

/** @throws InputError naming `field.<key>` */
export function checkTakeItem(v: unknown, field: string): TakeItem {
  if (!isPlainObject(v)) throw invalidField(field, 'a take item {token, rule, cost}', v);
  for (const k in v) {
    switch (k) {
      case 'token':
      case 'rule':
      case 'cost':
        break;
      case 'params':
        checkParams(v[k], `${field}.params`);
        break;
      case 'atMs':
        if (!isTime(v[k])) throw invalidField(`${field}.atMs`, `a time in ms from 0 to ${MAX_TIME_MS}`, v[k]);
        break;
      case 'refundable':
        if (v[k] !== true) throw invalidField(`${field}.refundable`, 'true (or absent)', v[k]);
        break;
      default:
        throw unknownField(`${field}.${k}`, v[k]);
    }
  }
  const { token, cost } = v;
  if (token === undefined) throw missingField(`${field}.token`, TOKEN);
  if (!isToken(token)) throw invalidField(`${field}.token`, TOKEN, token);
  if (cost === undefined) throw missingField(`${field}.cost`, COST);
  if (!isCost(cost)) throw invalidField(`${field}.cost`, COST, cost);
  if (v['rule'] === undefined) throw missingField(`${field}.rule`, 'the rule reference');
  const rule = checkRuleRef(v['rule'], `${field}.rule`);
  if (!tokenOfRule(token, rule.id)) throw invalidField(`${field}.token`, `a token of rule ${rule.id}`, token);
  return v as unknown as TakeItem;
}

function checkTraces(v: unknown, parts: number): void {
  if (!Array.isArray(v) || v.length > parts) {
    throw invalidField('traces', `a list of at most ${parts} trace contexts (one per part)`, v);
  }
  for (let i = 0; i < v.length; i++) {
    const c: unknown = v[i];
    if (!isPlainObject(c)) throw invalidField(`traces[${i}]`, 'an object of trace headers', c);
    let n = 0;
    for (const k in c) {
      const s = c[k];
      if (++n > MAX_TRACE_KEYS || k.length > 64 || typeof s !== 'string' || s.length > MAX_TRACE_VALUE) {
        throw invalidField(
          `traces[${i}].${k}`,
          `one of at most ${MAX_TRACE_KEYS} headers of at most ${MAX_TRACE_VALUE} characters`,
          s,
        );
      }
    }
  }
}

/**
 * A take message: `{parts: [{items: [...]}, ...], traces?, forwarded?}`.
 * @throws InputError naming the first bad field (e.g. `parts[2].items[0].cost`).
 */
export function parseTakeMessage(body: unknown): TakeMessage {
  if (!isPlainObject(body)) throw invalidField('take', 'an object {parts, traces?, forwarded?}', body);
  for (const k in body) {
    if (k !== 'parts' && k !== 'traces' && k !== 'forwarded') throw unknownField(k, body[k]);
  }
  const { parts, traces, forwarded } = body;
  if (parts === undefined) throw missingField('parts', 'a list of parts');
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > MAX_TAKE_PARTS) {
    throw invalidField(
      'parts',
      `a list of 1 to ${MAX_TAKE_PARTS} parts`,
      Array.isArray(parts) ? `${parts.length} parts` : parts,
    );
  }
  let total = 0;
  for (let p = 0; p < parts.length; p++) {
    const part: unknown = parts[p];
    if (!isPlainObject(part)) throw invalidField(`parts[${p}]`, 'an object {items}', part);
    for (const k in part) if (k !== 'items') throw unknownField(`parts[${p}].${k}`, part[k]);
    const items = part['items'];
    if (!Array.isArray(items) || items.length === 0) {
      throw invalidField(`parts[${p}].items`, 'a non-empty list of take items', items);
    }
    total += items.length;
    if (total > MAX_LINK_ITEMS) {
      throw invalidField('parts', `at most ${MAX_LINK_ITEMS} items in all`, `${total}+ items`);
    }
    for (let i = 0; i < items.length; i++) checkTakeItem(items[i], `parts[${p}].items[${i}]`);
  }
  if (traces !== undefined) checkTraces(traces, parts.length);
  if (forwarded !== undefined && typeof forwarded !== 'boolean') {
    throw invalidField('forwarded', 'a boolean', forwarded);
  }
  return body as unknown as TakeMessage;
}

/**
 * A refund message: `{items: [{token, cost, takeId}, ...]}`. Whether each id
 * was issued is the owner's ledger's question; this checks the form.
 * @throws InputError naming the first bad field.
 */
export function parseRefundMessage(body: unknown): RefundParams {
  if (!isPlainObject(body)) throw invalidField('refund', 'an object {items}', body);
  for (const k in body) if (k !== 'items') throw unknownField(k, body[k]);
  const items = body['items'];
  if (items === undefined) throw missingField('items', 'a list of refund items');
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_LINK_ITEMS) {
    throw invalidField(
      'items',
      `a list of 1 to ${MAX_LINK_ITEMS} refund items`,
      Array.isArray(items) ? `${items.length} items` : items,
    );
  }
  for (let i = 0; i < items.length; i++) checkRefundItem(items[i], `items[${i}]`);
  return body as unknown as RefundParams;
}

function checkRefundItem(v: unknown, field: string): RefundItem {
  if (!isPlainObject(v)) throw invalidField(field, 'a refund item {token, cost, takeId}', v);
  for (const k in v)
    if (k !== 'token' && k !== 'cost' && k !== 'takeId') throw unknownField(`${field}.${k}`, v[k]);
  const { token, cost, takeId } = v;
  if (token === undefined) throw missingField(`${field}.token`, TOKEN);
  if (!isToken(token)) throw invalidField(`${field}.token`, TOKEN, token);
  if (cost === undefined) throw missingField(`${field}.cost`, COST);
  if (!isCost(cost)) throw invalidField(`${field}.cost`, COST, cost);
  if (takeId === undefined) throw missingField(`${field}.takeId`, 'the id the owner gave the take');
  if (!isTakeId(takeId))
    throw invalidField(`${field}.takeId`, 'a take id (12 characters of base64url)', takeId);
  return v as unknown as RefundItem;
}
