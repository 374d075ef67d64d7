/**
 * Validation of the replies a node gets on its owner-link inbox: `{ok}` or
 * `{error}`, with the `ok` of a take checked against what was asked (one
 * decision per item sent). Pure: every problem is an InputError naming the
 * field of the reply.
 */
import { ErrorCode, RuleMode, invalidField, isPlainObject } from '../../lib/index.ts';
import type { ErrorBody } from '../../lib/index.ts';
import { isTakeId } from '../../actors/index.ts';
import type { TakeDecision, TakeParams } from './wire.ts';

/** The reply to a take, a refund or a forward batch: the result, or the owner's error. */
export type LinkReply<T> = { ok: T } | { error: ErrorBody };

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** An error body from another node: a known code and a message. */
function checkErrorBody(v: unknown): ErrorBody {
  if (!isPlainObject(v)) throw invalidField('reply.error', 'an error body {code, message, retryable}', v);
  const { code, message, field, retryable } = v;
  if (typeof code !== 'string' || !ERROR_CODES.has(code))
    throw invalidField('reply.error.code', 'a HEADROOM_ERR_ code', code);
  if (typeof message !== 'string' || message.length > 4096) {
    throw invalidField('reply.error.message', 'a string of at most 4096 characters', message);
  }
  if (field !== undefined && (typeof field !== 'string' || field.length > 1024)) {
    throw invalidField('reply.error.field', 'a string of at most 1024 characters', field);
  }
  if (typeof retryable !== 'boolean') throw invalidField('reply.error.retryable', 'a boolean', retryable);
  return v as unknown as ErrorBody;
}

/**
 * A reply on the link: `{ok}` checked by `ok`, or `{error}` with a known code.
 * @throws InputError naming the bad field of the reply.
 */
export function parseLinkReply<T>(body: unknown, ok: (v: unknown) => T): LinkReply<T> {
  if (isPlainObject(body)) {
    if ('error' in body) return { error: checkErrorBody(body['error']) };
    if ('ok' in body) return { ok: ok(body['ok']) };
  }
  throw invalidField('reply', 'an object {ok} or {error}', body);
}

const isNum = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

function checkDecision(v: unknown, field: string): TakeDecision {
  if (
    !isPlainObject(v) ||
    typeof v['token'] !== 'string' ||
    typeof v['ruleId'] !== 'string' ||
    (v['mode'] !== RuleMode.Enforce && v['mode'] !== RuleMode.Shadow) ||
    typeof v['allow'] !== 'boolean' ||
    !isNum(v['limit']) ||
    !isNum(v['remaining']) ||
    !isNum(v['retryAfterMs']) ||
    (v['takeId'] !== undefined && !isTakeId(v['takeId']))
  ) {
    throw invalidField(
      field,
      'a decision {token, ruleId, mode, allow, limit, remaining, retryAfterMs, takeId?}',
      v,
    );
  }
  return v as unknown as TakeDecision;
}

/**
 * The `ok` of a take reply: one list of decisions per part sent, one
 * decision per item, so a reply can never answer for items it was not asked.
 */
export function takeReplyChecker(parts: TakeParams['parts']): (v: unknown) => TakeDecision[][] {
  return (v) => {
    if (!Array.isArray(v) || v.length !== parts.length) {
      throw invalidField('reply.ok', `a list of ${parts.length} decision lists`, v);
    }
    for (let p = 0; p < v.length; p++) {
      const list: unknown = v[p];
      const n = parts[p]!.items.length;
      if (!Array.isArray(list) || list.length !== n) {
        throw invalidField(`reply.ok[${p}]`, `a list of ${n} decisions`, list);
      }
      for (let i = 0; i < n; i++) checkDecision(list[i], `reply.ok[${p}][${i}]`);
    }
    return v as TakeDecision[][];
  };
}

/** The `ok` of a refund reply: `true`. */
export function refundReplyOk(v: unknown): true {
  if (v !== true) throw invalidField('reply.ok', 'true', v);
  return true;
}
