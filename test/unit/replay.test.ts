import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { InputError, parseTrace } from '../../lib/index.ts';
import {
  costAtThrottle,
  evaluateTargets,
  makePolicy,
  prepareReplay,
  runReplay,
  syntheticTrace,
  throttleAtCost,
} from '../../sim/index.ts';
import { replayCommand } from '../../cli/replay.ts';
import { TRACES_DATA } from '../helpers/traces-data.ts';

const DATA = TRACES_DATA;
const traces = ['nab-tweets', 'nab-aws', 'worldcup98', 'azure-llm-2023'].flatMap((dir) =>
  readdirSync(join(DATA, dir))
    .filter((f) => f.endsWith('.csv'))
    .map((f) => join(DATA, dir, f)),
);

test('replay - the shared traces are all found', (t) => {
  t.true(traces.length >= 26, `found ${traces.length}`);
});

test('replay - served + throttled = demand at every step, on every shared trace', async (t) => {
  for (const file of traces) {
    const trace = parseTrace(readFileSync(file, 'utf8'), { bucketSeconds: 1 });
    const data = await prepareReplay(trace);
    for (const policy of ['rl', 'reactive'] as const) {
      const r = runReplay(data, makePolicy(policy, data), { timeline: true });
      const tl = r.timeline!;
      let bad = -1;
      let requests = 0;
      for (let i = 0; i < tl.demand.length; i++) {
        requests += tl.demand[i]!;
        if (Math.abs(tl.served[i]! + tl.throttled[i]! - tl.demand[i]!) > 1e-9 * Math.max(1, tl.demand[i]!))
          bad = i;
        if (tl.served[i]! > tl.capacity[i]! + 1e-9 || tl.throttled[i]! < 0) bad = i;
        if (tl.demand[i]! !== data.demand[tl.step[i]!]) bad = i;
      }
      t.is(bad, -1, `${file} ${policy}: step ${bad}`);
      t.is(tl.demand.length, data.demand.length - data.start);
      t.true(Math.abs(r.requests - requests) <= 1e-9 * requests);
    }
  }
});

test('replay - the oracle does not throttle once its lead has passed', async (t) => {
  const trace = parseTrace(readFileSync(join(DATA, 'worldcup98/requests_per_minute.csv'), 'utf8'));
  const data = await prepareReplay(trace);
  const r = runReplay(data, makePolicy('oracle', data), { timeline: true });
  const tl = r.timeline!;
  let late = 0;
  for (let i = data.model.leadSteps + 1; i < tl.demand.length; i++) late += tl.throttled[i]!;
  t.is(late, 0);
  const reactive = runReplay(data, makePolicy('reactive', data));
  t.true(r.cost < reactive.cost * 1.5);
});

test('replay - frontier interpolation reads cost and throttling off the Pareto front', (t) => {
  const pts = [
    { setting: 1, cost: 100, throttledFraction: 0.2, objective: 0 },
    { setting: 2, cost: 200, throttledFraction: 0.1, objective: 0 },
    { setting: 3, cost: 250, throttledFraction: 0.15, objective: 0 },
    { setting: 4, cost: 400, throttledFraction: 0.0, objective: 0 },
  ];
  t.is(throttleAtCost(pts, 150), 0.15000000000000002);
  t.true(Number.isNaN(throttleAtCost(pts, 50)));
  t.is(costAtThrottle(pts, 0.05), 300);
  t.is(costAtThrottle(pts, 0.5), 100);
});

test('replay - synthetic traces are reproducible from their seed and differ between seeds', (t) => {
  const a = syntheticTrace({ seed: 3, steps: 2000 });
  const b = syntheticTrace({ seed: 3, steps: 2000 });
  const c = syntheticTrace({ seed: 4, steps: 2000 });
  t.deepEqual(a.values[0], b.values[0]);
  t.notDeepEqual(a.values[0], c.values[0]);
  t.is(a.timestamps[1]! - a.timestamps[0]!, a.intervalMs);
  t.true(a.values[0]!.every((v) => Number.isInteger(v) && v >= 0));
  // A change of regime redraws the shape from the same stream: the first stretch is unchanged.
  const r = syntheticTrace({ seed: 3, steps: 2000, regimes: 2 });
  t.deepEqual(r.values[0]!.slice(0, 1000), a.values[0]!.slice(0, 1000));
  t.notDeepEqual(r.values[0]!.slice(1000), a.values[0]!.slice(1000));
  t.throws(() => syntheticTrace({ seed: 1, steps: 2000, regimes: 0 }), {
    instanceOf: InputError,
    message: /regimes/,
  });
});

test('replay - the targets are read off the RL, reactive and oracle fronts', async (t) => {
  const data = await prepareReplay(syntheticTrace({ seed: 5, steps: 1500 }));
  const e = evaluateTargets(data, ['reactive', 'rl']);
  const re = e.results['reactive']!;
  t.is(e.throttleRatioAtReactiveCost, throttleAtCost(e.sweeps['rl']!, re.cost) / re.throttledFraction);
  t.is(e.costRatioAtReactiveThrottle, costAtThrottle(e.sweeps['rl']!, re.throttledFraction) / re.cost);
  t.is(e.bestQuantile.objective, Math.min(...e.sweeps['quantile']!.map((p) => p.objective)));
  t.true(e.objectiveRatioVsBestQuantile > 0 && Number.isFinite(e.costRatioVsOracle));
  // The RL front spans the reactive rule's cost: neither comparison falls off its ends.
  t.true(Number.isFinite(e.throttleRatioAtReactiveCost) && Number.isFinite(e.costRatioAtReactiveThrottle));
});

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        s += chunk.toString();
        cb();
      },
    }),
    text: () => s,
  };
}

const AMZN = join(DATA, 'nab-tweets/Twitter_volume_AMZN.csv');

test('replay - cli --json prints the report fields and --timeline writes the steps', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'replay-'));
  const out = sink();
  const err = sink();
  const tl = join(dir, 'tl.csv');
  const svg = join(dir, 'p.svg');
  const code = await replayCommand(
    [
      '--trace',
      AMZN,
      '--policy',
      'quantile',
      '--quantile',
      '0.95',
      '--json',
      '--timeline',
      tl,
      '--plot',
      svg,
    ],
    { stdout: out.stream, stderr: err.stream },
  );
  t.is(code, 0, err.text());
  const r = JSON.parse(out.text()) as Record<string, unknown>;
  for (const k of [
    'policy',
    'requests',
    'throttled',
    'throttledFraction',
    'unitSeconds',
    'cost',
    'meanUtilization',
  ])
    t.true(k in r, k);
  t.is(r.policy, 'quantile');
  const lines = readFileSync(tl, 'utf8').trim().split('\n');
  t.is(lines[0], 'step,timestamp,demand,capacity,served,throttled');
  for (const line of lines.slice(1)) {
    const [, , d, , s, th] = line.split(',').map(Number);
    t.true(Math.abs(s! + th! - d!) < 1e-6);
  }
  const plot = readFileSync(svg, 'utf8');
  t.true(plot.startsWith('<svg') && plot.includes('capacity') && plot.includes('forecast p50'));
});

test('replay - cli --sweep prints the cost/throttling frontier', async (t) => {
  const out = sink();
  const err = sink();
  t.is(
    await replayCommand(['--trace', AMZN, '--policy', 'reactive', '--sweep'], {
      stdout: out.stream,
      stderr: err.stream,
    }),
    0,
  );
  const lines = out.text().trim().split('\n');
  t.is(lines[0], 'targetUtilization,cost,throttledFraction,objective');
  t.true(lines.length >= 5);
});

test('replay - cli rejects bad arguments naming the option and value (exit 2)', async (t) => {
  const cases: [string[], string][] = [
    [
      ['--trace', AMZN, '--policy', 'magic'],
      '--policy must be one of rl, quantile, qra, reactive, static, oracle, got "magic"',
    ],
    [
      ['--trace', AMZN, '--policy', 'quantile', '--quantile', '1.5'],
      '--quantile must be a number strictly between 0 and 1, got "1.5"',
    ],
    [
      ['--trace', AMZN, '--policy', 'rl', '--lead-time', '-1'],
      '--lead-time must be a non-negative integer (steps), got "-1"',
    ],
    [
      ['--trace', AMZN, '--policy', 'rl', '--unit-capacity', '0'],
      '--unit-capacity must be a positive number of requests per step, got "0"',
    ],
    [['--policy', 'rl'], '--trace is required'],
    [
      ['--trace', '/nonexistent.csv', '--policy', 'rl'],
      '--trace must be a readable file, got "/nonexistent.csv"',
    ],
    [['--trace', AMZN, '--policy', 'rl', '--bogus'], 'unknown option "--bogus"'],
  ];
  for (const [argv, message] of cases) {
    const err = sink();
    t.is(await replayCommand(argv, { stdout: sink().stream, stderr: err.stream }), 2, argv.join(' '));
    t.true(err.text().includes(message), err.text());
  }
});
