/**
 * One fault run, measured: the function bench/faults.ts and
 * test/integration/faults.test.ts share, so the bench's table and the
 * test's assertions come from the same code.
 *
 * A fresh nats-server (its own port and store, restartable), 3 `headroom
 * start` processes, the rule per-user 100/s burst 100, a warm-up on
 * background users only, then `seconds` of closed-loop load with half the
 * checks on the hot users; the fault is injected `faultAtS` into it. Every
 * process it started is stopped before it resolves or rejects.
 */
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import { putRuleEverywhere, settle } from '../../test/helpers/node-process.ts';
import type { NodeProcess } from '../../test/helpers/node-process.ts';
import { RestartableNats, RssSampler, removeTempDir, startNode, stopNode, tempDir } from './cluster.ts';
import type { Detection, Fault } from './faults.ts';
import { Load } from './load.ts';
import { excessOf, serviceOf } from './measure.ts';
import type { Bound, Service, TokenExcess } from './measure.ts';
import { StatusProbe } from './status-probe.ts';
import type { ProbeStats } from './status-probe.ts';

export const RULE = { id: 'per-user', key: ['user'], rate: 100, period: '1s', burst: 100 } as const;
export const BOUND: Bound = { rate: RULE.rate, burst: RULE.burst };
export const HOT: readonly string[] = ['hot-1', 'hot-2', 'hot-3', 'hot-4', 'hot-5'];
const NODE_IDS = ['b1', 'b2', 'b3'];

const compiled = compileRule(parseRule(RULE));
const tokenOf = (user: string): string => tokenKeyOf(compiled, { user });

export interface RunOptions {
  /** Seconds of measured load. */
  seconds: number;
  /** When the fault is injected, seconds into the measured load. */
  faultAtS: number;
  /** Seconds of warm-up load on background users before the measured run. */
  warmupS: number;
  clients: number;
  /** A check not answered within this is a timeout. */
  timeoutMs: number;
  /** The one-off fault's users, and the longest (s after the fault) the run may go on to send them. */
  oneOffUsers: number;
  oneOffMaxS: number;
  /** Seconds the cluster is left without load after the run before `rssIdleMb` is read (absent or 0: not read). */
  idleS?: number;
  /** Extra `headroom start` arguments. */
  nodeArgs: readonly string[];
}

/** One fault's measured row. */
export interface FaultRow {
  fault: string;
  notes: string[];
  /** Counted from the fault's injection. */
  service: Service;
  /** When the fault counts as detected, in s after its injection, and why then. */
  detection: { afterS: number; what: string };
  /** Counted from the detection: answered fraction and time to full service from then on. */
  afterDetection: Service;
  tokens: TokenExcess[];
  /** Checks sent per second to each hot user (their demand, far above the rule's rate). */
  hotPerUserPerS: number;
  rssPeakMb: number;
  /** The largest resident set of a node `idleS` after the load stopped (VmRSS), or null when not read. */
  rssIdleMb: number | null;
  /** Checks sent per second of the run (the one-off run goes on past `seconds`). */
  checksPerS: number;
  status: ProbeStats;
  oneOffSent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fault` once on a fresh cluster under load and measures it. */
export async function runFault(fault: Fault, opts: RunOptions): Promise<FaultRow> {
  const nats = await RestartableNats.start();
  const dataRoot = await tempDir('headroom-faults-');
  const nodes: NodeProcess[] = [];
  const rss = new RssSampler();
  let nc: NatsConnection | null = null;
  try {
    // Each node joins the list once ready, so the finally stops it even if another fails to start.
    await Promise.all(
      NODE_IDS.map(async (id) => nodes.push(await startNode(id, nats, dataRoot, opts.nodeArgs))),
    );
    nodes.sort((a, b) => a.id.localeCompare(b.id)); // faults pick their victim in this order
    for (const n of nodes) rss.watch(n.child.pid);
    // A client that wants fast recovery after a nats-server restart: retry
    // for ever, every 250 ms (the default wait is 2 s).
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    await putRuleEverywhere(nc, RULE);
    await settle(nc, NODE_IDS);
    const common = {
      clients: opts.clients,
      timeoutMs: opts.timeoutMs,
      failPauseMs: 100,
      backgroundUsers: 1000,
      hotUsers: HOT,
    };
    // Warm-up on background users only (JIT, actors); the hot tokens start fresh in the measured run.
    await new Load(nc, { ...common, seconds: opts.warmupS, hotShare: 0 }).run();

    const load = new Load(nc, { ...common, seconds: opts.seconds, hotShare: 0.5 });
    const probe = new StatusProbe(nc, load);
    const notes: string[] = [];
    const running = load.run();
    await sleep(opts.faultAtS * 1000);
    const faultAtMs = load.now();
    const detection: Detection = await fault.inject({
      nats,
      nodes,
      dataRoot,
      nodeArgs: opts.nodeArgs,
      hotTokens: new Map(HOT.map((u) => [u, tokenOf(u)])),
      rss,
      load,
      oneOffUsers: opts.oneOffUsers,
      oneOffMaxMs: opts.oneOffMaxS * 1000,
      tokenOf,
      note: (line) => notes.push(`${line} (at ${(faultAtMs / 1000).toFixed(2)} s)`),
    });
    await running;
    const status = await probe.stop();
    await rss.sample();
    let rssIdleMb: number | null = null;
    if ((opts.idleS ?? 0) > 0) {
      await sleep((opts.idleS ?? 0) * 1000);
      rssIdleMb = await rss.currentMb();
    }
    const rec = load.record;
    const lastSentMs = rec.sentMs.reduce((m, t) => Math.max(m, t), 0);
    return {
      fault: fault.name,
      notes,
      service: serviceOf(rec, faultAtMs),
      detection: { afterS: (detection.atMs - faultAtMs) / 1000, what: detection.what },
      afterDetection: serviceOf(rec, detection.atMs),
      tokens: HOT.map((u) => excessOf(u, rec.allowed.get(u) ?? [], BOUND)),
      hotPerUserPerS: (rec.hotSent / HOT.length / Math.max(1, lastSentMs)) * 1000,
      rssPeakMb: rss.peakMb(),
      rssIdleMb,
      checksPerS: (rec.sentMs.length / Math.max(1, lastSentMs)) * 1000,
      status,
      oneOffSent: rec.oneOffSent,
    };
  } finally {
    rss.stop();
    await nc?.close();
    await Promise.all(nodes.map((n) => stopNode(n)));
    await nats.stop();
    await removeTempDir(dataRoot);
  }
}
