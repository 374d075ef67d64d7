// Client leases (client/leases.ts) against a scripted owner, for the unit tests of the client's
// side: every request waits in `sent` until the test answers or fails it, on a clock the test moves.
import { ClientLeases } from '../../client/leases.ts';
import type { LeaseDeps } from '../../client/leases.ts';

/** A request the leases sent: its subject and body, and how the test answers it. */
export interface Sent {
  subject: string;
  body: Record<string, unknown>;
  answer: (reply: unknown) => void;
  fail: (err: unknown) => void;
}

/**
 * A client's leases on a scripted wire: the token of a request is `hot|user=<user>`, owned by
 * `ownerOf` (n1 for all unless given); `sent` holds the requests in order.
 */
export function scripted(ownerOf: (token: string) => string = () => 'n1'): {
  leases: ClientLeases;
  sent: Sent[];
  clock: { ms: number };
} {
  const sent: Sent[] = [];
  const clock = { ms: 1000 };
  const deps: LeaseDeps = {
    tokenOf: (req) => (typeof req.params['user'] === 'string' ? `hot|user=${req.params['user']}` : undefined),
    ownerOf,
    request: (subject, body) =>
      new Promise((resolve, reject) =>
        sent.push({ subject, body: body as Record<string, unknown>, answer: resolve, fail: reject }),
      ),
    subject: (node, op) => `headroom.v1.node.${node}.${op}`,
    now: () => clock.ms,
  };
  return {
    leases: new ClientLeases(deps, { all: false, minRatePerSec: 20, backoffMs: 1000, timeoutMs: 500 }),
    sent,
    clock,
  };
}

/** A `headroom.v1.lease` grant of `units` for `hot|user=u1` on n1 (one holder), with `extra` fields over it. */
export function grantBody(units: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    lease: 'AAAAAAAAAAAA',
    node: 'n1',
    token: 'hot|user=u1',
    rule: 'hot',
    mode: 'enforce',
    limit: 100,
    units,
    ttlMs: 60_000,
    retryAfterMs: 0,
    holders: 1,
    ...extra,
  };
}

/** Resolves after the current turn's asks and returns have gone out. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
