// A node forecasts its live tokens on a cadence: the forecast lands on the
// token actor (and so in `describe`, which the REPL's hr-token prints) and in
// the store's forecasts table under the token's keyed hash.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import { compileNodeOptions, defaultNodePrivacy, loadKeyFile, startNode } from '../../services/index.ts';
import { waitUntil } from '../helpers/node-process.ts';

test('forecast node - token actors get forecasts on a cadence and the store keeps them', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'headroom-forecast-'));
  const node = await startNode(
    compileNodeOptions(
      undefined,
      {},
      {
        dataDir,
        httpPort: null,
        logLevel: 'error',
        nodeId: 'f1',
        forecastEveryMs: '300ms',
        forecastHorizonsMs: '1s,3s',
        trainer: 'false',
      },
    ),
  );
  try {
    t.truthy(node.forecasting);
    await node.api.handle(
      'rules.put',
      JSON.stringify({ id: 'per-user', key: ['user'], rate: 1000, period: '1s' }),
      ROOT_CONTEXT,
    );
    for (let i = 0; i < 5; i++)
      await node.api.handle('check', JSON.stringify({ params: { user: 'u1' } }), ROOT_CONTEXT);
    const token = node.throttle.host.keys()[0]!;
    await waitUntil(
      () => node.throttle.host.peek(token)?.forecast !== undefined,
      10_000,
      'a forecast on the actor',
    );
    const d = node.throttle.describe(token) as {
      forecast: { horizonsMs: number[]; p50: number[]; model: string };
    };
    t.deepEqual(d.forecast.horizonsMs, [1000, 3000]);
    t.is(d.forecast.p50.length, 2);
    // No model was trained yet: the token's recent mean stands in.
    t.is(d.forecast.model, 'mean');

    const keys = await loadKeyFile(null, dataDir);
    const pipeline = new PrivacyPipeline({
      ...defaultNodePrivacy(),
      keys: keys.file.keys,
      overlapMs: keys.file.overlapMs,
      ipRegions: [],
    });
    const hashed = pipeline.hash(token, Date.now());
    const { batcher, store } = node.collection;
    let rows: unknown[] = [];
    await waitUntil(
      async () => {
        await batcher!.flush();
        rows = await store!.forecasts(hashed, 0, Date.now() + 60_000);
        return rows.length > 0;
      },
      10_000,
      'forecast rows in the store',
    );
    t.like(rows[0], { token: hashed, model: 'mean' });
    t.false(JSON.stringify(rows).includes('u1'), 'no raw user id in the store');
  } finally {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
