// Count-and-timeout latches that ask every node itself, through its own HTTP
// API (start the nodes with `--http-port 0`). The NATS API answers from
// whichever node the queue group picks, so it can only say "very likely
// every node"; these say "every node".
import type { NodeProcess } from './node-process.ts';
import { waitUntil } from './node-process.ts';

/** One node's JSON answer to GET `path`; undefined while it cannot answer. */
async function getJson<T>(node: NodeProcess, path: string): Promise<T | undefined> {
  if (node.httpUrl === null) throw new Error(`node ${node.id} has no HTTP API: start it with --http-port 0`);
  try {
    const res = await fetch(`${node.httpUrl}${path}`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

/**
 * Waits until every node in `nodes` serves `rule` (as `rules.put` returned
 * it) from GET /v1/rules/:id; resolves the milliseconds that took.
 */
export async function ruleOnEveryNode(
  nodes: readonly NodeProcess[],
  rule: { id: string },
  timeoutMs: number,
): Promise<number> {
  const want = JSON.stringify(rule);
  const path = `/v1/rules/${encodeURIComponent(rule.id)}`;
  const started = performance.now();
  await waitUntil(
    async () => {
      const got = await Promise.all(nodes.map((n) => getJson<{ rule?: unknown }>(n, path)));
      return got.every((r) => JSON.stringify(r?.rule) === want);
    },
    timeoutMs,
    `rule ${rule.id} on nodes ${nodes.map((n) => n.id).join(',')}`,
  );
  return performance.now() - started;
}

/**
 * Waits until every node in `nodes` lists exactly `nodes` in GET /v1/status,
 * each with its actor count (a node that left or died is no longer listed at
 * all); resolves the milliseconds that took.
 */
export async function membersOnEveryNode(nodes: readonly NodeProcess[], timeoutMs: number): Promise<number> {
  const want = JSON.stringify(nodes.map((n) => n.id).sort());
  const started = performance.now();
  await waitUntil(
    async () => {
      const got = await Promise.all(
        nodes.map((n) => getJson<{ nodes?: Array<{ id: string; actors: number | null }> }>(n, '/v1/status')),
      );
      return got.every(
        (r) =>
          r?.nodes !== undefined &&
          r.nodes.every((m) => m.actors !== null) &&
          JSON.stringify(r.nodes.map((m) => m.id).sort()) === want,
      );
    },
    timeoutMs,
    `nodes ${nodes.map((n) => n.id).join(',')} to list exactly each other`,
  );
  return performance.now() - started;
}
