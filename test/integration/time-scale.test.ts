// A real node started with `--time-scale 10`: its domain time runs ten times
// as fast as the wall clock. A rule of R/s allows about 10R per real second
// (loadgen plays a per-second trace at speedup 10, so trace time is the
// node's time), and the forecasts' times move ten times as fast, ahead of
// the wall clock, and the collection worker closes its buckets on the
// same domain clock; heartbeats and timeouts keep real time (the node joins
// and answers as any other).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { NatsConnection } from 'nats';
import { parseTrace } from '../../lib/index.ts';
import { runLoadgen } from '../../cli/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { client, putRuleEverywhere, request, startNodeProcess, waitUntil } from '../helpers/node-process.ts';
import type { NodeProcess } from '../helpers/node-process.ts';

interface Ctx {
  nats: NatsServer;
  node: NodeProcess;
  nc: NatsConnection;
  dir: string;
}
const test = anyTest as TestFn<Ctx>;

const SCALE = 10;
/**
 * The rule: 50 per 10 s, 5/s with a burst of 50 (a tolerance of 10 domain
 * s, 1 real s, so that the machine's jitter, ten times as long in domain
 * time, does not bunch requests past it).
 */
const RATE = 5;
const BURST = 50;

test.before(async (t) => {
  t.context.dir = await mkdtemp(join(tmpdir(), 'headroom-time-scale-'));
  t.context.nats = await startNatsServer();
  t.context.node = await startNodeProcess({
    nodeId: 'scaled-1',
    args: [
      '--nats',
      t.context.nats.url,
      '--data-dir',
      t.context.dir,
      '--http-port',
      '0',
      '--trainer',
      'false',
      '--time-scale',
      String(SCALE),
    ],
  });
  t.context.nc = await client(t.context.nats.url);
  await putRuleEverywhere(t.context.nc, { id: 'per-user', key: ['user'], rate: BURST, period: '10s' });
});

test.after.always(async (t) => {
  await t.context.nc?.close();
  await t.context.node?.stop('SIGKILL');
  await t.context.nats?.stop();
  if (t.context.dir !== undefined) await rm(t.context.dir, { recursive: true, force: true });
});

test.serial(
  'time scale - forecasts are made on the domain clock: ten times as fast, ahead of the wall clock',
  async (t) => {
    const nc = t.context.nc;
    const get = async (): Promise<number | undefined> => {
      const reply = await request<{ forecasts?: Array<{ madeMs: number }> }>(nc, 'headroom.v1.forecast.get', {
        params: { user: 'clock' },
      });
      return reply.forecasts?.[0]?.madeMs;
    };
    // The token keeps being active, so the cadence (every 5 domain s: 0.5 real s) forecasts it each round.
    const keepActive = setInterval(() => {
      void request(nc, 'headroom.v1.check', { params: { user: 'clock' } }).catch(() => {});
    }, 20);
    try {
      await waitUntil(async () => (await get()) !== undefined, 20_000, 'a first forecast');
      const real0 = Date.now();
      const made0 = (await get())!;
      await new Promise((r) => setTimeout(r, 3000));
      let made1 = made0;
      await waitUntil(
        async () => {
          made1 = (await get()) ?? made0;
          return made1 > made0;
        },
        10_000,
        'a later forecast',
      );
      const real1 = Date.now();
      const domain = made1 - made0;
      const real = real1 - real0;
      // Between the two reads the forecasts moved about 10x the real time (give or take a cadence round).
      t.true(
        domain >= SCALE * 3000 - 5000 - SCALE * 500,
        `forecast time moved ${domain} ms in ${real} real ms`,
      );
      t.true(domain <= SCALE * real + 5000, `forecast time moved ${domain} ms in ${real} real ms`);
      // The domain clock started at the node's start and has run ahead of the wall clock since.
      t.true(made1 > real1 + 10_000, `made at ${made1}, wall clock ${real1}`);
    } finally {
      clearInterval(keepActive);
    }
  },
);

test.serial('time scale - a rule of R/s allows about 10R per real second at --time-scale 10', async (t) => {
  // After the first forecast rounds (the test above): the first one loads the models and stalls
  // the node for a moment, ten times as long in domain time, which would bunch these requests.
  // 60 domain seconds at 8/s (above the rule's 5/s): 6 real seconds at 80 checks a second.
  const steps = 60;
  const csv = Array.from({ length: steps }, (_, i) => {
    const at = new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString().replace('T', ' ').slice(0, 19);
    return `${at},8`;
  });
  const buckets = async (): Promise<number> => {
    const status = await request<{ nodes: Array<{ collection: { collector: { buckets: number } } | null }> }>(
      t.context.nc,
      'headroom.v1.status',
      {},
    );
    return status.nodes[0]?.collection?.collector.buckets ?? 0;
  };
  const bucketsBefore = await buckets();
  const r = await runLoadgen({
    trace: parseTrace(`timestamp,value\n${csv.join('\n')}\n`),
    target: { kind: 'http', url: t.context.node.httpUrl! },
    params: { user: 'fast' },
    speedup: SCALE,
  });
  t.is(r.sent, 8 * steps);
  t.is(r.errors, 0);
  // The collection worker closes each second's bucket 2 domain s (0.2 real s) after it ends: on the
  // node's clock, rebuilt in the worker. On the wall clock, the domain seconds would be in its future.
  await waitUntil(
    async () => (await buckets()) >= bucketsBefore + 0.9 * steps,
    5000,
    `the collector's buckets of the ${steps} domain seconds`,
  );
  const domainSeconds = r.seconds * SCALE;
  // The node's seconds are the trace's: the rule allows its rate over them, plus its burst.
  t.true(r.allowed <= BURST + RATE * domainSeconds + 1, `allowed ${r.allowed} in ${domainSeconds} domain s`);
  t.true(r.allowed >= 0.8 * RATE * steps, `allowed ${r.allowed}, expected about ${BURST + RATE * steps}`);
  // In real time about 10R per second, where an unscaled node allows R per second and its burst.
  const perRealSecond = r.allowed / r.seconds;
  t.true(perRealSecond >= 0.6 * SCALE * RATE, `${perRealSecond.toFixed(1)} allowed per real second`);
  t.true(r.allowed > 2 * (BURST + RATE * r.seconds), 'far above what real time would allow');
  // The trace exceeds the rule by 3/s once the burst is spent.
  t.true(r.denied >= 0.5 * (3 * steps - BURST), `denied ${r.denied}`);
});
