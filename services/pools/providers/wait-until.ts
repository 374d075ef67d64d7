/** The providers' one way to wait for a state: polled on the Clock, with a deadline. */
import { ErrorCode, StateError } from '../../../lib/index.ts';
import type { Clock } from '../../../lib/index.ts';

/**
 * Resolves once `settled()` holds, checking it every `everyMs` on `clock`;
 * rejects with a StateError (code Timeout) whose message is `why()` once
 * more than `timeoutMs` has passed.
 */
export async function waitUntil(
  clock: Clock,
  timeoutMs: number,
  everyMs: number,
  settled: () => boolean,
  why: () => string,
): Promise<void> {
  const start = clock.now();
  for (;;) {
    if (settled()) return;
    if (clock.now() - start > timeoutMs) throw new StateError(ErrorCode.Timeout, why());
    await new Promise<void>((r) => clock.setTimeout(r, everyMs));
  }
}
