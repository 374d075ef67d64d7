// A node frees a token's forecasting state (the live zoo's combiner slot)
// when the token's actor is passivated, through the actor host's hook, not
// by sweeping every token it holds each round (issue 11).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { compileNodeOptions, startNode } from '../../services/index.ts';
import { waitUntil } from '../helpers/node-process.ts';

test('forecast release - a passivated token leaves no combiner state behind, long before any sweep', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-forecast-release-'));
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      {
        dataDir,
        httpPort: null,
        logLevel: 'error',
        nodeId: 'r1',
        actorIdleMs: '1500ms',
        forecastEveryMs: '300ms',
        forecastHorizonsMs: '1s,3s',
        trainer: 'false',
      },
    ),
  );
  try {
    const hub = node.forecasting!.hub;
    await node.api.handle(
      'rules.put',
      JSON.stringify({ id: 'per-user', key: ['user'], rate: 1000, period: '1s' }),
      ROOT_CONTEXT,
    );
    const users = ['a', 'b', 'c'];
    const checks = async (names: string[]): Promise<void> => {
      for (const user of names)
        await node.api.handle('check', JSON.stringify({ params: { user } }), ROOT_CONTEXT);
    };
    // A token takes combiner state at its second forecast round (models/live/live-zoo.ts):
    // seen in one round, the zoo knows it and holds nothing for it.
    await checks(users);
    await waitUntil(() => hub.zoo.size === users.length, 10_000, 'every token seen in a round');
    t.is(hub.zoo.held, 0, 'no combiner state after one round');
    await checks(users);
    await waitUntil(() => hub.zoo.held === users.length, 10_000, 'combiner state for every token');
    await waitUntil(() => node.throttle.host.size === 0, 15_000, 'idle actors to be passivated');
    // The sweep runs every 60 rounds (18 s after the start here at the soonest): well after this.
    await waitUntil(() => hub.zoo.size === 0, 2000, 'the state released with the actors');
    t.is(hub.zoo.slotsTaken, users.length);
    // A token back after passivation, in two rounds, gets a fresh slot from the free list.
    await checks(['d']);
    await waitUntil(() => hub.zoo.size === 1, 10_000, 'the new token seen');
    await checks(['d']);
    await waitUntil(() => hub.zoo.held === 1, 10_000, 'state for the new token');
    t.is(hub.zoo.slotsTaken, users.length, 'a freed slot was reused');
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
