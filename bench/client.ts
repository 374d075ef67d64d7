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
 *     [--phases sdk,open,batch,lease] [--lease-min-rate 2] [--open-rounds 4]
 *
 * `--phases`: which of the phases below run (the echo's closed loop always
 * does: every ratio is to it). `--lease-min-rate`: the lease clients'
 * `leaseMinRatePerSec` (default 2: a token checked twice a second is
 * checked about twice per renewal, every 0.6 x 2 s lease, so its lease
 * saves messages; the client's own default is 20).
 *
 * Phases: closed loop at `concurrency` in flight (maximum throughput and its
 * p99), open loop at half the echo's maximum (p99 at a sustainable load;
 * rounds of every responder in turn, see openRounds),
 * `checkBatch` of `batch` checks (decisions per second), and client leases:
 * three client processes (test/helpers/lease-client.ts, `concurrency` in
 * flight in all) where 10 hot accounts take 90 % of the checks, leased by
 * the client's `leases` option (decisions per second after `warmup` seconds
 * not counted, as the other phases warm up: the clients' slices and meters
 * of 1,000 cold accounts, and their JIT, start cold; per hot token the
 * allowed count, warm-up included, against the GCRA bound plus one burst).
 * Issue 15's targets:
 * SDK >= 0.9x echo and >= 1.3x RLF throughput; p99 at half the echo's
 * maximum <= 1.5x the echo's; batch decisions/s >= 10x echo req/s; leases
 * >= 20x echo req/s, every hot token within its bound.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { HeadroomClient } from '../client/index.ts';
import type { ClientStats } from '../client/index.ts';
import { closedLoop, openLoopRun, pooled } from './load.ts';
import type { Call, OpenRun, Result } from './load.ts';
import { leaseBounds, runLeaseClient } from '../test/helpers/lease-run.ts';
import type { LeaseClientResult } from '../test/helpers/lease-run.ts';
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
    phases: { type: 'string', default: 'sdk,open,batch,lease' },
    'lease-min-rate': { type: 'string', default: '2' },
    'open-rounds': { type: 'string', default: '4' },
  },
});
const PHASES = new Set(values.phases.split(',').filter((p) => p !== ''));
for (const p of PHASES) {
  if (!['sdk', 'open', 'batch', 'lease'].includes(p))
    throw new Error(`--phases must list sdk, open, batch, lease (comma-separated), got ${JSON.stringify(p)}`);
}
const LEASE_MIN_RATE = Number(values['lease-min-rate']);
if (!(Number.isFinite(LEASE_MIN_RATE) && LEASE_MIN_RATE >= 0))
  throw new Error(`--lease-min-rate must be a number >= 0, got ${JSON.stringify(values['lease-min-rate'])}`);
const OPEN_ROUNDS = Number(values['open-rounds']);
if (!(Number.isInteger(OPEN_ROUNDS) && OPEN_ROUNDS >= 1))
  throw new Error(`--open-rounds must be an integer >= 1, got ${JSON.stringify(values['open-rounds'])}`);
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

/**
 * The open loop at `rps` for every responder, in `OPEN_ROUNDS` rounds of
 * `SECONDS / 2` each, the order rotated every round, latencies pooled per
 * responder. A p99 is set by the slowest 1 % of calls, so one stall of this
 * shared machine (another process, a page-cache flush) landing in one
 * responder's single phase decided the ratio: the echo's own p99 at the same
 * rate ranged 15-57 ms across runs of consecutive phases (issue 15). Rounds
 * spread such stalls over every responder alike. Prints each round's SDK/echo
 * p99 ratio beside the pooled one; a first round, not counted, lets the
 * backlog of the closed loops before it drain (its ratio is printed too).
 */
async function openRounds(
  calls: Record<'sdk' | 'echo' | 'rlf', Call>,
  rps: number,
): Promise<Record<'sdk' | 'echo' | 'rlf', Result>> {
  const names = ['sdk', 'echo', 'rlf'] as const;
  const runs: Record<(typeof names)[number], OpenRun[]> = { sdk: [], echo: [], rlf: [] };
  const ratios: string[] = [];
  // A round at the rate first, not counted: it follows the closed loops at full rate, whose
  // backlog (the nodes' collection writes, forecast rounds over every user) it would measure.
  const warm: Partial<Record<(typeof names)[number], OpenRun>> = {};
  for (const name of names) warm[name] = await openLoopRun(calls[name], rps, SECONDS / 2);
  const warmRatio = (pooled([warm.sdk!]).p99 / pooled([warm.echo!]).p99).toFixed(2);
  for (let round = 0; round < OPEN_ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      runs[name].push(await openLoopRun(calls[name], rps, SECONDS / 2));
    }
    ratios.push((pooled([runs.sdk[round]!]).p99 / pooled([runs.echo[round]!]).p99).toFixed(2));
  }
  console.log(
    `open loop at ${rps.toFixed(0)}/s, ${OPEN_ROUNDS} rounds of ${SECONDS / 2} s: SDK/echo p99 per round ${ratios.join(', ')} (warm-up round, not counted: ${warmRatio})`,
  );
  return { sdk: pooled(runs.sdk), echo: pooled(runs.echo), rlf: pooled(runs.rlf) };
}

/** CPU time (ms) in a /proc `stat` file: utime + stime, in 1/100 s (of a process: all its threads). */
function statCpuMs(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** CPU time (ms) `pid` has used so far, all its threads (Linux /proc). */
function procCpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** CPU time (ms) of `pids` by thread: the main thread ("main") and the others by name (/proc comm). */
function threadCpuMs(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const ms = statCpuMs(`/proc/${pid}/task/${tid}/stat`);
        const name =
          tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        out.set(name, (out.get(name) ?? 0) + ms);
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return out;
}

/** CPU time (ms) so far of each process group, and of the nodes' threads by name. */
interface CpuSnapshot {
  groups: Record<string, number>;
  threads: Map<string, number>;
}

/** Reads `groups` (name -> pids; with `self`, this process as 'client') and `threadPids`' threads. */
function cpuSnapshot(groups: Record<string, number[]>, threadPids: number[], self: boolean): CpuSnapshot {
  const out: Record<string, number> = {};
  if (self) {
    const own = process.cpuUsage();
    out['client'] = (own.user + own.system) / 1000;
  }
  for (const [g, pids] of Object.entries(groups)) out[g] = pids.reduce((n, pid) => n + procCpuMs(pid), 0);
  return { groups: out, threads: threadCpuMs(threadPids) };
}

/**
 * CPU per decision between two snapshots, `n` decisions: per group, and per
 * thread of the nodes (main, the collection and store worker, libuv's pool,
 * V8's: where their CPU goes), threads under 0.05 us left out.
 */
function cpuDelta(
  before: CpuSnapshot,
  after: CpuSnapshot,
  n: number,
): { usPer: Record<string, number>; threads: Record<string, number> } {
  const d = Math.max(1, n);
  const usPer: Record<string, number> = {};
  for (const g of Object.keys(after.groups)) usPer[g] = ((after.groups[g]! - before.groups[g]!) * 1000) / d;
  const threads: Record<string, number> = {};
  for (const [name, ms] of after.threads) {
    const us = ((ms - (before.threads.get(name) ?? 0)) * 1000) / d;
    if (us >= 0.05) threads[name] = us;
  }
  return { usPer, threads };
}

/**
 * CPU per request of a phase, by process group: what a load average cannot
 * blur (times on this shared machine are noise, CPU per request much less).
 * `groups`: name -> pids; 'client' is this process; `per`: decisions per call.
 */
async function cpuPer(
  groups: Record<string, number[]>,
  per: number,
  phase: () => Promise<Result>,
): Promise<{ result: Result; usPer: Record<string, number>; threads: Record<string, number> }> {
  const threadPids = groups['nodes'] ?? [];
  const before = cpuSnapshot(groups, threadPids, true);
  const result = await phase();
  const after = cpuSnapshot(groups, threadPids, true);
  return { result, ...cpuDelta(before, after, result.n * per) };
}

/** "client 7.1, nodes 9.3, nats-server 2.0, all 18.4 us" */
function showCpu(usPer: Record<string, number>): string {
  const all = Object.values(usPer).reduce((a, b) => a + b, 0);
  return `${Object.entries(usPer)
    .map(([g, us]) => `${g} ${us.toFixed(1)}`)
    .join(', ')}, all ${all.toFixed(1)} us`;
}

/** Starts `script` (tsx) with `args` and waits for its ready line; returns its pid and stopper. */
async function responder(script: string, args: string[]): Promise<{ pid: number; stop(): Promise<unknown> }> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  return {
    pid: child.pid!,
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
  // Each node is kept as it starts, so a failed start stops the others too; a loaded machine may
  // take longer than the default 30 s to start one.
  const nodePids: number[] = [];
  const echoPids: number[] = [];
  const bareBatchPids: number[] = [];
  const memoryBatchPids: number[] = [];
  const rlfBatchPids: number[] = [];
  await Promise.all(
    Array.from({ length: RESPONDERS }, (_, i) => `b${i + 1}`).map(async (id) => {
      const node = await startNodeProcess({
        nodeId: id,
        readyTimeoutMs: 90_000,
        args: ['--nats', nats.url, '--data-dir', join(dataRoot, id), '--log-level', 'error', ...NODE_ARGS],
      });
      children.push(node);
      nodePids.push(node.child.pid!);
    }),
  );
  /** Starts a responder, kept for the final stop, its pid added to `pids`. */
  const start = async (pids: number[], script: string, args: string[]): Promise<void> => {
    const r = await responder(script, args);
    children.push(r);
    pids.push(r.pid);
  };
  for (let i = 0; i < RESPONDERS; i++) {
    await start(echoPids, './echo-responder.ts', [nats.url]);
    if (PHASES.has('batch')) {
      await start(bareBatchPids, './batch-echo-responder.ts', [nats.url, 'bench.batch-echo']);
      await start(memoryBatchPids, './batch-limiter-responder.ts', [
        'memory',
        nats.url,
        'bench.batch-memory',
      ]);
      await start(rlfBatchPids, './batch-limiter-responder.ts', [
        'rlf',
        nats.url,
        'bench.batch-rlf',
        String(redisPort),
      ]);
    }
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
  /** One `check.batch` request body of BATCH checks, as the peers get it. */
  const batchBody = (): string =>
    JSON.stringify({ requests: Array.from({ length: BATCH }, () => ({ params: params() })) });
  const ok = (s: string): boolean => s.length > 0 && !s.includes('"error"');
  const sdk: Call = async () => (await hr.check(params())).allow === true;
  const echo: Call = async () => ok((await nc.request('bench.echo', body(), { timeout: 5000 })).string());
  const rlf: Call = async () => ok((await nc.request('bench.rlf', body(), { timeout: 5000 })).string());
  const batch: Call = async () =>
    (await hr.checkBatch(Array.from({ length: BATCH }, () => ({ params: params() })))).every((r) => r.allow);

  const none: Result = { rps: Number.NaN, p50: Number.NaN, p99: Number.NaN, n: 0, errors: 0 };
  const peers = PHASES.has('sdk') || PHASES.has('open');
  // Warm up every path under load (actor activation, the JIT: seconds on 2 cores).
  for (const call of peers ? [sdk, echo, rlf] : [echo]) await closedLoop(call, WARMUP, CONCURRENCY);
  if (PHASES.has('batch')) await closedLoop(batch, Math.min(WARMUP, 3), BATCH_CONCURRENCY, BATCH);

  const sMax = peers ? await closedLoop(sdk, SECONDS, CONCURRENCY) : none;
  const eCpu = await cpuPer({ responders: echoPids, 'nats-server': [nats.pid] }, 1, () =>
    closedLoop(echo, SECONDS, CONCURRENCY),
  );
  const eMax = eCpu.result;
  const rMax = peers ? await closedLoop(rlf, SECONDS, CONCURRENCY) : none;
  const half = eMax.rps / 2;
  const open = PHASES.has('open');
  const halves = open ? await openRounds({ sdk, echo, rlf }, half) : undefined;
  const sHalf = halves?.sdk ?? none;
  const eHalf = halves?.echo ?? none;
  const rHalf = halves?.rlf ?? none;
  const bCpu = PHASES.has('batch')
    ? await cpuPer({ nodes: nodePids, 'nats-server': [nats.pid] }, BATCH, () =>
        closedLoop(batch, SECONDS, BATCH_CONCURRENCY, BATCH),
      )
    : undefined;
  const bMax = bCpu?.result ?? none;
  // The transport's bound for the same batches: three bare responders answering each with a fixed
  // reply of as many results (bench/batch-echo-responder.ts), through plain nats.js requests.
  const bareBatch: Call = async () => {
    const body = batchBody();
    return ok((await nc.request('bench.batch-echo', body, { timeout: 5000 })).string());
  };
  if (PHASES.has('batch')) await closedLoop(bareBatch, Math.min(WARMUP, 3), BATCH_CONCURRENCY, BATCH);
  const bareCpu = PHASES.has('batch')
    ? await cpuPer({ responders: bareBatchPids, 'nats-server': [nats.pid] }, BATCH, () =>
        closedLoop(bareBatch, SECONDS, BATCH_CONCURRENCY, BATCH),
      )
    : undefined;
  // Peers that decide every check of the same batches: the least a server-side limiter does
  // (GCRA on a Map in memory) and rate-limiter-flexible on Redis (bench/batch-limiter-responder.ts),
  // through plain nats.js requests whose replies are parsed and read, as a user's code would.
  const batchPeer =
    (subject: string): Call =>
    async () => {
      const body = batchBody();
      const reply = JSON.parse((await nc.request(subject, body, { timeout: 5000 })).string()) as {
        results?: Array<{ allow: boolean }>;
      };
      return reply.results?.length === BATCH && reply.results.every((r) => r.allow);
    };
  const peerCpu: Array<{ name: string; cpu: Awaited<ReturnType<typeof cpuPer>> }> = [];
  if (PHASES.has('batch')) {
    for (const [name, subject, groups] of [
      ['in-memory GCRA responders', 'bench.batch-memory', { responders: memoryBatchPids }],
      [
        'rate-limiter-flexible + Redis responders',
        'bench.batch-rlf',
        { responders: rlfBatchPids, redis: [redis.pid!] as number[] },
      ],
    ] as const) {
      const call = batchPeer(subject);
      await closedLoop(call, Math.min(WARMUP, 3), BATCH_CONCURRENCY, BATCH);
      peerCpu.push({
        name,
        cpu: await cpuPer({ ...groups, 'nats-server': [nats.pid] }, BATCH, () =>
          closedLoop(call, SECONDS, BATCH_CONCURRENCY, BATCH),
        ),
      });
    }
  }
  const stats = hr.stats;
  await hr.close();

  // Leases: a rule per account; three client processes, 90 % of their checks on 10 hot accounts.
  const leaseRun = PHASES.has('lease') ? await leaseRound(nc, 0.1, nodePids) : undefined;
  const leased = leaseRun?.results ?? [];
  // The bound of that round on this machine: the same three processes' loops with every check on
  // a hot account, so every decision is made in the clients (renewals in the background only).
  const boundRun = PHASES.has('lease') ? await leaseRound(nc, 0, nodePids) : undefined;
  const local = boundRun?.results ?? [];
  await nc.close();
  report(eMax, sMax, rMax, sHalf, eHalf, rHalf, bMax, stats, leased, half);
  console.log(`CPU per echo request: ${showCpu(eCpu.usPer)}`);
  if (bCpu !== undefined) {
    console.log(`CPU per batched decision: ${showCpu(bCpu.usPer)}`);
    console.log(`  the nodes' threads: ${showCpu(bCpu.threads)}`);
  }
  if (bareCpu !== undefined) {
    const b = bareCpu.result;
    console.log(
      `bare batch echo (same ${BATCH}-check batches, fixed replies, ${BATCH_CONCURRENCY} in flight): ${b.rps.toFixed(0)} decisions/s = ${(b.rps / eMax.rps).toFixed(1)}x echo req/s (the transport's bound); CPU per decision: ${showCpu(bareCpu.usPer)}`,
    );
  }
  for (const { name, cpu } of peerCpu) {
    console.log(
      `batch peer, ${name} (same batches, every check decided, replies parsed): ${cpu.result.rps.toFixed(0)} decisions/s = ${(cpu.result.rps / eMax.rps).toFixed(1)}x echo req/s, Headroom ${(bMax.rps / cpu.result.rps).toFixed(2)}x it; CPU per decision: ${showCpu(cpu.usPer)}`,
    );
  }
  if (leaseRun !== undefined) {
    console.log(`CPU per lease-round decision (90/10): ${showCpu(leaseRun.usPer)}`);
    console.log(`  the nodes' threads: ${showCpu(leaseRun.threads)}`);
  }
  if (local.length > 0) boundReport(local, leased, eMax);
  if (boundRun !== undefined) {
    console.log(`CPU per lease-round decision (hot only): ${showCpu(boundRun.usPer)}`);
    console.log(`  the nodes' threads: ${showCpu(boundRun.threads)}`);
  }
} finally {
  // Redis (the first child) last: its clients exit first.
  await Promise.all(children.slice(1).map((c) => c.stop()));
  await children[0]?.stop();
  await nats.stop();
  rmSync(dataRoot, { recursive: true, force: true });
}

/** A lease round's results, and the CPU each group spent per decision over its counted seconds. */
interface LeaseRound {
  results: LeaseClientResult[];
  usPer: Record<string, number>;
  /** The nodes' CPU per decision by thread. */
  threads: Record<string, number>;
}

/** Three lease client processes, `coldShare` of their checks over USERS cold accounts. */
async function leaseRound(nc: NatsConnection, coldShare: number, nodePids: number[]): Promise<LeaseRound> {
  await nc.request(
    'headroom.v1.rules.put',
    JSON.stringify({ id: 'per-acct', key: ['acct'], rate: LEASE_RATE, period: '1s', burst: LEASE_BURST }),
  );
  await new Promise((r) => setTimeout(r, 1000)); // the nodes' topology notices carry the rule
  const startAt = Date.now() + 10_000;
  const leasers = [0, 1, 2].map(() =>
    runLeaseClient(
      [
        ...['--servers', nats.url, '--key', 'acct', '--hot', HOT.join(',')],
        ...['--cold', String(coldShare > 0 ? USERS : 0), '--cold-share', String(coldShare)],
        ...['--leases-option', '--start-at', String(startAt)],
        ...['--lease-min-rate', String(LEASE_MIN_RATE)],
        ...['--warmup', String(WARMUP), '--seconds', String(SECONDS)],
        ...['--concurrency', String(Math.ceil(CONCURRENCY / 3))],
      ],
      (SECONDS + WARMUP + 90) * 1000,
    ),
  );
  // CPU over the counted seconds (the clients count from startAt + WARMUP to SECONDS later).
  const groups: Record<string, number[]> = {
    clients: leasers.map((l) => l.pid),
    nodes: nodePids,
    'nats-server': [nats.pid],
  };
  const countFrom = startAt + WARMUP * 1000;
  const at = (ms: number): Promise<CpuSnapshot> =>
    new Promise((r) =>
      setTimeout(() => r(cpuSnapshot(groups, nodePids, false)), Math.max(0, ms - Date.now())),
    );
  const [before, after] = await Promise.all([at(countFrom), at(countFrom + SECONDS * 1000)]);
  const results = await Promise.all(leasers.map((l) => l.result));
  const answered = results.reduce((s, r) => s + r.answered, 0);
  return { results, ...cpuDelta(before, after, answered) };
}

function report(
  eMax: Result,
  sMax: Result,
  rMax: Result,
  sHalf: Result,
  eHalf: Result,
  rHalf: Result,
  bMax: Result,
  stats: ClientStats,
  leased: LeaseClientResult[],
  half: number,
): void {
  const f = (n: number, d = 0): string => n.toFixed(d);
  const row = (name: string, r: Result, h: Result): string =>
    `${name.padEnd(30)}| ${f(r.rps).padStart(8)} | ${f(r.p99, 2).padStart(8)} | ${f(h.p99, 2).padStart(8)} | ${f(r.rps / eMax.rps, 2)}x echo, ${f(r.rps / rMax.rps, 2)}x RLF | ${r.errors + h.errors}`;
  console.log(
    `client SDK vs peers: ${RESPONDERS} of each, ${CONCURRENCY} in flight, ${SECONDS} s per phase, ${USERS} users, Node ${process.version}, node options: ${NODE_ARGS.join(' ') || 'defaults'}`,
  );
  console.log(
    `responder                     | req/s    | p99 (ms) | p99 at ${f(half)}/s | throughput ratio         | errors`,
  );
  if (PHASES.has('sdk') || PHASES.has('open')) console.log(row('headroom SDK (owner-routed)', sMax, sHalf));
  console.log(row('nats echo (ceiling)', eMax, eHalf));
  if (PHASES.has('sdk') || PHASES.has('open')) console.log(row('rate-limiter-flexible + Redis', rMax, rHalf));
  if (PHASES.has('batch'))
    console.log(
      `${`headroom SDK checkBatch(${BATCH})`.padEnd(30)}| ${f(bMax.rps).padStart(8)} decisions/s (${BATCH_CONCURRENCY} batches in flight; p99 ${f(bMax.p99, 2)} ms per batch) | ${f(bMax.rps / eMax.rps, 1)}x echo req/s | ${bMax.errors}`,
    );
  if (PHASES.has('sdk') || PHASES.has('batch'))
    console.log(
      `SDK messages: ${stats.routed} to owners, ${stats.anyNode} to any node, ${stats.fallbacks} fallbacks; ${f(stats.answered / Math.max(1, stats.routed + stats.anyNode), 1)} checks per message`,
    );
  const met = (b: boolean): string => (b ? 'met' : 'NOT met');
  const targets: string[] = [];
  if (PHASES.has('sdk'))
    targets.push(
      `SDK >= 0.9x echo (${met(sMax.rps >= 0.9 * eMax.rps)}), >= 1.3x RLF (${met(sMax.rps >= 1.3 * rMax.rps)})`,
    );
  if (PHASES.has('open'))
    targets.push(
      `p99 at half the echo's max <= 1.5x echo's (${f(sHalf.p99 / eHalf.p99, 2)}x: ${met(sHalf.p99 <= 1.5 * eHalf.p99)})`,
    );
  if (PHASES.has('batch')) targets.push(`batch >= 10x echo (${met(bMax.rps >= 10 * eMax.rps)})`);
  if (leased.length > 0) targets.push(...leaseReport(leased, eMax));
  console.log(`targets: ${targets.join(', ')}`);
}

/** Decisions per second of a lease round: each process's answered checks over its own run, summed. */
function decisionsPerSec(round: LeaseClientResult[]): number {
  return round.reduce((s, r) => s + r.answered / ((r.endAt - r.began) / 1000), 0);
}

/** Prints the hot-only round: the lease round's bound on this machine. */
function boundReport(local: LeaseClientResult[], leased: LeaseClientResult[], eMax: Result): void {
  const f = (n: number, d = 0): string => n.toFixed(d);
  const rps = decisionsPerSec(local);
  const decided =
    local.reduce((s, r) => s + r.stats.local, 0) /
    Math.max(
      1,
      local.reduce((s, r) => s + r.answered, 0),
    );
  const bounds = leaseBounds(local, LEASE_RATE, LEASE_BURST);
  console.log(
    `${'  bound: hot accounts only'.padEnd(30)}| ${f(rps).padStart(8)} decisions/s (same 3 processes and loops, every check on a hot account: ${f(100 * decided, 1)} % decided in the clients) | ${f(rps / eMax.rps, 1)}x echo req/s; the 90/10 round reached ${f((100 * decisionsPerSec(leased)) / rps, 0)} % of it; hot tokens within their bound: ${bounds.every((b) => b.ok) ? 'yes' : 'NO'}`,
  );
}

/** Prints the lease round's lines; returns its targets. */
function leaseReport(leased: LeaseClientResult[], eMax: Result): string[] {
  const f = (n: number, d = 0): string => n.toFixed(d);
  const leaseRps = decisionsPerSec(leased);
  const bounds = leaseBounds(leased, LEASE_RATE, LEASE_BURST);
  const local = leased.reduce((s, r) => s + r.stats.local, 0);
  const answered = leased.reduce((s, r) => s + r.answered, 0);
  const sent = leased.reduce((s, r) => s + r.stats.routed + r.stats.anyNode + r.stats.askMessages, 0);
  console.log(
    `${'headroom SDK with leases'.padEnd(30)}| ${f(leaseRps).padStart(8)} decisions/s (3 processes, ${CONCURRENCY} in flight, 90 % on ${HOT.length} hot accounts) | ${f(leaseRps / eMax.rps, 1)}x echo req/s | ${leased.reduce((s, r) => s + r.failures.length, 0)}`,
  );
  console.log(
    `lease messages: ${f((100 * local) / Math.max(1, answered), 1)} % decided in the clients; ${f(sent / Math.max(1, answered), 3)} messages per decision (${leased.map((r) => r.stats.asks).join('/')} asks in ${leased.map((r) => r.stats.askMessages).join('/')} messages)`,
  );
  const worst = bounds.reduce((a, b) =>
    b.worstWindow / b.windowBound > a.worstWindow / a.windowBound ? b : a,
  );
  console.log(
    `hot tokens (rate ${LEASE_RATE}/s, burst ${LEASE_BURST}): allowed ${bounds.map((b) => b.allowed).join(' ')} (bound ${f(bounds[0]!.wholeBound)}); worst 1 s window ${worst.worstWindow} of ${f(worst.windowBound)} (${worst.user})`,
  );
  const failures = leased.flatMap((r) => r.failures);
  if (failures.length > 0) console.log(`lease round failures (first 3): ${failures.slice(0, 3).join(' | ')}`);
  const met = (b: boolean): string => (b ? 'met' : 'NOT met');
  return [
    `leases >= 20x echo (${met(leaseRps >= 20 * eMax.rps)})`,
    `hot tokens within the GCRA bound plus one burst (${met(bounds.every((b) => b.ok))})`,
  ];
}
