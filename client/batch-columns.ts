/**
 * The replies of a `check.batch` as the client reads them: `{"results":
 * [...]}`, one check reply per request, or, when the request asked for
 * `"columns": true`, `{"columns": {"allow": [...], "rule": [...], ...}}`,
 * one array per field of a check reply, one entry per request. Both give
 * the caller the same reply objects (the same keys in the same order).
 *
 * Why columns: decoding the replies was the largest part of the client's
 * CPU per batched decision (JSON.parse of about 135 bytes and seven keys per
 * check, issue 15). In columns each key is written once per message: half
 * the bytes through NATS and both sockets, and the client builds the reply
 * objects from arrays of plain values, which costs less than parsing them
 * as objects.
 */
import { CHECK_REPLY_FIELDS, isPlainObject } from '../lib/index.ts';
import type { CheckReply } from '../lib/index.ts';

/**
 * The `n` replies of a `check.batch` reply body, in either form; undefined
 * when it is neither, or holds another number of replies. Each reply is
 * still to be checked (isCheckReply): a column entry is taken as it came.
 */
export function batchReplies(body: unknown, n: number): unknown[] | undefined {
  if (!isPlainObject(body)) return undefined;
  const results = body['results'];
  if (results !== undefined) return Array.isArray(results) && results.length === n ? results : undefined;
  return fromColumns(body['columns'], n);
}

function fromColumns(columns: unknown, n: number): CheckReply[] | undefined {
  if (!isPlainObject(columns)) return undefined;
  for (const f of CHECK_REPLY_FIELDS) {
    const column = columns[f];
    if (!Array.isArray(column) || column.length !== n) return undefined;
  }
  const { allow, rule, limit, remaining, retryAfterMs, tokens, shadowDenied } = columns as Record<
    (typeof CHECK_REPLY_FIELDS)[number],
    CheckReply[keyof CheckReply][]
  >;
  const out = new Array<CheckReply>(n);
  for (let i = 0; i < n; i++) {
    // A literal, not a loop over the fields: every reply gets the same hidden class at once.
    out[i] = {
      allow: allow[i],
      rule: rule[i],
      limit: limit[i],
      remaining: remaining[i],
      retryAfterMs: retryAfterMs[i],
      tokens: tokens[i],
      shadowDenied: shadowDenied[i],
    } as CheckReply;
  }
  return out;
}
