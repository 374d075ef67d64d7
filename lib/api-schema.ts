/**
 * Validation of the v1 API's request bodies (NATS and HTTP share it). Every
 * problem becomes an InputError naming the field and the value.
 */
import { ErrorCode, InputError, invalidField, show } from './errors.ts';
import { isPlainObject } from './guards.ts';
import { MAX_COST, ownParamsOrUndefined, paramsOrUndefined, parseCost, parseParams } from './params.ts';
import type { Params } from './params.ts';
import { parseRuleId } from './rules.ts';
import { CHECK_REPLY_FIELDS } from './decide.ts';
import type { CheckReply } from './decide.ts';

export interface CheckRequest {
  params: Params;
  /** @default 1 */
  cost: number;
}

/** Most requests in one `check.batch`. */
export const MAX_BATCH = 1000;

/**
 * Most asks in one `lease.batch`, and returns in one `lease.return.batch`
 * (services/check/lease-schema.ts): here, beside
 * {@link MAX_BATCH}, so that the client library (which imports lib/ only) can
 * split its batches at the same bound.
 */
export const MAX_LEASE_BATCH = 1000;

/** Rejects any key of `body` outside `allowed`, naming it (`prefix.key`). */
export function rejectUnknown(
  body: Record<string, unknown>,
  allowed: readonly string[],
  prefix: string,
): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) {
      const field = prefix ? `${prefix}.${k}` : k;
      throw new InputError(
        ErrorCode.UnknownField,
        `${field} is not a known field (known: ${allowed.join(', ')})`,
        {
          field,
          value: body[k],
        },
      );
    }
  }
}

function requireObject(body: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalidField(field || 'request', 'a JSON object', body);
  return body;
}

/**
 * Decodes a request payload: size first (before parsing anything), then JSON.
 * An empty payload reads as `{}`.
 */
export function parseJsonPayload(payload: Uint8Array | string, maxBytes: number): unknown {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > maxBytes) throw payloadTooLarge(size, maxBytes);
  // A view on the message's bytes, not a copy of them (Buffer.from(Uint8Array) copies).
  const text =
    typeof payload === 'string'
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InputError(ErrorCode.InvalidJson, `payload is not valid JSON: ${show(text)}`, {
      field: 'payload',
      value: text.slice(0, 80),
      cause: err,
    });
  }
}

export function payloadTooLarge(size: number, maxBytes: number): InputError {
  return new InputError(
    ErrorCode.PayloadTooLarge,
    `payload is ${size} bytes, more than the limit of ${maxBytes}`,
    {
      field: 'payload',
      value: size,
    },
  );
}

export function parseCheckRequest(body: unknown, field = ''): CheckRequest {
  return checkRequestOrUndefined(body) ?? parseCheckRequestStrictly(body, field);
}

/**
 * The request {@link parseCheckRequest} returns, when `body` is an ordinary
 * valid one; undefined for anything else, which the strict path then accepts
 * or rejects with its error (so errors are the same with or without this).
 * Runs per request of a batch: no key list, no field names, no closures.
 */
function checkRequestOrUndefined(body: unknown, owned = false): CheckRequest | undefined {
  if (!isPlainObject(body)) return undefined;
  for (const k in body) if ((k !== 'params' && k !== 'cost') || !Object.hasOwn(body, k)) return undefined;
  const params = owned ? ownParamsOrUndefined(body['params']) : paramsOrUndefined(body['params']);
  if (params === undefined) return undefined;
  const cost = body['cost'];
  if (cost === undefined) return { params, cost: 1 };
  if (typeof cost !== 'number' || !(cost > 0 && cost <= MAX_COST)) return undefined;
  return { params, cost };
}

function parseCheckRequestStrictly(body: unknown, field: string): CheckRequest {
  const obj = requireObject(body, field);
  rejectUnknown(obj, ['params', 'cost'], field);
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  if (obj['params'] === undefined) {
    throw new InputError(ErrorCode.MissingField, `${at('params')} is required`, { field: at('params') });
  }
  return { params: parseParams(obj['params'], at('params')), cost: parseCost(obj['cost'], at('cost')) };
}

/**
 * The replies of a check.batch in columns (its request's `"columns": true`):
 * one array per field of a check reply, one entry per request, so each key
 * is written once per message instead of once per check (about half the
 * bytes; the client reads arrays of plain values faster than objects).
 */
export function batchColumns(results: readonly CheckReply[]): Record<keyof CheckReply, unknown[]> {
  const c = {} as Record<keyof CheckReply, unknown[]>;
  for (const f of CHECK_REPLY_FIELDS) c[f] = results.map((r) => r[f]);
  return c;
}

/** A check.batch request: its checks, and whether the replies go in columns ({@link batchColumns}). */
export interface BatchRequest {
  requests: CheckRequest[];
  columns: boolean;
}

/**
 * `{"requests": [...], "columns"?: boolean}` of check.batch, each request as
 * {@link parseCheckRequest} checks it. `body` must be fresh from JSON.parse,
 * held by nothing else (the API's payload): the valid params objects in it
 * are frozen and returned as they are, not copied.
 */
export function parseBatchRequest(body: unknown): BatchRequest {
  const obj = requireObject(body, 'request');
  rejectUnknown(obj, ['requests', 'columns'], '');
  const columns = obj['columns'] === undefined ? false : obj['columns'];
  if (typeof columns !== 'boolean') throw invalidField('columns', 'a boolean', columns);
  const list = obj['requests'];
  if (list === undefined)
    throw new InputError(ErrorCode.MissingField, 'requests is required', { field: 'requests' });
  if (!Array.isArray(list)) throw invalidField('requests', 'an array of check requests', list);
  if (list.length > MAX_BATCH) {
    throw invalidField(
      'requests',
      `an array of at most ${MAX_BATCH} check requests`,
      `${list.length} requests`,
    );
  }
  // The body is fresh JSON (handlers.ts): its params objects are frozen and kept, not copied.
  return { requests: parseCheckRequests(list, 'requests', true), columns };
}

/**
 * Validates a list of check requests (no length limit: the caller's), each
 * as {@link parseCheckRequest} does; an error names the request by its
 * index, `<field>[i]`. The field name is built only for a bad request.
 * `owned`: the list is fresh JSON that nothing else holds, so valid params
 * objects are frozen in place instead of copied (ownParamsOrUndefined).
 */
export function parseCheckRequests(
  list: readonly unknown[],
  field = 'requests',
  owned = false,
): CheckRequest[] {
  const out = new Array<CheckRequest>(list.length);
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    out[i] = checkRequestOrUndefined(item, owned) ?? parseCheckRequestStrictly(item, `${field}[${i}]`);
  }
  return out;
}

/**
 * `{"id": "..."}` for rules.get and rules.delete: the id is checked as
 * rules.put checks it ({@link parseRuleId}), so no lookup ever carries an id
 * that no rule could have (an unbounded one once overflowed NATS's control line).
 */
export function parseIdRequest(body: unknown): string {
  const obj = requireObject(body, 'request');
  rejectUnknown(obj, ['id'], '');
  return parseRuleId(obj['id'], 'id');
}

/** `{}` for rules.list and status: any field is a mistake worth reporting. */
export function parseEmptyRequest(body: unknown): void {
  rejectUnknown(requireObject(body, 'request'), [], '');
}
