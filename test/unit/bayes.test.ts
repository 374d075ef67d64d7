import test from 'ava';
import { InputError } from '../../lib/index.ts';
import { BayesForecaster, BayesNet, binnedQuantile, learnStructure } from '../../models/index.ts';
import type { SeriesView } from '../../models/index.ts';

// The textbook sprinkler network (Russell & Norvig): cloudy -> sprinkler, rain -> wet.
function sprinkler(): BayesNet {
  const net = new BayesNet([
    { name: 'cloudy', states: ['no', 'yes'], parents: [] },
    { name: 'sprinkler', states: ['off', 'on'], parents: ['cloudy'] },
    { name: 'rain', states: ['no', 'yes'], parents: ['cloudy'] },
    { name: 'wet', states: ['no', 'yes'], parents: ['sprinkler', 'rain'] },
  ]);
  net.cpts = [
    Float64Array.from([0.5, 0.5]),
    Float64Array.from([0.5, 0.5, 0.9, 0.1]),
    Float64Array.from([0.8, 0.2, 0.2, 0.8]),
    Float64Array.from([1, 0, 0.1, 0.9, 0.1, 0.9, 0.01, 0.99]),
  ];
  return net;
}

/** Brute-force P(target | evidence) by enumerating the joint. */
function enumerate(net: BayesNet, target: number, ev: Record<number, number>): number[] {
  const card = net.nodes.map((n) => n.states.length);
  const out = new Array<number>(card[target]!).fill(0);
  const assign = new Array<number>(card.length).fill(0);
  const total = card.reduce((a, b) => a * b, 1);
  for (let k = 0; k < total; k++) {
    let r = k;
    for (let i = card.length - 1; i >= 0; i--) {
      assign[i] = r % card[i]!;
      r = Math.floor(r / card[i]!);
    }
    if (Object.entries(ev).some(([i, s]) => assign[Number(i)] !== s)) continue;
    let p = 1;
    net.nodes.forEach((n, i) => {
      let c = 0;
      for (const q of n.parents) c = c * card[net.indexOf(q)]! + assign[net.indexOf(q)]!;
      p *= net.cpts[i]![c * card[i]! + assign[i]!]!;
    });
    out[assign[target]!]! += p;
  }
  const z = out.reduce((a, b) => a + b, 0);
  return out.map((x) => x / z);
}

test('bayes - variable elimination matches brute-force enumeration', (t) => {
  const net = sprinkler();
  const cases: [string, Record<string, string>, number, Record<number, number>][] = [
    ['rain', { wet: 'yes' }, 2, { 3: 1 }],
    ['cloudy', { wet: 'yes', sprinkler: 'off' }, 0, { 3: 1, 1: 0 }],
    ['wet', {}, 3, {}],
    ['sprinkler', { rain: 'yes' }, 1, { 2: 1 }],
  ];
  for (const [target, ev, ti, evi] of cases) {
    const got = [...net.query(target, ev)];
    const want = enumerate(net, ti, evi);
    got.forEach((p, i) => t.true(Math.abs(p - want[i]!) < 1e-12, `${target} ${JSON.stringify(ev)}`));
  }
  t.true(Math.abs(net.query('rain', { wet: 'yes' })[1]! - 0.7079) < 1e-3);
});

test('bayes - CPTs learnt with Dirichlet priors approach the data frequencies; JSON round trip', (t) => {
  const net = new BayesNet([
    { name: 'a', states: ['0', '1'], parents: [] },
    { name: 'b', states: ['0', '1', '2'], parents: ['a'] },
  ]);
  const rows: number[][] = [];
  for (let i = 0; i < 1000; i++) rows.push([i % 4 === 0 ? 1 : 0, i % 4 === 0 ? 2 : i % 2]);
  net.fit(rows, 2);
  const pB = net.query('b', { a: '1' });
  t.true(pB[2]! > 0.98);
  t.true(Math.abs(net.query('a')[1]! - 0.25) < 0.01);
  const copy = BayesNet.fromJSON(JSON.parse(JSON.stringify(net.toJSON())));
  t.deepEqual([...copy.query('b', { a: 0 })], [...net.query('b', { a: 0 })]);
  t.throws(
    () =>
      BayesNet.fromJSON({ version: 1, nodes: [{ name: 'a', states: ['x'], parents: [], cpt: [0.5, 0.5] }] }),
    { instanceOf: InputError, message: 'bayes node a.cpt must have 1 entries, got 2' },
  );
});

test('bayes - bad structure and evidence are clear errors', (t) => {
  t.throws(() => new BayesNet([{ name: 'a', states: ['x'], parents: ['b'] }]), {
    instanceOf: InputError,
    message: 'bayes node a.parents must name nodes, got "b"',
  });
  t.throws(
    () =>
      new BayesNet([
        { name: 'a', states: ['x'], parents: ['b'] },
        { name: 'b', states: ['x'], parents: ['a'] },
      ]),
    { instanceOf: InputError, message: /must be acyclic/ },
  );
  t.throws(() => sprinkler().query('rain', { wet: 'damp' }), {
    instanceOf: InputError,
    message: 'evidence wet must be one of no, yes, got "damp"',
  });
  t.throws(() => sprinkler().query('snow'), {
    instanceOf: InputError,
    message: /bayes node must be one of cloudy, sprinkler, rain, wet, got "snow"/,
  });
});

test('bayes - hill climbing on BIC finds the dependent pair and leaves the independent node alone', (t) => {
  let seed = 3;
  const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const rows: number[][] = [];
  for (let i = 0; i < 2000; i++) {
    const a = rnd() < 0.5 ? 1 : 0;
    const b = rnd() < (a ? 0.9 : 0.1) ? 1 : 0;
    rows.push([a, b, rnd() < 0.5 ? 1 : 0]);
  }
  const nodes = ['a', 'b', 'c'].map((name) => ({ name, states: ['0', '1'], parents: [] as string[] }));
  const learnt = learnStructure(nodes, rows);
  const edges = learnt.flatMap((n) => n.parents.map((p) => `${p}->${n.name}`));
  t.is(edges.length, 1);
  t.true(edges[0] === 'a->b' || edges[0] === 'b->a');
});

test('bayes - binned quantiles interpolate within bins', (t) => {
  t.is(binnedQuantile([0.5, 0.5], [1], 0, 2, 0.5), 1);
  t.is(binnedQuantile([0.5, 0.5], [1], 0, 2, 0.25), 0.5);
  t.is(binnedQuantile([0, 1], [1], 0, 3, 0.5), 2);
});

test('bayes - forecaster learns a daily pattern, gives bursts and cold starts, without look-ahead', async (t) => {
  const hour = 3_600_000;
  const n = 24 * 60;
  const values = Float64Array.from(
    { length: n },
    (_v, i) => (i % 24 >= 8 && i % 24 < 20 ? 100 : 10) + (i % 7),
  );
  const s: SeriesView = {
    values,
    timestamps: Float64Array.from({ length: n }, (_v, i) => Date.UTC(2020, 0, 6) + i * hour),
  };
  const f = new BayesForecaster({ horizons: [1, 4], scaleWindow: 24 });
  await f.fit([{ values: values.subarray(0, 1200), timestamps: s.timestamps.subarray(0, 1200) }]);
  const [q] = await f.predict([s], 1200, 1400);
  let err = 0;
  let base = 0;
  for (let j = 0; j < 200; j++) {
    t.true(q!.p10[1]![j]! <= q!.p50[1]![j]! && q!.p50[1]![j]! <= q!.p90[1]![j]!);
    err += Math.abs(q!.p50[1]![j]! - values[1200 + j + 4]!);
    base += Math.abs(values[1200 + j]! - values[1200 + j + 4]!);
  }
  t.true(err < 0.5 * base, `bayes ${err} vs naive ${base}`);
  const changed: SeriesView = {
    values: values.map((v, i) => (i > 1300 ? v * 9 : v)),
    timestamps: s.timestamps,
  };
  const [r] = await f.predict([changed], 1200, 1301);
  t.deepEqual(r!.p50[0], (await f.predict([s], 1200, 1301))[0]!.p50[0]);
  const pb = f.burstProbability(
    { values: values.subarray(0, 1207), timestamps: s.timestamps.subarray(0, 1207) },
    1,
  );
  t.true(pb >= 0 && pb <= 1);
  const [lo, mid, hi] = f.coldStart(Date.UTC(2020, 2, 4, 12), 0, 50);
  t.true(lo <= mid && mid <= hi && mid > 0);
});

test('bayes - the forecaster can learn its structure by BIC and still forecasts', async (t) => {
  const n = 24 * 30;
  const values = Float64Array.from(
    { length: n },
    (_v, i) => (i % 24 >= 8 && i % 24 < 20 ? 100 : 10) + (i % 5),
  );
  const s: SeriesView = {
    values,
    timestamps: Float64Array.from({ length: n }, (_v, i) => Date.UTC(2020, 0, 6) + i * 3_600_000),
  };
  const f = new BayesForecaster({ horizons: [2], scaleWindow: 24, learnStructure: true });
  await f.fit([s]);
  const demand = f.models[0]!.net.nodes.find((x) => x.name === 'demand')!;
  t.true(demand.parents.length > 0, 'demand has parents');
  const [q] = await f.predict([s], 600, 610);
  t.true(q!.p50[0]!.every((x) => Number.isFinite(x)));
});
