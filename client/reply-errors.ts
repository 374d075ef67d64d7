/**
 * The client's reading of a node's reply: the error it carries, whether it
 * is a check reply, and the errors the client gives when no node answered,
 * the check could not be sent, the reply was not a check reply, or the
 * client is closed.
 */
import { ErrorCode, StateError, fromBody, isPlainObject } from '../lib/index.ts';
import type { HeadroomError } from '../lib/index.ts';

/** The HeadroomError a reply carries (`{"error": {code, message, retryable, field}}`); undefined for any other body. */
export function errorOf(body: unknown): HeadroomError | undefined {
  if (!isPlainObject(body) || !isPlainObject(body['error'])) return undefined;
  const e = body['error'];
  if (typeof e['code'] !== 'string' || typeof e['message'] !== 'string') return undefined;
  return fromBody({
    code: e['code'] as ErrorCode,
    message: e['message'],
    retryable: e['retryable'] === true,
    ...(typeof e['field'] === 'string' ? { field: e['field'] } : {}),
  });
}

/** Whether `r` has the shape of a check reply (its `allow`). */
export function isCheckReply(r: unknown): boolean {
  return isPlainObject(r) && typeof r['allow'] === 'boolean';
}

/** A check asked of a closed client. */
export function closedError(): StateError {
  return new StateError(ErrorCode.Unavailable, 'the client is closed', { field: 'client' });
}

/** No node answered within the client's `timeoutMs` (retryable). */
export function timedOut(ms: number): StateError {
  return new StateError(ErrorCode.Timeout, `no node answered the check within timeoutMs (${ms} ms)`, {
    field: 'timeoutMs',
  });
}

/** The check could not be sent (the connection is closed or draining). */
export function natsError(err: { code?: string; message?: string }): StateError {
  return new StateError(ErrorCode.Unavailable, `the check could not be sent: ${err.message ?? String(err)}`, {
    field: 'servers',
    cause: err,
  });
}

/** A node's reply that is not a check reply (or not as many as were asked), shown in part. */
export function badReply(subject: string, body: unknown): StateError {
  return new StateError(
    ErrorCode.Internal,
    `the reply on ${subject} is not a check reply, got ${JSON.stringify(body)?.slice(0, 120)}`,
    { field: 'reply' },
  );
}
