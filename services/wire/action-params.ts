/**
 * Validation of the params of the cluster's Moleculer actions (`throttle.*`,
 * `pools.*`): anything on the cluster's NATS can call them, so each is
 * checked as strictly as the public API, and the actions that change the
 * cluster check who is calling (see {@link requireCaller}). Pure: every
 * problem is an InputError naming the field and the value.
 */
import { ErrorCode, InputError, invalidField, isPlainObject, missingField } from '../../lib/index.ts';
import { MAX_TOKEN_LENGTH, checkRuleRef } from './wire-schema.ts';
import type { HandoffItem, HandoffParams } from './wire.ts';

/** Longest node id accepted in params. */
export const MAX_NODE_ID_LENGTH = 256;
/** Most token actors in one hand-off call. */
export const MAX_HANDOFF_ITEMS = 1_000_000;
/** Most tokens `throttle.actors` lists. */
export const MAX_ACTORS_LIMIT = 10_000;
/** A pool name, as services/pools/pools-config.ts accepts it. */
const POOL_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;

/**
 * `params` as an object with only `allowed` fields, else an InputError naming
 * the field (`what` says what was expected); `prefix` is what the errors call
 * a field. Every node-only action and event checks its params with it.
 */
export function knownFields(
  params: unknown,
  allowed: readonly string[],
  what: string,
  prefix = 'params.',
): Record<string, unknown> {
  if (!isPlainObject(params)) throw invalidField('params', what, params);
  for (const k in params) {
    if (!allowed.includes(k)) {
      throw new InputError(
        ErrorCode.UnknownField,
        `${prefix}${k} is not a known field (known: ${allowed.join(', ') || 'none'})`,
        { field: `${prefix}${k}`, value: params[k] },
      );
    }
  }
  return params;
}

function required(v: unknown, field: string, expected: string): void {
  if (v === undefined) throw missingField(field, expected);
}

function nodeId(v: unknown, field: string): string {
  const expected = `a node id of 1 to ${MAX_NODE_ID_LENGTH} characters`;
  required(v, field, expected);
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NODE_ID_LENGTH) {
    throw invalidField(field, expected, v);
  }
  return v;
}

function token(v: unknown, field: string): string {
  const expected = `a token key of 1 to ${MAX_TOKEN_LENGTH} characters`;
  required(v, field, expected);
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TOKEN_LENGTH) {
    throw invalidField(field, expected, v);
  }
  return v;
}

/** `throttle.prepareLeave`: `{nodeID}`, the node that is leaving. */
export function parsePrepareLeaveParams(params: unknown): { nodeID: string } {
  const p = knownFields(params, ['nodeID'], 'an object {nodeID}');
  return { nodeID: nodeId(p['nodeID'], 'params.nodeID') };
}

/** `throttle.leaving`: `{}`. */
export function parseEmptyParams(params: unknown): Record<string, never> {
  knownFields(params ?? {}, [], 'an empty object');
  return {};
}

/** `throttle.describe`: `{token}`. */
export function parseDescribeParams(params: unknown): { token: string } {
  const p = knownFields(params, ['token'], 'an object {token}');
  return { token: token(p['token'], 'params.token') };
}

/** `throttle.actors`: `{limit?}`, how many token keys to list. @default 20 */
export function parseActorsParams(params: unknown): { limit: number } {
  const p = knownFields(params ?? {}, ['limit'], 'an object {limit?}');
  const limit = p['limit'] ?? 20;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_ACTORS_LIMIT) {
    throw invalidField('params.limit', `a whole number from 0 to ${MAX_ACTORS_LIMIT}`, limit);
  }
  return { limit };
}

/** `pools.holds`, `pools.local`: `{pool}`. */
export function parsePoolParams(params: unknown): { pool: string } {
  const p = knownFields(params, ['pool'], 'an object {pool}');
  const pool = p['pool'];
  const expected = 'a pool name (letters, digits, "-" or "_", at most 63)';
  required(pool, 'params.pool', expected);
  if (typeof pool !== 'string' || !POOL_NAME.test(pool)) throw invalidField('params.pool', expected, pool);
  return { pool };
}

/**
 * `throttle.receive`: `{from, items: [{rule, snapshot}], done}`. The
 * snapshots' insides are the token actor's to check (it refuses a malformed
 * one); here their form, their token, and that the token is the rule's.
 */
export function parseHandoffParams(params: unknown): HandoffParams {
  const p = knownFields(params, ['from', 'items', 'done'], 'an object {from, items, done}');
  const from = nodeId(p['from'], 'params.from');
  const items = p['items'];
  required(items, 'params.items', 'a list of hand-off items');
  if (!Array.isArray(items) || items.length > MAX_HANDOFF_ITEMS) {
    throw invalidField(
      'params.items',
      `a list of at most ${MAX_HANDOFF_ITEMS} hand-off items`,
      Array.isArray(items) ? `${items.length} items` : items,
    );
  }
  items.forEach((item: unknown, i) => checkHandoffItem(item, `params.items[${i}]`));
  const done = p['done'];
  if (typeof done !== 'boolean') throw invalidField('params.done', 'a boolean', done);
  return { from, items: items as HandoffItem[], done };
}

function checkHandoffItem(v: unknown, field: string): void {
  const o = knownFields(v, ['rule', 'snapshot'], 'a hand-off item {rule, snapshot}');
  required(o['rule'], `${field}.rule`, 'the rule reference');
  const rule = checkRuleRef(o['rule'], `${field}.rule`);
  const s = o['snapshot'];
  if (!isPlainObject(s)) throw invalidField(`${field}.snapshot`, 'a token snapshot', s);
  const t = token(s['token'], `${field}.snapshot.token`);
  const id = rule.id;
  if (!(t.startsWith(id) && (t.length === id.length || t[id.length] === '|')) || s['ruleId'] !== id) {
    throw invalidField(`${field}.snapshot`, `the snapshot of a token of rule ${id}`, s['ruleId']);
  }
}

/**
 * Refuses a call that speaks for a node other than its caller: a node may
 * announce only its own leave and hand over only its own actors. `caller` is
 * the sender of the Moleculer packet (`ctx.nodeID`); `isLive` asks the
 * membership as this node sees it.
 * @throws InputError (HEADROOM_ERR_NOT_PERMITTED) naming `field`.
 */
export function requireCaller(
  caller: string | null | undefined,
  claimed: string,
  isLive: (nodeID: string) => boolean,
  field: string,
): void {
  if (caller !== claimed) {
    throw new InputError(
      ErrorCode.NotPermitted,
      `${field} must be the calling node ${JSON.stringify(caller ?? null)}, got ${JSON.stringify(claimed)}: a node speaks only for itself`,
      { field, value: claimed },
    );
  }
  if (!isLive(claimed)) {
    throw new InputError(
      ErrorCode.NotPermitted,
      `${field} must be a live member of the cluster, got ${JSON.stringify(claimed)}`,
      { field, value: claimed },
    );
  }
}

/** A heartbeat on the link (services/cluster/beats.ts): `{id, seq}`, the node and its beat count. */
export function parseBeat(message: unknown): { id: string; seq: number } {
  const m = knownFields(message, ['id', 'seq'], 'a beat {id, seq}');
  const id = nodeId(m['id'], 'params.id');
  const seq = m['seq'];
  required(seq, 'params.seq', 'a whole number >= 0');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw invalidField('params.seq', 'a whole number >= 0', seq);
  }
  return { id, seq };
}
