/**
 * Discrete factors for exact inference: a table over variables (ids), the
 * last variable varying fastest. Product, marginalisation and evidence
 * reduction are what variable elimination needs (Koller & Friedman, ch. 9).
 */
export interface Factor {
  vars: number[];
  card: number[];
  table: Float64Array;
}

function strides(card: readonly number[]): number[] {
  const s = new Array<number>(card.length);
  let acc = 1;
  for (let i = card.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= card[i]!;
  }
  return s;
}

/** The product of two factors over the union of their variables. */
export function multiply(a: Factor, b: Factor): Factor {
  const vars = [...a.vars];
  const card = [...a.card];
  b.vars.forEach((v, i) => {
    if (!vars.includes(v)) {
      vars.push(v);
      card.push(b.card[i]!);
    }
  });
  const size = card.reduce((x, y) => x * y, 1);
  const table = new Float64Array(size);
  const sa = strides(a.card);
  const sb = strides(b.card);
  const ia = vars.map((v) => a.vars.indexOf(v));
  const ib = vars.map((v) => b.vars.indexOf(v));
  const assign = new Array<number>(vars.length).fill(0);
  for (let idx = 0; idx < size; idx++) {
    let pa = 0;
    let pb = 0;
    for (let k = 0; k < vars.length; k++) {
      if (ia[k]! >= 0) pa += assign[k]! * sa[ia[k]!]!;
      if (ib[k]! >= 0) pb += assign[k]! * sb[ib[k]!]!;
    }
    table[idx] = a.table[pa]! * b.table[pb]!;
    for (let k = vars.length - 1; k >= 0; k--) {
      if (++assign[k]! < card[k]!) break;
      assign[k] = 0;
    }
  }
  return { vars, card, table };
}

/** Sums variable `v` out of `f`. */
export function sumOut(f: Factor, v: number): Factor {
  const d = dropVar(f, v);
  if (d === undefined) return f;
  const { table, inner, c } = d;
  for (let idx = 0; idx < f.table.length; idx++) {
    const hi = Math.floor(idx / (inner * c));
    const lo = idx % inner;
    table[hi * inner + lo]! += f.table[idx]!;
  }
  return { vars: d.vars, card: d.card, table };
}

/** Keeps only the entries where variable `v` takes `state`, dropping `v`. */
export function reduce(f: Factor, v: number, state: number): Factor {
  const d = dropVar(f, v);
  if (d === undefined) return f;
  const { table, inner, c } = d;
  for (let o = 0; o < table.length; o++) {
    const hi = Math.floor(o / inner);
    const lo = o % inner;
    table[o] = f.table[hi * inner * c + state * inner + lo]!;
  }
  return { vars: d.vars, card: d.card, table };
}

/**
 * `f`'s layout without variable `v` (an empty table for it, the stride of
 * `v` and its cardinality), or undefined when `f` has no `v`.
 */
function dropVar(
  f: Factor,
  v: number,
): { vars: number[]; card: number[]; table: Float64Array; inner: number; c: number } | undefined {
  const at = f.vars.indexOf(v);
  if (at < 0) return undefined;
  const card = f.card.filter((_x, i) => i !== at);
  return {
    vars: f.vars.filter((_x, i) => i !== at),
    card,
    table: new Float64Array(card.reduce((x, y) => x * y, 1)),
    inner: strides(f.card)[at]!,
    c: f.card[at]!,
  };
}
