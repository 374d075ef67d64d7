// `headroom.v1.lease.batch` at its handler (services/api/handlers.ts), on a lease desk that grants
// some asks, refuses one as its owner would (a retryable HEADROOM_ERR_UNAVAILABLE) and one for
// its params (matching no rule): every ask is passed to the desk as `lease` passes it, all before
// any is answered; the results come back in the asks' order, each a grant or, in place, the very
// reply `headroom.v1.lease` sends for that ask; a malformed batch is one error reply, with no ask
// passed on.
import { ROOT_CONTEXT } from '@opentelemetry/api';
import test from 'ava';
import { ErrorCode, InputError, StateError } from '../../lib/index.ts';
import { Api } from '../../services/api/index.ts';
import type { ApiDeps } from '../../services/api/index.ts';
import type { LeaseGrant, LeaseRequest } from '../../services/check/index.ts';

/** A desk that answers each ask by its `params.user` once every ask of the batch has arrived. */
function fakeApi(expected: number): { api: Api; seen: LeaseRequest[] } {
  const seen: LeaseRequest[] = [];
  let arrived: () => void = () => {};
  const all = new Promise<void>((r) => (arrived = r));
  const lease = async (req: LeaseRequest): Promise<LeaseGrant> => {
    seen.push(req);
    if (seen.length >= expected) arrived();
    // Held until every ask of the batch reached the desk: they run at once, not one after another.
    await all;
    const user = String(req.params['user'] ?? '');
    if (user === 'busy') {
      throw new StateError(
        ErrorCode.Unavailable,
        'no lease granted: this node is leaving; check without one',
        {
          field: 'params',
        },
      );
    }
    if (user === '') {
      throw new InputError(ErrorCode.InvalidField, 'params must match exactly one rule to be leased', {
        field: 'params',
        value: req.params,
      });
    }
    return {
      lease: `lease-${user}`.padEnd(12, '_').slice(0, 12),
      node: 'n1',
      token: `hot|user=${user}` as LeaseGrant['token'],
      rule: 'hot',
      mode: 'enforce',
      limit: 100,
      units: req.want,
      ttlMs: 2000,
      retryAfterMs: 0,
      holders: 1,
      available: 10,
    };
  };
  const deps = { gateway: { leases: { lease } }, maxPayloadBytes: 65_536 } as unknown as ApiDeps;
  return { api: new Api(deps), seen };
}

const ask = (params: Record<string, string>, want = 3): Record<string, unknown> => ({
  client: 'c-1',
  params,
  want,
});

test('lease batch handler - each ask as lease runs it, at once; results in order, failures in place', async (t) => {
  // Asked one after another, the first would wait for the others forever.
  t.timeout(10_000);
  const asks = [
    ask({ user: 'u1' }),
    ask({ user: 'busy' }),
    ask({ nobody: 'x' }),
    ask({ user: 'u2' }, 7),
    { ...ask({ user: 'u3' }), previous: { lease: 'AAAAAAAAAAAA', unused: 2 } },
  ];
  const { api, seen } = fakeApi(asks.length);
  const reply = (await api.handle('lease.batch', JSON.stringify({ asks }), ROOT_CONTEXT)) as {
    results: Array<Record<string, unknown>>;
  };
  t.deepEqual(
    seen.map((r) => r.params),
    asks.map((a) => a['params']),
  );
  t.deepEqual(seen[4]?.previous, { lease: 'AAAAAAAAAAAA', unused: 2 });
  t.is(reply.results.length, asks.length);
  t.like(reply.results[0], { token: 'hot|user=u1', units: 3 });
  t.like(reply.results[3], { token: 'hot|user=u2', units: 7 });
  t.like(reply.results[4], { token: 'hot|user=u3' });
  t.like(reply.results[1], { error: { code: ErrorCode.Unavailable, field: 'params', retryable: true } });
  t.like(reply.results[2], { error: { code: ErrorCode.InvalidField, field: 'params', retryable: false } });
  // Each result is what `headroom.v1.lease` replies for that ask alone.
  for (const [i, a] of asks.entries()) {
    const single = fakeApi(1);
    t.deepEqual(reply.results[i], await single.api.handle('lease', JSON.stringify(a), ROOT_CONTEXT));
  }
});

test('lease batch handler - a malformed batch is one error reply and no ask reaches the desk', async (t) => {
  const { api, seen } = fakeApi(1);
  const reply = await api.handle(
    'lease.batch',
    JSON.stringify({ asks: [ask({ user: 'u1' }), ask({ user: 'u2' }, -1)] }),
    ROOT_CONTEXT,
  );
  t.like(reply, {
    error: { code: ErrorCode.InvalidField, field: 'asks[1].want', retryable: false },
  });
  t.regex((reply as { error: { message: string } }).error.message, /^asks\[1\]\.want must be .*got -1$/);
  t.deepEqual(seen, []);
  t.like(await api.handle('lease.batch', '{"asks":[]}', ROOT_CONTEXT), {
    error: { code: ErrorCode.InvalidField, field: 'asks' },
  });
});
