/**
 * The faults, each injected once into a running cluster under load. Node
 * faults hit the node that owns the most hot tokens (rendezvous placement
 * over the live node ids, as the nodes compute it), so that the fault
 * touches the tokens being measured; each says which node it hit.
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

export interface Fault {
  name: string;
  inject(ctx: FaultContext): Promise<void>;
}

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
    node.child.kill('SIGSTOP');
    await sleep(ms);
    node.child.kill('SIGCONT');
  },
});

export const FAULTS: readonly Fault[] = [
  {
    name: 'sigkill',
    async inject(ctx) {
      const { node, owns } = victim(ctx);
      ctx.note(`SIGKILL ${node.id} (owner of ${owns.join(', ')})`);
      await ctx.rss.sample(); // its peak, before it is gone
      await node.stop('SIGKILL');
      ctx.nodes.splice(ctx.nodes.indexOf(node), 1);
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
    },
  },
  {
    name: 'leave',
    async inject(ctx) {
      const { node, owns } = victim(ctx);
      await ctx.rss.sample();
      const t = performance.now();
      const code = await node.stop('SIGTERM');
      ctx.nodes.splice(ctx.nodes.indexOf(node), 1);
      ctx.note(
        `SIGTERM ${node.id} (owner of ${owns.join(', ')}): left in ${((performance.now() - t) / 1000).toFixed(2)} s, exit code ${code}`,
      );
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
      const t = performance.now();
      const node = await startNode(id, ctx.nats, ctx.dataRoot, ctx.nodeArgs);
      ctx.rss.watch(node.child.pid);
      ctx.nodes.push(node);
      ctx.note(
        `started ${id} (new owner of ${wins.join(', ')}): ready ${((performance.now() - t) / 1000).toFixed(2)} s after the spawn`,
      );
    },
  },
  {
    name: 'one-off',
    async inject(ctx) {
      const target = ctx.nodes[0] as NodeProcess;
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
    },
  },
];
