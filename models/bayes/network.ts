import { ErrorCode, InputError, show } from '../../lib/index.ts';
import type { Factor } from './factor.ts';
import { multiply, reduce, sumOut } from './factor.ts';

/** A discrete node: its states, its parents, and after fitting its CPT. */
export interface BnNodeSpec {
  name: string;
  states: readonly string[];
  parents: readonly string[];
}

/** The JSON form of a network (see {@link BayesNet.toJSON}). */
export interface BayesNetJson {
  version: 1;
  nodes: { name: string; states: string[]; parents: string[]; cpt: number[] }[];
}

/** Evidence: node name to a state name or index. */
export type Evidence = Record<string, string | number>;

/**
 * A discrete Bayesian network. CPTs are learnt from complete data with
 * Dirichlet priors whose pseudo-counts follow the node's marginal
 * (`alpha * P(state)`, so rare parent configurations fall back on the
 * marginal rather than on a uniform guess); queries are answered exactly by
 * variable elimination over the relevant ancestors only.
 */
export class BayesNet {
  readonly nodes: BnNodeSpec[];
  /** `cpts[i][config * states + s]`, parents in `nodes[i].parents` order, last parent fastest. */
  cpts: Float64Array[];
  readonly #index = new Map<string, number>();

  constructor(nodes: readonly BnNodeSpec[]) {
    this.nodes = nodes.map((n) => ({ name: n.name, states: [...n.states], parents: [...n.parents] }));
    this.nodes.forEach((n, i) => {
      if (this.#index.has(n.name))
        throw new InputError(
          ErrorCode.InvalidField,
          `bayes node names must be unique, got ${show(n.name)} twice`,
          { field: 'nodes', value: n.name },
        );
      if (n.states.length === 0)
        throw new InputError(
          ErrorCode.InvalidField,
          `bayes node ${n.name}.states must be non-empty, got []`,
          { field: `${n.name}.states`, value: [] },
        );
      this.#index.set(n.name, i);
    });
    for (const n of this.nodes)
      for (const p of n.parents)
        if (!this.#index.has(p))
          throw new InputError(
            ErrorCode.InvalidField,
            `bayes node ${n.name}.parents must name nodes, got ${show(p)}`,
            { field: `${n.name}.parents`, value: p },
          );
    this.#order();
    this.cpts = this.nodes.map((n, i) =>
      new Float64Array(this.#configs(i) * n.states.length).fill(1 / n.states.length),
    );
  }

  /** Index of a node by name; throws an InputError for an unknown one. */
  indexOf(name: string): number {
    const i = this.#index.get(name);
    if (i === undefined)
      throw new InputError(
        ErrorCode.NotFound,
        `bayes node must be one of ${this.nodes.map((n) => n.name).join(', ')}, got ${show(name)}`,
        { field: 'node', value: name },
      );
    return i;
  }

  #configs(i: number): number {
    return this.nodes[i]!.parents.reduce((a, p) => a * this.nodes[this.indexOf(p)]!.states.length, 1);
  }

  /** Topological order; throws when the parents form a cycle. */
  #order(): number[] {
    const order: number[] = [];
    const mark = new Uint8Array(this.nodes.length);
    const visit = (i: number): void => {
      if (mark[i] === 2) return;
      if (mark[i] === 1)
        throw new InputError(
          ErrorCode.InvalidField,
          `bayes network must be acyclic, got a cycle through ${show(this.nodes[i]!.name)}`,
          { field: 'parents', value: this.nodes[i]!.name },
        );
      mark[i] = 1;
      for (const p of this.nodes[i]!.parents) visit(this.indexOf(p));
      mark[i] = 2;
      order.push(i);
    };
    this.nodes.forEach((_n, i) => visit(i));
    return order;
  }

  /**
   * Learns every CPT from complete rows (`rows[r][i]` = state index of node
   * i) with Dirichlet pseudo-count `alpha` spread over the node's marginal.
   */
  fit(rows: readonly ArrayLike<number>[], alpha = 2): void {
    this.nodes.forEach((n, i) => {
      const k = n.states.length;
      const marginal = new Float64Array(k).fill(1);
      for (const r of rows) marginal[r[i]!]! += 1;
      const total = marginal.reduce((a, b) => a + b, 0);
      const counts = new Float64Array(this.#configs(i) * k);
      const pidx = n.parents.map((p) => this.indexOf(p));
      for (const r of rows) counts[this.#config(pidx, r) * k + r[i]!]! += 1;
      for (let c = 0; c < counts.length / k; c++) {
        let sum = 0;
        for (let s = 0; s < k; s++) sum += counts[c * k + s]! + (alpha * marginal[s]!) / total;
        for (let s = 0; s < k; s++)
          counts[c * k + s] = (counts[c * k + s]! + (alpha * marginal[s]!) / total) / sum;
      }
      this.cpts[i] = counts;
    });
  }

  #config(pidx: readonly number[], row: ArrayLike<number>): number {
    let c = 0;
    for (const p of pidx) c = c * this.nodes[p]!.states.length + row[p]!;
    return c;
  }

  #state(i: number, v: string | number): number {
    const n = this.nodes[i]!;
    const s = typeof v === 'number' ? v : n.states.indexOf(v);
    if (!Number.isInteger(s) || s < 0 || s >= n.states.length)
      throw new InputError(
        ErrorCode.InvalidField,
        `evidence ${n.name} must be one of ${n.states.join(', ')}, got ${show(v)}`,
        { field: `evidence.${n.name}`, value: v },
      );
    return s;
  }

  /** P(target | evidence) by variable elimination. */
  query(target: string, evidence: Evidence = {}): Float64Array {
    const t = this.indexOf(target);
    const ev = new Map<number, number>();
    for (const [name, v] of Object.entries(evidence))
      ev.set(this.indexOf(name), this.#state(this.indexOf(name), v));
    if (ev.has(t)) {
      const p = new Float64Array(this.nodes[t]!.states.length);
      p[ev.get(t)!] = 1;
      return p;
    }
    // Only the ancestors of the target and the evidence matter (barren nodes sum to 1).
    const keep = new Set<number>();
    const up = (i: number): void => {
      if (keep.has(i)) return;
      keep.add(i);
      for (const p of this.nodes[i]!.parents) up(this.indexOf(p));
    };
    up(t);
    for (const e of ev.keys()) up(e);
    let factors: Factor[] = [...keep].map((i) => {
      const n = this.nodes[i]!;
      const vars = [...n.parents.map((p) => this.indexOf(p)), i];
      let f: Factor = { vars, card: vars.map((v) => this.nodes[v]!.states.length), table: this.cpts[i]! };
      for (const [e, s] of ev) f = reduce(f, e, s);
      return f;
    });
    const hidden = [...keep].filter((i) => i !== t && !ev.has(i));
    while (hidden.length > 0) {
      // Greedy min-size elimination order.
      let best = 0;
      let bestSize = Infinity;
      hidden.forEach((v, j) => {
        const vars = new Set<number>();
        for (const f of factors) if (f.vars.includes(v)) for (const x of f.vars) vars.add(x);
        const size = [...vars].reduce((a, x) => a * this.nodes[x]!.states.length, 1);
        if (size < bestSize) {
          bestSize = size;
          best = j;
        }
      });
      const v = hidden.splice(best, 1)[0]!;
      const touching = factors.filter((f) => f.vars.includes(v));
      factors = factors.filter((f) => !f.vars.includes(v));
      if (touching.length > 0) factors.push(sumOut(touching.reduce(multiply), v));
    }
    let joint = factors.reduce(multiply);
    for (const v of joint.vars) if (v !== t) joint = sumOut(joint, v);
    const z = joint.table.reduce((a, b) => a + b, 0);
    return joint.table.map((x) => x / z);
  }

  /** The network as JSON: structure and CPTs. */
  toJSON(): BayesNetJson {
    return {
      version: 1,
      nodes: this.nodes.map((n, i) => ({
        name: n.name,
        states: [...n.states],
        parents: [...n.parents],
        cpt: [...this.cpts[i]!],
      })),
    };
  }

  /** Rebuilds a network saved with {@link toJSON}; checks CPT sizes. */
  static fromJSON(json: BayesNetJson): BayesNet {
    if (json?.version !== 1 || !Array.isArray(json.nodes))
      throw new InputError(
        ErrorCode.InvalidField,
        `bayes network JSON must have version 1 and nodes, got ${show(json)}`,
        { field: 'bayes', value: json },
      );
    const net = new BayesNet(json.nodes);
    json.nodes.forEach((n, i) => {
      if (n.cpt.length !== net.cpts[i]!.length)
        throw new InputError(
          ErrorCode.InvalidField,
          `bayes node ${n.name}.cpt must have ${net.cpts[i]!.length} entries, got ${n.cpt.length}`,
          { field: `${n.name}.cpt`, value: n.cpt.length },
        );
      net.cpts[i] = Float64Array.from(n.cpt);
    });
    return net;
  }
}
