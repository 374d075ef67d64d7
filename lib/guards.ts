/**
 * Type guards shared by every folder: one definition each, so that "is this
 * an object?" and "is this a promise?" have one answer throughout.
 */

/**
 * True for `{...}` literals (JSON objects among them) and
 * `Object.create(null)`; false for arrays, class instances and null.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * True when `value` has a `then` method (a promise or any thenable), so that
 * a caller awaits only what may be pending and keeps synchronous results
 * synchronous.
 */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
