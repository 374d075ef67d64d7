// The client's topology (client/topology.ts): strict parsing of what a node
// sends, owners computed exactly as the nodes compute them, and nodes left
// out for a while after "no responders".
import test from 'ava';
import { ClientTopology, parseTopology } from '../../client/index.ts';
import { InputError, Placement, RuleSet, compileRule, parseRule, tokenKeyOf } from '../../lib/index.ts';
import { topologyOf } from '../../services/api/topology.ts';

const RULES = [
  parseRule({ id: 'per-user', key: ['user'], rate: 10, period: '1s', priority: 1 }),
  parseRule({ id: 'per-op', key: ['op'], match: { tier: ['free', 1] }, rate: 100, period: '1s' }),
];
const NODES = ['n3', 'n1', 'n2'];

test('client topology - a node topology round-trips and versions agree for equal views', (t) => {
  const a = topologyOf('n1', NODES, RULES);
  const b = topologyOf('n2', [...NODES].reverse(), [...RULES].reverse());
  t.is(a.version, b.version);
  t.deepEqual(a.nodes, ['n1', 'n2', 'n3']);
  t.not(topologyOf('n1', ['n1', 'n2'], RULES).version, a.version);
  const parsed = parseTopology(JSON.parse(JSON.stringify(a)));
  t.deepEqual(parsed.rules, a.rules);
});

test('client topology - owners are the nodes own: first matching rule, its token, rendezvous placement', (t) => {
  const view = new ClientTopology(parseTopology(topologyOf('n1', NODES, RULES)));
  const set = new RuleSet(RULES.map(compileRule));
  const placement = new Placement(NODES);
  const now = Date.now();
  const owners = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const params = { user: `u${i}`, op: `o${i % 7}`, tier: i % 2 === 0 ? 'free' : 'paid' };
    const first = set.matching(params, now)[0]!;
    const want = placement.owner(tokenKeyOf(first, params));
    t.is(view.ownerOf({ params, cost: 1 }, now), want);
    owners.add(want!);
  }
  t.deepEqual([...owners].sort(), ['n1', 'n2', 'n3']);
  // No rule matches: any node.
  t.is(view.ownerOf({ params: { op: 'x' }, cost: 1 }, now), undefined);
});

test('client topology - a suspected node is left out until its suspicion runs out', (t) => {
  const view = new ClientTopology(parseTopology(topologyOf('n1', NODES, RULES)));
  const now = 1_000_000;
  const owned = Array.from({ length: 200 }, (_, i) => ({ params: { user: `s${i}` }, cost: 1 })).filter(
    (r) => view.ownerOf(r, now) === 'n2',
  );
  t.true(owned.length > 20);
  view.suspect('n2', now + 500, now);
  t.true(owned.every((r) => view.ownerOf(r, now + 100) !== 'n2'));
  // A newer view inherits the suspicion while it runs.
  const next = new ClientTopology(parseTopology(topologyOf('n1', NODES, [...RULES])));
  next.inherit(view, now + 200);
  t.true(owned.every((r) => next.ownerOf(r, now + 200) !== 'n2'));
  t.true(owned.every((r) => next.ownerOf(r, now + 600) === 'n2'));
});

test('client topology - a malformed topology is refused naming the field', (t) => {
  const good = topologyOf('n1', NODES, RULES);
  for (const [bad, field] of [
    [null, 'topology'],
    [{ ...good, version: 'xyz' }, 'topology.version'],
    [{ ...good, node: '' }, 'topology.node'],
    [{ ...good, nodes: ['n1', 'a b'] }, 'topology.nodes'],
    [{ ...good, nodes: 'n1' }, 'topology.nodes'],
    [{ ...good, rules: [{ id: 'r', key: ['user'], rate: -1, period: '1s' }] }, 'topology.rules[0]'],
  ] as const) {
    const err = t.throws(() => parseTopology(bad), { instanceOf: InputError });
    t.true(err.field?.startsWith(field), `${err.field} for ${field}`);
  }
});
