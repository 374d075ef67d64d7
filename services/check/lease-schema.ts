/**
 * The wire forms of client leases (leases.ts, docs/protocol.md "Leases"):
 * the public requests `headroom.v1.lease`, `headroom.v1.lease.batch`,
 * `headroom.v1.lease.return` and `headroom.v1.lease.return.batch` (also on
 * a node's own subjects), and the
 * `throttle.lease` / `throttle.leaseReturn` params a node relays them to
 * the owner with. Pure: every problem is an InputError naming the field
 * and the value, as the public API's validation (lib/api-schema.ts) does.
 */
import {
  MAX_LEASE_BATCH,
  invalidField,
  isPlainObject,
  missingField,
  parseCost,
  parseParams,
  rejectUnknown,
} from '../../lib/index.ts';
import type { Params, TokenKey } from '../../lib/index.ts';
import { MAX_NODE_ID_LENGTH, MAX_TOKEN_LENGTH, checkRuleRef } from '../wire/index.ts';
import type { RuleRef } from '../wire/index.ts';

/** A client's name for itself: it shares a token's slices max-min fair with the other names. */
const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A lease id: a take id's form (12 base64url characters, 72 random bits). */
const LEASE_ID = /^[A-Za-z0-9_-]{12}$/;
/** Most units one ask may want or give back (a check's largest cost). */
const MAX_UNITS = 1e9;
/** Most checks one report may count: the owner records each, inside the token's mailbox. */
export const MAX_REPORTED = 1_000_000;
/** Longest span one report may cover (ms). */
const MAX_SPAN_MS = 600_000;

/** What a client says of the slice it held when it asks again: its id and the units it did not use. */
export interface LeasePrevious {
  lease: string;
  unused: number;
}

/**
 * The checks a client decided from its slices of a token since its last
 * report, sent with its next ask or return: the owner records them in the
 * token's window and the behavioural data as requests (a slice's grant is
 * budget, not demand), so forecasts and pools see leased demand.
 */
export interface LeaseReport {
  allowed: number;
  denied: number;
  /** The cost those checks asked for, in all. */
  cost: number;
  /** Ms from the first of them to the report's sending (the owner spreads them over it). */
  spanMs: number;
}

/** `headroom.v1.lease`: a slice of the token of the one rule `params` match. */
export interface LeaseRequest {
  client: string;
  params: Params;
  /** Units the client expects to use within the lease's time. */
  want: number;
  previous?: LeasePrevious;
  report?: LeaseReport;
}

/** What the owner grants from: the request with its token and rule derived (the `throttle.lease` params). */
export interface LeaseAsk {
  client: string;
  token: TokenKey;
  rule: RuleRef;
  want: number;
  previous?: LeasePrevious;
  /** The request's params: the owner files the reported checks under them (collection). */
  params?: Params;
  report?: LeaseReport;
}

/** `headroom.v1.lease.return` (one of `lease.return.batch`; `throttle.leaseReturn` without `node`): a slice given back. */
export interface LeaseReturn {
  /** The node that granted it (the grant's `node`): the return is relayed there. */
  node: string;
  lease: string;
  token: TokenKey;
  unused: number;
  report?: LeaseReport;
}

/** The reply of `headroom.v1.lease`. Fields are API: add, never rename. */
export interface LeaseGrant {
  /**
   * The slice's id, for the renewal and the return; a slice of 0 units too
   * (its want still counts in the shares, and the checks the client denies
   * under it are reported with its return). Clients also accept null (no
   * slice to renew or return).
   */
  lease: string;
  /** The node that granted it. */
  node: string;
  token: TokenKey;
  rule: string;
  mode: RuleRef['mode'];
  /** The rule's rate per its period. */
  limit: number;
  /** Units the client may use now: what it kept of its previous slice and what was added. */
  units: number;
  /** How long the slice may be used, from when the client sent the ask (ms). */
  ttlMs: number;
  /** With no units: how long until the token's bucket allows one again; 0 when others hold the budget. */
  retryAfterMs: number;
  /** Clients sharing this token's budget now (those that asked within `ttlMs`), this one included. */
  holders: number;
  /**
   * Whole units the token's bucket allows after this grant. 0 with fewer
   * units than wanted: the bucket ran dry, so a check past the slice would
   * be denied here too; more: other holders' shares limited the slice.
   */
  available: number;
  /** The token's forecast demand (requests per second, p90 of the nearest horizon), when one was made. */
  demandPerSec?: number;
}

function object(body: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalidField(field || 'request', 'a JSON object', body);
  rejectUnknown(body, allowed, field);
  return body;
}

function required(obj: Record<string, unknown>, key: string, field: string, what: string): unknown {
  const v = obj[key];
  if (v === undefined) throw missingField(field, what);
  return v;
}

function at(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

function clientId(v: unknown, field: string): string {
  if (typeof v !== 'string' || !CLIENT_ID.test(v))
    throw invalidField(field, '1 to 64 characters of A-Z a-z 0-9 _ . : -', v);
  return v;
}

function leaseId(v: unknown, field: string): string {
  if (typeof v !== 'string' || !LEASE_ID.test(v))
    throw invalidField(field, 'a lease id (12 characters of base64url)', v);
  return v;
}

function unused(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_UNITS)
    throw invalidField(field, `a number from 0 to ${MAX_UNITS}`, v);
  return v;
}

function text(v: unknown, field: string, max: number, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw invalidField(field, `${what} of 1 to ${max} characters`, v);
  return v;
}

function count(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
    throw invalidField(field, `an integer from 0 to ${max}`, v);
  return v;
}

function report(v: unknown, field: string): LeaseReport | undefined {
  if (v === undefined) return undefined;
  const r = object(v, field, ['allowed', 'denied', 'cost', 'spanMs']);
  const get = (k: string, what: string): unknown => required(r, k, `${field}.${k}`, what);
  const allowed = count(get('allowed', 'checks allowed'), `${field}.allowed`, MAX_REPORTED);
  const denied = count(get('denied', 'checks denied'), `${field}.denied`, MAX_REPORTED - allowed);
  const cost = get('cost', 'their cost in all');
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0 || cost > MAX_UNITS * MAX_REPORTED)
    throw invalidField(`${field}.cost`, `a number from 0 to ${MAX_UNITS * MAX_REPORTED}`, cost);
  return {
    allowed,
    denied,
    cost,
    spanMs: count(get('spanMs', 'the span they cover'), `${field}.spanMs`, MAX_SPAN_MS),
  };
}

function previous(v: unknown, field: string): LeasePrevious | undefined {
  if (v === undefined) return undefined;
  const p = object(v, field, ['lease', 'unused']);
  return {
    lease: leaseId(required(p, 'lease', `${field}.lease`, 'the id of the slice held'), `${field}.lease`),
    unused: unused(required(p, 'unused', `${field}.unused`, 'units not used'), `${field}.unused`),
  };
}

const LEASE_REQUEST_KEYS = ['client', 'params', 'want', 'previous', 'report'] as const;

/**
 * `{client, params, want, previous?, report?}`; `prefix` names where it lies
 * in a larger body (`asks[3]`: its errors name `asks[3].want`).
 */
export function parseLeaseRequest(body: unknown, prefix = ''): LeaseRequest {
  const o = object(body, prefix, LEASE_REQUEST_KEYS);
  const clientField = at(prefix, 'client');
  const paramsField = at(prefix, 'params');
  const wantField = at(prefix, 'want');
  const req: LeaseRequest = {
    client: clientId(required(o, 'client', clientField, 'the client id'), clientField),
    params: parseParams(required(o, 'params', paramsField, 'the check parameters'), paramsField),
    want: parseCost(required(o, 'want', wantField, 'units wanted'), wantField),
  };
  const prev = previous(o['previous'], at(prefix, 'previous'));
  if (prev !== undefined) req.previous = prev;
  const rep = report(o['report'], at(prefix, 'report'));
  if (rep !== undefined) req.report = rep;
  return req;
}

/**
 * `headroom.v1.lease.batch`, `{asks: [<lease request>, ...]}`: 1 to
 * {@link MAX_LEASE_BATCH} asks, each validated as {@link parseLeaseRequest}
 * validates one. A bad ask rejects the whole batch (as a bad request rejects
 * a `check.batch`), its error naming it by index: `asks[3].want`.
 */
export function parseLeaseBatch(body: unknown): LeaseRequest[] {
  return batchOf(body, 'asks', 'the lease requests', 'lease requests', parseLeaseRequest);
}

/** `{node, lease, token, unused, report?}` (`prefix` 'params' and no `node` for the relayed action). */
export function parseLeaseReturn(body: unknown, prefix = ''): LeaseReturn {
  return leaseReturnAt(body, prefix, prefix === '');
}

/**
 * `headroom.v1.lease.return.batch`, `{returns: [<lease return>, ...]}`: 1 to
 * {@link MAX_LEASE_BATCH} returns, each validated as {@link parseLeaseReturn}
 * validates one (its `node` included). A bad return rejects the whole batch,
 * its error naming it by index: `returns[3].unused`.
 */
export function parseLeaseReturnBatch(body: unknown): LeaseReturn[] {
  return batchOf(body, 'returns', 'the slices given back', 'lease returns', (item, field) =>
    leaseReturnAt(item, field, true),
  );
}

/**
 * `{<key>: [...]}` of 1 to {@link MAX_LEASE_BATCH} items, each parsed by
 * `parseOne` at `<key>[i]`: the list of a lease batch or a return batch.
 */
function batchOf<T>(
  body: unknown,
  key: string,
  what: string,
  items: string,
  parseOne: (item: unknown, field: string) => T,
): T[] {
  const o = object(body, '', [key]);
  const list = required(o, key, key, what);
  const expected = `an array of 1 to ${MAX_LEASE_BATCH} ${items}`;
  if (!Array.isArray(list) || list.length === 0) throw invalidField(key, expected, list);
  // The count: it says more than the first 80 characters of the items would.
  if (list.length > MAX_LEASE_BATCH) throw invalidField(key, expected, `${list.length} ${key}`);
  const out = new Array<T>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = parseOne(list[i], `${key}[${i}]`);
  return out;
}

/** A return at `prefix` of a body; `withNode` false for the relayed action's params (the node is the receiver). */
function leaseReturnAt(body: unknown, prefix: string, withNode: boolean): LeaseReturn {
  const o = object(
    body,
    prefix,
    withNode ? ['node', 'lease', 'token', 'unused', 'report'] : ['lease', 'token', 'unused', 'report'],
  );
  const nodeField = at(prefix, 'node');
  const node = withNode
    ? text(
        required(o, 'node', nodeField, 'the node that granted it'),
        nodeField,
        MAX_NODE_ID_LENGTH,
        'a node id',
      )
    : '';
  const tokenField = at(prefix, 'token');
  const ret: LeaseReturn = {
    node,
    lease: leaseId(required(o, 'lease', at(prefix, 'lease'), 'the slice id'), at(prefix, 'lease')),
    token: text(
      required(o, 'token', tokenField, 'the slice token'),
      tokenField,
      MAX_TOKEN_LENGTH,
      'a token key',
    ) as TokenKey,
    unused: unused(required(o, 'unused', at(prefix, 'unused'), 'units not used'), at(prefix, 'unused')),
  };
  const rep = report(o['report'], at(prefix, 'report'));
  if (rep !== undefined) ret.report = rep;
  return ret;
}

/** `throttle.lease` params: a {@link LeaseAsk}. */
export function parseLeaseAsk(params: unknown): LeaseAsk {
  const f = 'params';
  const o = object(params, f, ['client', 'token', 'rule', 'want', 'previous', 'params', 'report']);
  const ask: LeaseAsk = {
    client: clientId(required(o, 'client', `${f}.client`, 'the client id'), `${f}.client`),
    token: text(
      required(o, 'token', `${f}.token`, 'the token'),
      `${f}.token`,
      MAX_TOKEN_LENGTH,
      'a token key',
    ) as TokenKey,
    rule: checkRuleRef(required(o, 'rule', `${f}.rule`, 'the rule reference'), `${f}.rule`),
    want: parseCost(required(o, 'want', `${f}.want`, 'units wanted'), `${f}.want`),
  };
  const prev = previous(o['previous'], `${f}.previous`);
  if (prev !== undefined) ask.previous = prev;
  if (o['params'] !== undefined) ask.params = parseParams(o['params'], `${f}.params`);
  const rep = report(o['report'], `${f}.report`);
  if (rep !== undefined) ask.report = rep;
  return ask;
}
