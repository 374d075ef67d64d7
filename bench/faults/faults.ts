/**
 * The faults, each injected once into a running cluster under load. Node
 * faults hit the node that owns the most hot tokens (rendezvous placement
 * over the live node ids, as the nodes compute it), so that the fault
 * touches the tokens being measured; each says which node it hit.
 *
 * Each fault also says when the cluster can be held to have detected it
 * (its {@link Detection}); checks sent from then on must be answered
 * (issue 11: >= 99.9 %). Per fault:
 * - sigkill: the kill + {@link DETECT_MS} (a node silent for 3 Moleculer
 *   heartbeats of 1 s is gone; the "full service within 3 s").
 * - sigstopN: the stop + {@link DETECT_MS} (the heartbeat timeout, and the
 *   nats-server's drop of a connection that misses `ping_max` 2 pings sent
 *   every `ping_interval` 1 s, see cluster.ts), or the SIGCONT if sooner.
 * - nats-restart: the server is back (ready again on its port); while it is
 *   down nothing can be answered.
 * - leave: the SIGTERM (a leaving node announces it); join: the spawn (the
 *   new node takes tokens only once it has joined); one-off: its start.
 */
import { ownerOf } from '../../lib/index.ts';
import type { NodeProcess } from '../../test/helpers/node-process.ts';
import { startNode } from './cluster.ts';
import type { RestartableNats, RssSampler } from './cluster.ts';
import type { Load } from './load.ts';

export interface FaultContext {
  nats: RestartableNats;
  /** The live nodes; a fault that adds or removes one updates this list. */
  nodes: NodeProcess[];
  dataRoot: string;
  nodeArgs: readonly string[];
  /** Hot user -> its token key. */
  hotTokens: ReadonlyMap<string, string>;
  rss: RssSampler;
  load: Load;
  /** The one-off users to send in the one-off fault, and the longest the run may go on to send them. */
  oneOffUsers: number;
  oneOffMaxMs: number;
  tokenOf(user: string): string;
  note(line: string): void;
}

/** When a fault counts as detected, in ms since the load's start, and why then. */
export interface Detection {
  atMs: number;
  what: string;
}

export interface Fault {
  name: string;
  /** Injects the fault; resolves once it is over (a stopped node resumed, a server back), with its detection. */
  inject(ctx: FaultContext): Promise<Detection>;
}

/**
 * How long the cluster may take to notice a node that went silent: the
 * nodes' Moleculer heartbeat timeout (3 x `heartbeatMs`, 1 s by default in
 * services/runtime/node-options.ts) and the nats-server's stale-connection
 * drop (`ping_interval` 1 s x (`ping_max` 2 + 1)) alike.
 */
export const DETECT_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Hot users owned by `nodeId` when `nodeIds` are the members. */
export function hotOwnedBy(ctx: FaultContext, nodeId: string, nodeIds: readonly string[]): string[] {
  return [...ctx.hotTokens].filter(([, token]) => ownerOf(token, nodeIds) === nodeId).map(([u]) => u);
}

/** The live node that owns the most hot tokens. */
function victim(ctx: FaultContext): { node: NodeProcess; owns: string[] } {
  const ids = ctx.nodes.map((n) => n.id);
  let best: { node: NodeProcess; owns: string[] } | null = null;
  for (const node of ctx.nodes) {
    const owns = hotOwnedBy(ctx, node.id, ids);
    if (best === null || owns.length > best.owns.length) best = { node, owns };
  }
  if (best === null || best.owns.length === 0) throw new Error('no live node owns a hot token');
  return best;
}

const sigstop = (ms: number): Fault => ({
  name: `sigstop${ms / 1000}`,
  async inject(ctx) {
    const { node, owns } = victim(ctx);
    ctx.note(`SIGSTOP ${node.id} (owner of ${owns.join(', ')}) for ${ms} ms, then SIGCONT`);
    const at = ctx.load.now();
    node.child.kill('SIGSTOP');
    await sleep(ms);
    node.child.kill('SIGCONT');
    return ms <= DETECT_MS
      ? { atMs: ctx.load.now(), what: 'SIGCONT, before the heartbeat timeout' }
      : { atMs: at + DETECT_MS, what: `SIGSTOP + ${DETECT_MS} ms (heartbeat timeout, stale connection)` };
  },
});

export const FAULTS: readonly Fault[] = [
  {
    name: 'sigkill',
    async inject(ctx) {
      const { node, owns } = victim(ctx);
      ctx.note(`SIGKILL ${node.id} (owner of ${owns.join(', ')})`);
      await ctx.rss.sample(); // its peak, before it is gone
      const at = ctx.load.now();
      await node.stop('SIGKILL');
      ctx.nodes.splice(ctx.nodes.indexOf(node), 1);
      return { atMs: at + DETECT_MS, what: `SIGKILL + ${DETECT_MS} ms (heartbeat timeout)` };
    },
  },
  sigstop(1500),
  sigstop(5000),
  {
    name: 'nats-restart',
    async inject(ctx) {
      const t = performance.now();
      await ctx.nats.crash();
      await sleep(1750);
      await ctx.nats.up();
      ctx.note(
        `nats-server SIGKILLed, started again on port ${ctx.nats.port} with the same store ${((performance.now() - t) / 1000).toFixed(2)} s later`,
      );
      return { atMs: ctx.load.now(), what: 'nats-server ready again' };
    },
  },
  {
    name: 'leave',
    async inject(ctx) {
      const { node, owns } = victim(ctx);
      await ctx.rss.sample();
      const at = ctx.load.now();
      const t = performance.now();
      const code = await node.stop('SIGTERM');
      ctx.nodes.splice(ctx.nodes.indexOf(node), 1);
      ctx.note(
        `SIGTERM ${node.id} (owner of ${owns.join(', ')}): left in ${((performance.now() - t) / 1000).toFixed(2)} s, exit code ${code}`,
      );
      return { atMs: at, what: 'SIGTERM (the node announces its leave)' };
    },
  },
  {
    name: 'join',
    async inject(ctx) {
      const ids = ctx.nodes.map((n) => n.id);
      // A new id that wins at least one hot token, so the join moves one.
      let id = '';
      let wins: string[] = [];
      for (let i = ids.length + 1; wins.length === 0; i++) {
        id = `b${i}`;
        wins = hotOwnedBy(ctx, id, [...ids, id]);
      }
      const at = ctx.load.now();
      const t = performance.now();
      const node = await startNode(id, ctx.nats, ctx.dataRoot, ctx.nodeArgs);
      ctx.rss.watch(node.child.pid);
      ctx.nodes.push(node);
      ctx.note(
        `started ${id} (new owner of ${wins.join(', ')}): ready ${((performance.now() - t) / 1000).toFixed(2)} s after the spawn`,
      );
      return { atMs: at, what: 'the spawn of the new node' };
    },
  },
  {
    name: 'one-off',
    async inject(ctx) {
      const target = ctx.nodes[0] as NodeProcess;
      const at = ctx.load.now();
      const ids = ctx.nodes.map((n) => n.id);
      let i = 0;
      let made = 0;
      ctx.load.oneOff({
        fromMs: ctx.load.now(),
        untilMs: ctx.load.now() + ctx.oneOffMaxMs,
        next: () => {
          if (made >= ctx.oneOffUsers) return undefined;
          // Only users whose token the target owns, so they all land on it.
          for (;;) {
            const user = `oneoff-${i++}`;
            if (ownerOf(ctx.tokenOf(user), ids) === target.id) {
              made++;
              return user;
            }
          }
        },
      });
      ctx.note(
        `${ctx.oneOffUsers} distinct one-off users owned by ${target.id}, in place of the background users`,
      );
      return { atMs: at, what: 'the first one-off user' };
    },
  },
];
