/**
 * Throughput and latency of `headroom.v1.check` over NATS against a 3-node
 * cluster, beside a bare NATS echo responder (3 processes in a queue group)
 * measured in the same run with the same client and concurrency.
 *
 *   ops/run node --import tsx bench/check-nats.ts [--seconds 5] [--warmup 10] [--concurrency 64]
 *     [--nodes 3] [--node-args="--store none --forecast false"] [--batch 100] [--batch-concurrency 16]
 *
 * Nodes run on their defaults (collection into DuckDB, forecasting on) unless
 * --node-args says otherwise.
 *
 * Phase 1 (closed loop, `concurrency` requests in flight) gives the maximum
 * throughput of each; phase 2 (open loop at half of that maximum) gives the
 * latency a service sees at a sustainable load. Targets: Headroom >= 0.5x
 * the echo's throughput, p99 < 3 ms at half the maximum rate.
 *
 * With --batch N (issue 15), phase 3: `headroom.v1.check.batch` of N
 * requests through the queue group (any node; the tokens' owners decide,
 * `batch-concurrency` batches in flight) in decisions per second, beside a
 * batch echo (bench/batch-echo-responder.ts: a fixed reply of N results to
 * the same payload, no work), the ceiling for batches of that size over
 * NATS here. Both are shown against the echo's request rate (the issue's
 * target: 10x).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { startNodeProcess } from '../test/helpers/node-process.ts';
import { closedLoop, openLoop } from './load.ts';
import type { Call, Result } from './load.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
    users: { type: 'string', default: '1000' },
    nodes: { type: 'string', default: '3' },
    // Extra `headroom start` options, e.g. "--store none --forecast false" for the bare check path.
    'node-args': { type: 'string', default: '' },
    batch: { type: 'string', default: '0' },
    'batch-concurrency': { type: 'string', default: '16' },
  },
});
const BATCH = Number(values.batch);
const BATCH_CONCURRENCY = Number(values['batch-concurrency']);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONCURRENCY = Number(values.concurrency);
const USERS = Number(values.users);
const NODES = Number(values.nodes);
const NODE_ARGS = values['node-args'].split(' ').filter((a) => a !== '');

type Payload = () => string;

/** A request whose empty or error reply counts as an error. */
const decided =
  (nc: NatsConnection, subject: string, payload: Payload): Call =>
  async () => {
    const m = await nc.request(subject, payload(), { timeout: 5000 });
    return !(m.data.length === 0 || m.string().includes('"error"'));
  };

/** A request that counts once answered, whatever the reply. */
const answered =
  (nc: NatsConnection, subject: string, payload: Payload): Call =>
  () =>
    nc.request(subject, payload(), { timeout: 5000 }).then(() => true);

const nats = await startNatsServer();
// Fresh data directories per run: a store left by an earlier run would make runs differ.
const dataRoot = mkdtempSync(join(tmpdir(), 'headroom-bench-'));
const children: Array<{ stop(): Promise<unknown> }> = [];
try {
  const nodes = await Promise.all(
    Array.from({ length: NODES }, (_, i) => `b${i + 1}`).map((id) =>
      startNodeProcess({
        nodeId: id,
        args: ['--nats', nats.url, '--data-dir', join(dataRoot, id), '--log-level', 'error', ...NODE_ARGS],
      }),
    ),
  );
  children.push(...nodes);
  const echoPath = fileURLToPath(new URL('./echo-responder.ts', import.meta.url));
  const batchEchoPath = fileURLToPath(new URL('./batch-echo-responder.ts', import.meta.url));
  const peers = [echoPath, ...(BATCH > 0 ? [batchEchoPath] : [])];
  for (let i = 0; i < NODES * peers.length; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', peers[i % peers.length]!, nats.url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    children.push({
      stop: () =>
        new Promise((r) => {
          child.once('exit', r);
          child.kill('SIGTERM');
        }),
    });
  }
  const nc = await connect({ servers: nats.url });
  await nc.request(
    'headroom.v1.rules.put',
    JSON.stringify({ id: 'per-user', key: ['user'], rate: 1_000_000, period: '1s' }),
  );
  await new Promise((r) => setTimeout(r, 2000)); // membership and rules settle

  let u = 0;
  const check: Payload = () => `{"params":{"user":"u${u++ % USERS}","op":"GetItem"}}`;
  const echo: Payload = check; // same request bytes to both

  // Warm up both paths under full load before measuring: actor activation, and
  // the JIT, which takes seconds of load to reach steady state on 2 cores
  // (measured right after start, a node spends a third of its CPU compiling).
  for (let i = 0; i < 2000; i++) await nc.request('headroom.v1.check', check(), { timeout: 5000 });
  for (let i = 0; i < 2000; i++) await nc.request('bench.echo', echo(), { timeout: 5000 });
  const hWarm = await closedLoop(decided(nc, 'headroom.v1.check', check), WARMUP, CONCURRENCY);
  const eWarm = await closedLoop(decided(nc, 'bench.echo', echo), WARMUP, CONCURRENCY);
  console.log(
    `warm-up ${WARMUP} s: headroom ${hWarm.rps.toFixed(0)} req/s (p99 ${hWarm.p99.toFixed(2)} ms), echo ${eWarm.rps.toFixed(0)} req/s`,
  );

  const hMax = await closedLoop(decided(nc, 'headroom.v1.check', check), SECONDS, CONCURRENCY);
  const eMax = await closedLoop(decided(nc, 'bench.echo', echo), SECONDS, CONCURRENCY);
  const hHalf = await openLoop(answered(nc, 'headroom.v1.check', check), hMax.rps / 2, SECONDS);
  const eHalf = await openLoop(answered(nc, 'bench.echo', echo), hMax.rps / 2, SECONDS);
  let batches: { headroom: Result; echo: Result } | undefined;
  if (BATCH > 0) {
    const batch: Payload = () =>
      `{"requests":[${Array.from({ length: BATCH }, () => `{"params":{"user":"u${u++ % USERS}","op":"GetItem"}}`).join(',')}]}`;
    const hBatch = decided(nc, 'headroom.v1.check.batch', batch);
    const eBatch = decided(nc, 'bench.batch-echo', batch);
    await closedLoop(hBatch, Math.min(WARMUP, 3), BATCH_CONCURRENCY, BATCH);
    await closedLoop(eBatch, Math.min(WARMUP, 3), BATCH_CONCURRENCY, BATCH);
    batches = {
      headroom: await closedLoop(hBatch, SECONDS, BATCH_CONCURRENCY, BATCH),
      echo: await closedLoop(eBatch, SECONDS, BATCH_CONCURRENCY, BATCH),
    };
  }
  await nc.close();

  const f = (n: number, d = 0): string => n.toFixed(d);
  console.log(
    `check over NATS, ${NODES} nodes (and ${NODES} echo responders), ${CONCURRENCY} in flight, ${SECONDS} s per phase, ${USERS} tokens, Node ${process.version}, node options: ${NODE_ARGS.join(' ') || 'defaults'}`,
  );
  console.log('phase                      | headroom          | nats echo (peer)  | ratio');
  console.log(
    `max throughput (req/s)     | ${f(hMax.rps).padEnd(17)} | ${f(eMax.rps).padEnd(17)} | ${f(hMax.rps / eMax.rps, 2)}x`,
  );
  console.log(
    `latency at max  p50 / p99  | ${f(hMax.p50, 2)} / ${f(hMax.p99, 2)} ms`.padEnd(46) +
      `| ${f(eMax.p50, 2)} / ${f(eMax.p99, 2)} ms`.padEnd(20) +
      `| ${f(hMax.p99 / eMax.p99, 2)}x p99`,
  );
  console.log(
    `at ${f(hMax.rps / 2)} req/s p50 / p99`.padEnd(27) +
      `| ${f(hHalf.p50, 2)} / ${f(hHalf.p99, 2)} ms`.padEnd(20) +
      `| ${f(eHalf.p50, 2)} / ${f(eHalf.p99, 2)} ms`.padEnd(20) +
      `| ${f(hHalf.p99 / eHalf.p99, 2)}x p99`,
  );
  console.log(
    `errors                     | ${hMax.errors + hHalf.errors}`.padEnd(47) +
      `| ${eMax.errors + eHalf.errors}`,
  );
  if (batches !== undefined) {
    const { headroom: hb, echo: eb } = batches;
    console.log(
      `check.batch(${BATCH}), ${BATCH_CONCURRENCY} in flight (decisions/s) | ${f(hb.rps).padEnd(17)} | ${f(eb.rps).padEnd(17)} | ${f(hb.rps / eb.rps, 2)}x; ${f(hb.rps / eMax.rps, 1)}x echo req/s (batch echo ${f(eb.rps / eMax.rps, 1)}x); p99 ${f(hb.p99, 1)} / ${f(eb.p99, 1)} ms per batch; errors ${hb.errors} / ${eb.errors}`,
    );
  }
  console.log(
    `targets: throughput ratio >= 0.5 (${hMax.rps / eMax.rps >= 0.5 ? 'met' : 'NOT met'}), p99 at half rate < 3 ms (${hHalf.p99 < 3 ? 'met' : 'NOT met'})`,
  );
} finally {
  await Promise.all(children.map((c) => c.stop()));
  await nats.stop();
  rmSync(dataRoot, { recursive: true, force: true });
}
