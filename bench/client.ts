/**
 * The client library (client/) against its peers, in one run, on one
 * nats-server, with the same concurrency: three Headroom nodes reached
 * through `HeadroomClient` (checks routed to their owners and batched per
 * owner), three bare NATS echo responders (the ceiling for an answer over
 * NATS) and three rate-limiter-flexible + Redis responders (what a user
 * picks instead). Peers get plain nats.js requests, one message per check.
 *
 *   ops/run node --import tsx bench/client.ts [--seconds 5] [--warmup 5] [--concurrency 64]
 *     [--batch 100] [--batch-concurrency 16] [--node-args="--store none --forecast false"]
 *
 * Phases: closed loop at `concurrency` in flight (maximum throughput and its
 * p99), open loop at half the echo's maximum (p99 at a sustainable load),
 * `checkBatch` of `batch` checks (decisions per second), and client leases:
 * three client processes (test/helpers/lease-client.ts, `concurrency` in
 * flight in all) where 10 hot accounts take 90 % of the checks, leased by
 * the client's `leases` option (decisions per second, and per hot token the
 * allowed count against the GCRA bound plus one burst). Issue 15's targets:
 * SDK >= 0.9x echo and >= 1.3x RLF throughput; p99 at half the echo's
 * maximum <= 1.5x the echo's; batch decisions/s >= 10x echo req/s; leases
 * >= 20x echo req/s, every hot token within its bound.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { HeadroomClient } from '../client/index.ts';
import { closedLoop, openLoop } from './load.ts';
import type { Call, Result } from './load.ts';
import { leaseBounds, runLeaseClient } from '../test/helpers/lease-run.ts';
import { freePort, startNatsServer } from '../test/helpers/nats-server.ts';
import { startNodeProcess } from '../test/helpers/node-process.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    users: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '100' },
    'batch-concurrency': { type: 'string', default: '16' },
    'node-args': { type: 'string', default: '' },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONCURRENCY = Number(values.concurrency);
const USERS = Number(values.users);
const BATCH = Number(values.batch);
const BATCH_CONCURRENCY = Number(values['batch-concurrency']);
const NODE_ARGS = values['node-args'].split(' ').filter((a) => a !== '');
const RESPONDERS = 3;
/** The lease round's rule, per account: hot accounts want far more (mostly denied, decided in the clients). */
const LEASE_RATE = 10_000;
const LEASE_BURST = 1000;
const HOT = Array.from({ length: 10 }, (_, i) => `hot${i}`);

/** Starts `script` (tsx) with `args` and waits for its ready line; returns its stopper. */
async function responder(script: string, args: string[]): Promise<{ stop(): Promise<unknown> }> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  return {
    stop: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}

const nats = await startNatsServer();
const dataRoot = mkdtempSync(join(tmpdir(), 'headroom-bench-client-'));
const children: Array<{ stop(): Promise<unknown> }> = [];
try {
  const redisPort = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push({
    stop: () =>
      new Promise((r) => {
        redis.once('exit', r);
        redis.kill('SIGTERM');
      }),
  });
  await new Promise<void>((r) => {
    const onData = (b: Buffer): void => {
      if (b.toString().includes('Ready to accept connections')) {
        redis.stdout.off('data', onData);
        r();
      }
    };
    redis.stdout.on('data', onData);
  });
  const nodes = await Promise.all(
    Array.from({ length: RESPONDERS }, (_, i) => `b${i + 1}`).map((id) =>
      startNodeProcess({
        nodeId: id,
        args: ['--nats', nats.url, '--data-dir', join(dataRoot, id), '--log-level', 'error', ...NODE_ARGS],
      }),
    ),
  );
  children.push(...nodes);
  for (let i = 0; i < RESPONDERS; i++) {
    children.push(await responder('./echo-responder.ts', [nats.url]));
    children.push(await responder('./rlf-responder.ts', [nats.url, String(redisPort)]));
  }
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  await nc.request(
    'headroom.v1.rules.put',
    JSON.stringify({ id: 'per-user', key: ['user'], rate: 1_000_000, period: '1s' }),
  );
  await new Promise((r) => setTimeout(r, 2000)); // membership and rules settle
  const hr = await HeadroomClient.connect({ servers: nats.url });

  let u = 0;
  const params = (): { user: string; op: string } => ({ user: `u${u++ % USERS}`, op: 'GetItem' });
  const body = (): string => JSON.stringify({ params: params() });
  const ok = (s: string): boolean => s.length > 0 && !s.includes('"error"');
  const sdk: Call = async () => (await hr.check(params())).allow === true;
  const echo: Call = async () => ok((await nc.request('bench.echo', body(), { timeout: 5000 })).string());
  const rlf: Call = async () => ok((await nc.request('bench.rlf', body(), { timeout: 5000 })).string());
  const batch: Call = async () =>
    (await hr.checkBatch(Array.from({ length: BATCH }, () => ({ params: params() })))).every((r) => r.allow);

  // Warm up every path under load (actor activation, the JIT: seconds on 2 cores).
  for (const call of [sdk, echo, rlf]) await closedLoop(call, WARMUP, CONCURRENCY);
  await closedLoop(batch, Math.min(WARMUP, 3), BATCH_CONCURRENCY, BATCH);

  const sMax = await closedLoop(sdk, SECONDS, CONCURRENCY);
  const eMax = await closedLoop(echo, SECONDS, CONCURRENCY);
  const rMax = await closedLoop(rlf, SECONDS, CONCURRENCY);
  const half = eMax.rps / 2;
  const sHalf = await openLoop(sdk, half, SECONDS);
  const eHalf = await openLoop(echo, half, SECONDS);
  const rHalf = await openLoop(rlf, half, SECONDS);
  const bMax = await closedLoop(batch, SECONDS, BATCH_CONCURRENCY, BATCH);
  const stats = hr.stats;
  await hr.close();

  // Leases: a rule per account; three client processes, 90 % of their checks on 10 hot accounts.
  await nc.request(
    'headroom.v1.rules.put',
    JSON.stringify({ id: 'per-acct', key: ['acct'], rate: LEASE_RATE, period: '1s', burst: LEASE_BURST }),
  );
  await new Promise((r) => setTimeout(r, 1000)); // the nodes' topology notices carry the rule
  const startAt = Date.now() + 10_000;
  const leasers = [0, 1, 2].map(() =>
    runLeaseClient(
      [
        ...['--servers', nats.url, '--key', 'acct', '--hot', HOT.join(','), '--cold', String(USERS)],
        ...['--cold-share', '0.1', '--leases-option', '--start-at', String(startAt)],
        ...['--seconds', String(SECONDS), '--concurrency', String(Math.ceil(CONCURRENCY / 3))],
      ],
      (SECONDS + 90) * 1000,
    ),
  );
  const leased = await Promise.all(leasers.map((l) => l.result));
  const leaseRps = leased.reduce((s, r) => s + r.answered / ((r.endAt - r.began) / 1000), 0);
  const bounds = leaseBounds(leased, LEASE_RATE, LEASE_BURST);
  await nc.close();

  const f = (n: number, d = 0): string => n.toFixed(d);
  const row = (name: string, r: Result, h: Result): string =>
    `${name.padEnd(30)}| ${f(r.rps).padStart(8)} | ${f(r.p99, 2).padStart(8)} | ${f(h.p99, 2).padStart(8)} | ${f(r.rps / eMax.rps, 2)}x echo, ${f(r.rps / rMax.rps, 2)}x RLF | ${r.errors + h.errors}`;
  console.log(
    `client SDK vs peers: ${RESPONDERS} of each, ${CONCURRENCY} in flight, ${SECONDS} s per phase, ${USERS} users, Node ${process.version}, node options: ${NODE_ARGS.join(' ') || 'defaults'}`,
  );
  console.log(
    `responder                     | req/s    | p99 (ms) | p99 at ${f(half)}/s | throughput ratio         | errors`,
  );
  console.log(row('headroom SDK (owner-routed)', sMax, sHalf));
  console.log(row('nats echo (ceiling)', eMax, eHalf));
  console.log(row('rate-limiter-flexible + Redis', rMax, rHalf));
  console.log(
    `${`headroom SDK checkBatch(${BATCH})`.padEnd(30)}| ${f(bMax.rps).padStart(8)} decisions/s (${BATCH_CONCURRENCY} batches in flight; p99 ${f(bMax.p99, 2)} ms per batch) | ${f(bMax.rps / eMax.rps, 1)}x echo req/s | ${bMax.errors}`,
  );
  console.log(
    `SDK messages: ${stats.routed} to owners, ${stats.anyNode} to any node, ${stats.fallbacks} fallbacks; ${f(stats.answered / Math.max(1, stats.routed + stats.anyNode), 1)} checks per message`,
  );
  const local = leased.reduce((s, r) => s + r.stats.local, 0);
  const answered = leased.reduce((s, r) => s + r.answered, 0);
  const sent = leased.reduce((s, r) => s + r.stats.routed + r.stats.anyNode + r.stats.asks, 0);
  console.log(
    `${'headroom SDK with leases'.padEnd(30)}| ${f(leaseRps).padStart(8)} decisions/s (3 processes, ${CONCURRENCY} in flight, 90 % on ${HOT.length} hot accounts) | ${f(leaseRps / eMax.rps, 1)}x echo req/s | ${leased.reduce((s, r) => s + r.failures.length, 0)}`,
  );
  console.log(
    `lease messages: ${f((100 * local) / Math.max(1, answered), 1)} % decided in the clients; ${f(sent / Math.max(1, answered), 3)} messages per decision (${leased.map((r) => r.stats.asks).join('/')} asks)`,
  );
  const worst = bounds.reduce((a, b) =>
    b.worstWindow / b.windowBound > a.worstWindow / a.windowBound ? b : a,
  );
  console.log(
    `hot tokens (rate ${LEASE_RATE}/s, burst ${LEASE_BURST}): allowed ${bounds.map((b) => b.allowed).join(' ')} (bound ${f(bounds[0]!.wholeBound)}); worst 1 s window ${worst.worstWindow} of ${f(worst.windowBound)} (${worst.user})`,
  );
  const met = (b: boolean): string => (b ? 'met' : 'NOT met');
  console.log(
    `targets: SDK >= 0.9x echo (${met(sMax.rps >= 0.9 * eMax.rps)}), >= 1.3x RLF (${met(sMax.rps >= 1.3 * rMax.rps)}), p99 at half the echo's max <= 1.5x echo's (${f(sHalf.p99 / eHalf.p99, 2)}x: ${met(sHalf.p99 <= 1.5 * eHalf.p99)}), batch >= 10x echo (${met(bMax.rps >= 10 * eMax.rps)}), leases >= 20x echo (${met(leaseRps >= 20 * eMax.rps)}), hot tokens within the GCRA bound plus one burst (${met(bounds.every((b) => b.ok))})`,
  );
} finally {
  // Redis (the first child) last: its clients exit first.
  await Promise.all(children.slice(1).map((c) => c.stop()));
  await children[0]?.stop();
  await nats.stop();
  rmSync(dataRoot, { recursive: true, force: true });
}
