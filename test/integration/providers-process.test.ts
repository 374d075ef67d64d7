import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { ServiceBroker } from 'moleculer';
import { ErrorCode, InputError } from '../../lib/index.ts';
import { ProcessProvider, compileProcessProviderOptions, TrafficRouter } from '../../services/pools/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { observerBroker } from '../helpers/observer-broker.ts';
import type { NatsServer } from '../helpers/nats-server.ts';
import { waitUntil } from '../helpers/node-process.ts';

interface Ctx {
  nats: NatsServer;
  broker: ServiceBroker;
  providers: ProcessProvider[];
}
const test = anyTest as TestFn<Ctx>;
// One pool of workers at a time keeps the 2-core machine responsive.
const serial = test.serial;

test.before(async (t) => {
  const nats = await startNatsServer();
  const broker = observerBroker(nats.url, `providers-${process.pid}`);
  await broker.start();
  t.context = { nats, broker, providers: [] };
});

test.after.always(async (t) => {
  for (const p of t.context.providers ?? []) await p.close();
  await t.context.broker?.stop();
  await t.context.nats?.stop();
});

function provider(t: { context: Ctx }, pool: string, errors: string[]): ProcessProvider {
  const p = new ProcessProvider(
    compileProcessProviderOptions({ pool, natsUrl: t.context.nats.url, workRounds: 200 }),
    { broker: t.context.broker, onError: (e) => errors.push(e.message) },
  );
  t.context.providers.push(p);
  return p;
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

serial('process provider - started workers serve requests, then stop exactly', async (t) => {
  const errors: string[] = [];
  const p = provider(t, 'serve', errors);
  p.setUnits(2, Date.now());
  t.is(p.startingUnits(Date.now()), 2);
  t.is(p.readyUnits(Date.now()), 0);
  await p.whenReady(30_000);
  t.is(p.readyUnits(Date.now()), 2);
  t.deepEqual(p.readyNodeIDs().sort(), ['worker-serve-1', 'worker-serve-2']);
  const s = p.startup();
  t.is(s.count, 2);
  t.log(`worker start-up (spawn -> service visible): mean ${s.meanMs?.toFixed(0)} ms, max ${s.maxMs} ms`);
  for (const nodeID of p.readyNodeIDs()) {
    const r = await t.context.broker.call<
      { nodeID: string; rounds: number; digest: string },
      { rounds: number }
    >('backend.work', { rounds: 10 }, { nodeID });
    t.is(r.nodeID, nodeID);
    t.is(r.rounds, 10);
    t.regex(r.digest, /^[0-9a-f]{64}$/);
  }
  const pids = p.workers().map((w) => w.pid);
  // Shrink: the newest ready worker is stopped, the other keeps serving.
  p.setUnits(1, Date.now());
  t.is(p.readyUnits(Date.now()), 1);
  await p.whenReady(10_000);
  t.deepEqual(p.readyNodeIDs(), ['worker-serve-1']);
  t.false(alive(pids[1]));
  t.true(alive(pids[0]));
  p.setUnits(0, Date.now());
  await p.whenReady(10_000);
  t.false(alive(pids[0]));
  t.deepEqual(errors, []);
  t.is(p.failures, 0);
});

serial('process provider - traffic moves off a saturated worker', async (t) => {
  const errors: string[] = [];
  const p = provider(t, 'shift', errors);
  p.setUnits(3, Date.now());
  await p.whenReady(30_000);
  const [slow] = p.readyNodeIDs();
  // Make one worker 40x slower: it saturates under the same offered load.
  await t.context.broker.call('backend.configure', { slowdown: 40 }, { nodeID: slow! });
  const router = new TrafficRouter(
    { action: 'backend.work', unitConcurrency: 3 },
    { broker: t.context.broker, units: () => p.readyNodeIDs() },
  );
  t.is(router.weights().size, 3);
  // A closed loop of 6 callers, 300 requests in all; a uniform split would give each worker 1/3.
  let left = 300;
  const loop = async (): Promise<void> => {
    while (left-- > 0) await router.call({ rounds: 200 });
  };
  await Promise.all(Array.from({ length: 6 }, loop));
  const served = router.served();
  const total = [...served.values()].reduce((a, b) => a + b, 0);
  t.is(total, 300);
  const share = (served.get(slow!) ?? 0) / total;
  t.log(`served: ${JSON.stringify(Object.fromEntries(served))}; slow worker share ${share.toFixed(3)}`);
  t.true(share < 0.15, `slow worker still got ${share}`);
  for (const id of p.readyNodeIDs()) if (id !== slow) t.true((served.get(id) ?? 0) > 100);
  t.deepEqual(errors, []);
});

serial(
  'process provider - a crash is reported; a hung worker is killed after the stop timeout',
  async (t) => {
    const errors: string[] = [];
    const p = new ProcessProvider(
      compileProcessProviderOptions({ pool: 'faults', natsUrl: t.context.nats.url, stopTimeoutMs: 300 }),
      { broker: t.context.broker, onError: (e) => errors.push(e.message) },
    );
    t.context.providers.push(p);
    p.setUnits(2, Date.now());
    await p.whenReady(30_000);
    const [first, second] = p.workers();
    // Killed from outside: the provider notices the exit and reports it.
    process.kill(first!.pid!, 'SIGKILL');
    await waitUntil(() => p.workers().length === 1, 10_000, 'the killed worker to be noticed');
    t.is(p.readyUnits(Date.now()), 1);
    t.regex(errors[0] ?? '', /worker worker-faults-1 exited unasked \(code null, signal SIGKILL\)/);
    // A stopped (hung) worker ignores SIGTERM until it runs again: SIGKILL follows.
    process.kill(second!.pid!, 'SIGSTOP');
    p.setUnits(0, Date.now());
    await p.whenReady(10_000);
    t.false(alive(second!.pid));
    t.regex(errors[1] ?? '', /worker worker-faults-2 did not exit 300 ms after SIGTERM; killed/);
    t.is(p.failures, 2);
  },
);

test('process provider - bad options list every problem in one error', (t) => {
  const err = t.throws(
    () => compileProcessProviderOptions({ pool: 'a b', workRounds: 0, stopTimeoutMs: -1, colour: 'red' }),
    { instanceOf: InputError },
  );
  t.is(err.code, ErrorCode.InvalidOptions);
  t.regex(err.message, /process\.pool must be letters, digits/);
  t.regex(err.message, /process\.workRounds must be an integer from 1 to 10000000, got 0/);
  t.regex(err.message, /process\.stopTimeoutMs must be a duration/);
  t.regex(err.message, /process\.colour is not a known option/);
  t.regex(err.message, /process\.natsUrl is required/);
  t.throws(() => compileProcessProviderOptions({}), {
    instanceOf: InputError,
    message: 'process.natsUrl is required, got null',
  });
});
