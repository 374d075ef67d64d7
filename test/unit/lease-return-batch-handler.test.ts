// `headroom.v1.lease.return.batch` at its handler (services/api/handlers.ts), on a lease desk that
// puts some returns back, refuses one as the granting node would (a forged or unknown slice,
// HEADROOM_ERR_REFUND_REJECTED) and fails one as a gone node's relay does (a retryable
// HEADROOM_ERR_UNAVAILABLE): every return is passed to the desk as `lease.return` passes it (its
// `node` kept: the desk relays another node's slice there), all before any is answered; the
// results come back in the returns' order, each `{returned}` or, in place, the very reply
// `headroom.v1.lease.return` sends for that return; a malformed batch is one error reply, with no
// return passed on.
import { ROOT_CONTEXT } from '@opentelemetry/api';
import test from 'ava';
import { ErrorCode, InputError, StateError } from '../../lib/index.ts';
import { Api } from '../../services/api/index.ts';
import type { ApiDeps } from '../../services/api/index.ts';
import type { LeaseReturn } from '../../services/check/index.ts';

/** A desk that answers each return by its node and lease once every return of the batch has arrived. */
function fakeApi(expected: number): { api: Api; seen: LeaseReturn[] } {
  const seen: LeaseReturn[] = [];
  let arrived: () => void = () => {};
  const all = new Promise<void>((r) => (arrived = r));
  const giveBack = async (ret: LeaseReturn): Promise<{ returned: number }> => {
    seen.push(ret);
    if (seen.length >= expected) arrived();
    // Held until every return of the batch reached the desk: they run at once, not one after another.
    await all;
    if (ret.node === 'gone') {
      throw new StateError(ErrorCode.Unavailable, 'node gone did not grant the return: timed out', {
        field: 'node',
        retryable: true,
      });
    }
    if (ret.lease === 'XXXXXXXXXXXX') {
      throw new InputError(ErrorCode.RefundRejected, 'lease names no slice of this client', {
        field: 'lease',
      });
    }
    return { returned: ret.unused };
  };
  const deps = { gateway: { leases: { giveBack } }, maxPayloadBytes: 1 << 20 } as unknown as ApiDeps;
  return { api: new Api(deps), seen };
}

const ret = (node: string, lease: string, unused: number): Record<string, unknown> => ({
  node,
  lease,
  token: `hot|user=${lease.slice(0, 2)}`,
  unused,
});

test('lease return batch handler - each return as lease.return runs it, at once; results in order, failures in place', async (t) => {
  // Run one after another, the first would wait for the others forever.
  t.timeout(10_000);
  const returns = [
    ret('n1', 'AAAAAAAAAAAA', 3),
    ret('gone', 'BBBBBBBBBBBB', 4),
    ret('n1', 'XXXXXXXXXXXX', 5),
    { ...ret('n2', 'CCCCCCCCCCCC', 7), report: { allowed: 2, denied: 1, cost: 3, spanMs: 900 } },
  ];
  const { api, seen } = fakeApi(returns.length);
  const reply = (await api.handle('lease.return.batch', JSON.stringify({ returns }), ROOT_CONTEXT)) as {
    results: Array<Record<string, unknown>>;
  };
  t.deepEqual(
    seen.map((r) => [r.node, r.lease]),
    returns.map((r) => [r['node'], r['lease']]),
    'every return, with the node it goes to',
  );
  t.deepEqual(seen[3]?.report, { allowed: 2, denied: 1, cost: 3, spanMs: 900 });
  t.deepEqual(reply.results[0], { returned: 3 });
  t.deepEqual(reply.results[3], { returned: 7 });
  t.like(reply.results[1], { error: { code: ErrorCode.Unavailable, field: 'node', retryable: true } });
  t.like(reply.results[2], { error: { code: ErrorCode.RefundRejected, field: 'lease', retryable: false } });
  t.is(reply.results.length, returns.length);
  // Each result is what `headroom.v1.lease.return` replies for that return alone.
  for (const [i, r] of returns.entries()) {
    const single = fakeApi(1);
    t.deepEqual(reply.results[i], await single.api.handle('lease.return', JSON.stringify(r), ROOT_CONTEXT));
  }
});

test('lease return batch handler - a malformed batch is one error reply and no return reaches the desk', async (t) => {
  const { api, seen } = fakeApi(1);
  const reply = await api.handle(
    'lease.return.batch',
    JSON.stringify({ returns: [ret('n1', 'AAAAAAAAAAAA', 1), ret('n1', 'BBBBBBBBBBBB', -1)] }),
    ROOT_CONTEXT,
  );
  t.like(reply, {
    error: { code: ErrorCode.InvalidField, field: 'returns[1].unused', retryable: false },
  });
  t.regex((reply as { error: { message: string } }).error.message, /^returns\[1\]\.unused must be .*got -1$/);
  t.deepEqual(seen, []);
  t.like(await api.handle('lease.return.batch', '{"returns":[]}', ROOT_CONTEXT), {
    error: { code: ErrorCode.InvalidField, field: 'returns' },
  });
  t.like(await api.handle('lease.return.batch', '{}', ROOT_CONTEXT), {
    error: { code: ErrorCode.MissingField, field: 'returns' },
  });
});
