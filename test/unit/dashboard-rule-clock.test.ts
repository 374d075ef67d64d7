/**
 * The dashboard turns a request's params into tokens with the rules in force
 * on the node's domain clock (what the gateway checks against), not on the
 * wall clock that samples its history: under `--time-scale N` a rule whose
 * `effectiveFrom` lies ahead in wall time may already apply.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ServiceBroker } from 'moleculer';
import { SimulatedClock, parseRule } from '../../lib/index.ts';
import { PlacementTracker } from '../../services/cluster/index.ts';
import { FileRuleStore } from '../../services/rules/index.ts';
import { tokenSeries } from '../../services/api/dashboard/tokens.ts';

const WALL_MS = Date.parse('2026-12-06T06:00:00Z');
const DOMAIN_MS = Date.parse('2026-12-08T06:00:00Z');

test('params match rules on the domain clock when one is given, else on the wall clock', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hr-dash-rules-'));
  const broker = new ServiceBroker({ logger: false, nodeID: 'dash-test' });
  t.teardown(async () => {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await broker.start();
  const wall = new SimulatedClock(WALL_MS);
  const rules = new FileRuleStore(dir, wall);
  await rules.start(() => {});
  await rules.put(
    parseRule({
      id: 'later',
      match: {},
      key: ['user'],
      rate: 5,
      period: '1s',
      effectiveFrom: '2026-12-07T00:00:00Z',
    }),
  );
  const tracker = new PlacementTracker(broker, wall);
  const q = { params: { user: 'u1' } };

  const onWall = await tokenSeries({ broker, tracker, rules, clock: wall }, q);
  t.deepEqual(onWall.tokens, [], 'the rule is not in force yet in wall time');

  const onDomain = await tokenSeries(
    { broker, tracker, rules, clock: wall, ruleClock: new SimulatedClock(DOMAIN_MS) },
    q,
  );
  t.is(onDomain.tokens.length, 1, 'the rule is in force in domain time');
  t.true(onDomain.tokens[0]!.token.includes('u1'));
});
