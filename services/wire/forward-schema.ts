/**
 * Validation of forwarded checks (services/check/forward-lanes.ts): a gateway
 * hands a check whose tokens all live on one other node to that node, with
 * the take items it derived, and the owner answers the client on its reply
 * subject. Checked as strictly as a take (every item as in a take message,
 * bounded counts), and the reply subject must be a client's, never one of
 * the cluster's own. Pure: every problem is an InputError naming the entry.
 */
import { invalidField } from '../../lib/index.ts';
import { MAX_LINK_ITEMS, MAX_TRACE_VALUE, checkTakeItem } from './wire-schema.ts';
import type { TakeItem } from './wire.ts';

/** Most checks in one forwarded batch. */
export const MAX_FORWARDS = 10_000;
/** Longest reply subject of a forwarded check. */
export const MAX_SUBJECT_LENGTH = 256;
/** Subjects a forwarded check's reply must never be published to: the cluster's own. */
const RESERVED_SUBJECT = /^(headroom\.|\$|MOL[.-]|_HEADROOM)/;
const SUBJECT = /^[^\s*>.]+(\.[^\s*>.]+)*$/;

/** Wire form of a batch of forwards: `[replyTo, traceparent, tracestate, items]` each. */
export type ForwardWire = Array<[string, string, string, TakeItem[]]>;

/** Whether `s` may receive a forwarded check's reply: a plain subject, not one of the cluster's own. */
export function isReplySubject(s: unknown): s is string {
  return (
    typeof s === 'string' && s.length <= MAX_SUBJECT_LENGTH && SUBJECT.test(s) && !RESERVED_SUBJECT.test(s)
  );
}

/**
 * A batch of forwarded checks: `[[replyTo, traceparent, tracestate, items], ...]`,
 * `items` the check's take items (1 or more, each as in a take message; at
 * most {@link MAX_LINK_ITEMS} in the whole batch). The reply subject must be
 * a client's, never an internal one.
 * @throws InputError naming the first bad entry (e.g. `forwards[3][3][0].cost`).
 */
export function parseForwardBatch(body: unknown): ForwardWire {
  if (!Array.isArray(body) || body.length === 0 || body.length > MAX_FORWARDS) {
    throw invalidField(
      'forwards',
      `a list of 1 to ${MAX_FORWARDS} forwarded checks`,
      Array.isArray(body) ? `${body.length} entries` : body,
    );
  }
  let total = 0;
  for (let i = 0; i < body.length; i++) {
    const f: unknown = body[i];
    if (!Array.isArray(f) || f.length !== 4) {
      throw invalidField(`forwards[${i}]`, 'a list [replyTo, traceparent, tracestate, items]', f);
    }
    if (!isReplySubject(f[0])) {
      throw invalidField(
        `forwards[${i}][0]`,
        `a client reply subject of at most ${MAX_SUBJECT_LENGTH} characters`,
        f[0],
      );
    }
    for (const k of [1, 2]) {
      const s: unknown = f[k];
      if (typeof s !== 'string' || s.length > MAX_TRACE_VALUE) {
        throw invalidField(`forwards[${i}][${k}]`, `a string of at most ${MAX_TRACE_VALUE} characters`, s);
      }
    }
    const items: unknown = f[3];
    if (!Array.isArray(items) || items.length === 0) {
      throw invalidField(`forwards[${i}][3]`, 'a non-empty list of take items', items);
    }
    total += items.length;
    if (total > MAX_LINK_ITEMS) {
      throw invalidField('forwards', `at most ${MAX_LINK_ITEMS} items in all`, `${total}+ items`);
    }
    for (let k = 0; k < items.length; k++) checkTakeItem(items[k], `forwards[${i}][3][${k}]`);
  }
  return body as ForwardWire;
}
