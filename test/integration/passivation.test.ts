// Idle token actors are passivated, but a token whose bucket has not refilled
// keeps its state: passivation never hands out a fresh burst.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { compileNodeOptions, startNode } from '../../services/index.ts';
import type { ExecutionContext } from 'ava';
import { waitUntil } from '../helpers/node-process.ts';

/** Puts a rule of 2 per hour per user and uses up user `a`'s bucket; returns a check by user. */
async function usedUp(
  t: ExecutionContext,
  node: Awaited<ReturnType<typeof startNode>>,
): Promise<(user: string) => Promise<any>> {
  const check = async (user: string): Promise<any> =>
    await node.api.handle('check', JSON.stringify({ params: { user } }), ROOT_CONTEXT);
  await node.api.handle(
    'rules.put',
    JSON.stringify({ id: 'two-per-hour', key: ['user'], rate: 2, period: '1h' }),
    ROOT_CONTEXT,
  );
  t.deepEqual(
    [(await check('a')).allow, (await check('a')).allow, (await check('a')).allow],
    [true, true, false],
  );
  return check;
}

test('passivation - an idle over-limit token stays throttled after its actor is passivated', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-passivation-'));
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      { dataDir, httpPort: null, actorIdleMs: 200, logLevel: 'error', nodeId: 'p1' },
    ),
  );
  try {
    const check = await usedUp(t, node);
    // A token that refilled at once (fast rule) is simply dropped.
    await node.api.handle(
      'rules.put',
      JSON.stringify({ id: 'fast', key: ['op'], rate: 1000, period: '1s' }),
      ROOT_CONTEXT,
    );
    await node.api.handle('check', JSON.stringify({ params: { op: 'x' } }), ROOT_CONTEXT);
    t.true(node.throttle.host.size >= 2);
    await waitUntil(() => node.throttle.host.size === 0, 5000, 'idle actors to be passivated');
    const after = await check('a');
    t.like(after, { allow: false, rule: 'two-per-hour', remaining: 0 });
    t.true(after.retryAfterMs > 1_000_000);
    t.like(await check('b'), { allow: true, remaining: 1 });
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('passivation - a token actor that fails keeps its state: the next check is still throttled', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-passivation-'));
  const node = await startNode(
    compileNodeOptions(undefined, {}, { dataDir, httpPort: null, logLevel: 'fatal', nodeId: 'p2' }),
  );
  try {
    const check = await usedUp(t, node);
    // Any throw inside the token's mailbox (a bug, a bad message) fails its actor: it is passivated
    // with reason `failed` and the next check activates it again. It used to start with a full bucket.
    const [token] = node.throttle.host.keys();
    t.truthy(token);
    await t.throwsAsync(
      node.throttle.host.ask(token!, () => {
        throw new Error('a message that throws');
      }),
    );
    t.false(node.throttle.host.has(token!));
    t.like(await check('a'), { allow: false, rule: 'two-per-hour', remaining: 0 });
    t.like(await check('b'), { allow: true, remaining: 1 });
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
