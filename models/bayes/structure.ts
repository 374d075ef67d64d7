import type { BnNodeSpec } from './network.ts';

/** Options of {@link learnStructure}. */
export interface StructureOptions {
  /** Most parents per node. @default 3 */
  maxParents: number;
  /** Most hill-climbing moves. @default 40 */
  maxMoves: number;
  /** Edges never considered, as `[parent, child]` names (e.g. from the future to the past). */
  forbidden?: readonly [string, string][];
}

/** BIC of one node given a parent set (log-likelihood minus 0.5 log N per free parameter). */
export function nodeBic(
  card: readonly number[],
  node: number,
  parents: readonly number[],
  rows: readonly ArrayLike<number>[],
): number {
  const k = card[node]!;
  const configs = parents.reduce((a, p) => a * card[p]!, 1);
  const counts = new Float64Array(configs * k);
  for (const r of rows) {
    let c = 0;
    for (const p of parents) c = c * card[p]! + r[p]!;
    counts[c * k + r[node]!]! += 1;
  }
  let ll = 0;
  for (let c = 0; c < configs; c++) {
    let tot = 0;
    for (let s = 0; s < k; s++) tot += counts[c * k + s]!;
    for (let s = 0; s < k; s++) {
      const n = counts[c * k + s]!;
      if (n > 0) ll += n * Math.log(n / tot);
    }
  }
  return ll - 0.5 * Math.log(Math.max(2, rows.length)) * configs * (k - 1);
}

/**
 * Hill climbing on BIC over edge additions and removals, starting from the
 * given structure, keeping the graph acyclic (Heckerman et al. 1995). Returns
 * new node specs with the learnt parents.
 */
export function learnStructure(
  nodes: readonly BnNodeSpec[],
  rows: readonly ArrayLike<number>[],
  options: Partial<StructureOptions> = {},
): BnNodeSpec[] {
  const maxParents = options.maxParents ?? 3;
  const maxMoves = options.maxMoves ?? 40;
  const names = nodes.map((n) => n.name);
  const card = nodes.map((n) => n.states.length);
  const parents = nodes.map((n) => n.parents.map((p) => names.indexOf(p)));
  const forbidden = new Set(
    (options.forbidden ?? []).map(([a, b]) => `${names.indexOf(a)}>${names.indexOf(b)}`),
  );
  const cache = new Map<string, number>();
  const score = (v: number, ps: readonly number[]): number => {
    const key = `${v}|${[...ps].sort((a, b) => a - b).join(',')}`;
    let s = cache.get(key);
    if (s === undefined) {
      s = nodeBic(card, v, ps, rows);
      cache.set(key, s);
    }
    return s;
  };
  const reaches = (from: number, to: number): boolean => {
    // Is there a directed path from -> ... -> to (following child links)?
    const stack = [from];
    const seen = new Set<number>();
    while (stack.length) {
      const x = stack.pop()!;
      if (x === to) return true;
      if (seen.has(x)) continue;
      seen.add(x);
      parents.forEach((ps, child) => ps.includes(x) && stack.push(child));
    }
    return false;
  };
  for (let move = 0; move < maxMoves; move++) {
    let best = 1e-9;
    let apply: (() => void) | undefined;
    for (let v = 0; v < nodes.length; v++) {
      const base = score(v, parents[v]!);
      for (let u = 0; u < nodes.length; u++) {
        if (u === v) continue;
        const ps = parents[v]!;
        if (ps.includes(u)) {
          const gain =
            score(
              v,
              ps.filter((p) => p !== u),
            ) - base;
          if (gain > best) {
            best = gain;
            apply = () => (parents[v] = ps.filter((p) => p !== u));
          }
        } else if (ps.length < maxParents && !forbidden.has(`${u}>${v}`) && !reaches(v, u)) {
          const gain = score(v, [...ps, u]) - base;
          if (gain > best) {
            best = gain;
            apply = () => (parents[v] = [...ps, u]);
          }
        }
      }
    }
    if (!apply) break;
    apply();
  }
  return nodes.map((n, i) => ({
    name: n.name,
    states: [...n.states],
    parents: parents[i]!.map((p) => names[p]!),
  }));
}
