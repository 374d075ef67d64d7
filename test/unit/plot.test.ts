// The replay plots (sim/plot-*.ts, cli/plot-file.ts): the scale arithmetic on
// its own, then the figures of a real trace's replay (data/traces): panels,
// axis titles with units, throttled ticks, the title's figures, a bounded
// number of drawn points with the peaks kept, and the PNG's size.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { parseTrace } from '../../lib/index.ts';
import {
  busiestWindow,
  makePolicy,
  niceTicks,
  plotCompareSvg,
  plotReplaySvg,
  prepareReplay,
  reduceColumns,
  replaySummary,
  runReplay,
  zoomSteps,
} from '../../sim/index.ts';
import type { ReplayData, ReplayResult } from '../../sim/index.ts';
import { plotFileFor, svgToPng } from '../../cli/plot-file.ts';
import { replayCommand } from '../../cli/replay.ts';
import { tracePath } from '../helpers/traces-data.ts';

const AMZN = tracePath('nab-tweets', 'Twitter_volume_AMZN.csv');

let data: ReplayData;
let rl: ReplayResult;
let oracle: ReplayResult;

test.before(async () => {
  data = await prepareReplay(parseTrace(readFileSync(AMZN, 'utf8')));
  rl = runReplay(data, makePolicy('rl', data), { timeline: true });
  oracle = runReplay(data, makePolicy('oracle', data), { timeline: true });
});

test('plot scale - min/max per column keeps a one-step peak and the order of extremes', (t) => {
  const a = new Float64Array(10_000).fill(5);
  a[7_777] = 900;
  a[7_778] = -3;
  const c = reduceColumns(a, 0, a.length, 800);
  t.is(c.count, 800);
  t.is(c.start[800], 10_000);
  t.is(Math.max(...c.max), 900);
  t.is(Math.min(...c.min), -3);
  const k = c.max.indexOf(900);
  t.is(c.minFirst[k], 0, 'the peak comes before the dip');
  t.is(
    c.sum.reduce((s, v) => s + v, 0),
    5 * 9_998 + 897,
  );
  // Fewer steps than columns: one step per column, never a split step.
  const short = reduceColumns([1, Number.NaN, 3], 0, 3, 800);
  t.is(short.count, 3);
  t.is(short.finite[1], 0);
  t.true(Number.isNaN(short.max[1]!));
});

test('plot scale - ticks are round and inside the range; zoom and busiest window', (t) => {
  t.deepEqual(niceTicks(0, 1700, 5), [0, 500, 1000, 1500]);
  t.deepEqual(niceTicks(0.1, 0.75, 5), [0.2, 0.4, 0.6]);
  t.deepEqual(niceTicks(0.1, 0.75, 10), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
  t.deepEqual(zoomSteps(14_248, 300_000), { steps: 72, label: '6 h' });
  t.deepEqual(zoomSteps(112_779, 60_000), { steps: 60, label: '1 h' });
  t.deepEqual(zoomSteps(316, 10_000), { steps: 79, label: '13.2 min' });
  const demand = [1, 9, 9, 1, 1, 1, 1, 1];
  // Best windows [4, 7) and [5, 8) hold 5; centred on the weight (step 5.6) it is [5, 8).
  t.deepEqual(busiestWindow(demand, [0, 0, 0, 0, 0, 2, 3, 0], 3), {
    from: 5,
    to: 8,
    by: 'throttled requests',
  });
  t.deepEqual(busiestWindow(demand, new Array(8).fill(0), 2), { from: 1, to: 3, by: 'demand' });
  // A burst at the start of the best window ends up in the middle of the zoom.
  const burst = new Array(100).fill(0);
  burst[50] = 10;
  t.deepEqual(busiestWindow(new Array(100).fill(1), burst, 20), {
    from: 41,
    to: 61,
    by: 'throttled requests',
  });
});

test('plot - one run: two panels, axes with units, throttled ticks, the figures in the title', (t) => {
  const tl = rl.timeline!;
  const summary = replaySummary(rl, tl);
  const svg = plotReplaySvg(tl, summary, {
    title: 'AMZN rl',
    stepMs: data.stepMs,
    traceStartMs: data.timestamps[0]!,
    forecastAheadSteps: 2,
  });
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="1400" height="620"'));
  t.regex(svg, /<clipPath id="whole">/);
  t.regex(svg, /<clipPath id="zoom">/);
  t.regex(svg, /whole run: 14.2k steps of 5 min/);
  t.regex(svg, /zoom: busiest 6 h \(most throttled requests\)/);
  t.is((svg.match(/class="y-label">requests per 5 min step</g) ?? []).length, 2);
  t.regex(svg, /class="x-label">days from trace start \(2015-02-26 21:42 UTC\)/);
  t.regex(svg, /class="x-label">hours from trace start/);
  t.regex(svg, /forecast p50, made 2 steps ahead/);
  for (const cls of ['forecast-band', 'capacity', 'forecast-p50', 'demand', 'zoom-window'])
    t.regex(svg, new RegExp(`class="${cls}"`), cls);
  // The title carries the run's own figures.
  t.true(svg.includes(`throttled ${Number((rl.throttledFraction * 100).toPrecision(3))} % of requests`));
  t.true(svg.includes(`cost ${Number((rl.cost / 1e6).toPrecision(3))}M`));
  t.regex(svg, /forecast WAPE \d+(\.\d+)? %/);
  t.true(summary.wape > 0 && summary.wape < 1 && summary.coverage > 0.5 && summary.coverage <= 1);
  // The zoom holds fewer steps than pixels: one red tick per throttled step of its window.
  const zoom = svg.slice(svg.indexOf('<clipPath id="zoom">'));
  const win = busiestWindow(tl.demand, tl.throttled, 72);
  let throttledSteps = 0;
  for (let i = win.from; i < win.to; i++) if (tl.throttled[i]! > 0) throttledSteps++;
  t.true(throttledSteps > 0);
  t.is((zoom.match(/class="throttled"/g) ?? []).length, throttledSteps);
  t.true((svg.slice(0, svg.indexOf('<clipPath id="zoom">')).match(/class="throttled"/g) ?? []).length > 50);
});

test('plot - the whole-run demand line is reduced per pixel and still reaches the peak', (t) => {
  const tl = rl.timeline!;
  const svg = plotReplaySvg(tl, replaySummary(rl, tl));
  const d = /<path d="([^"]+)"[^>]*class="demand"/.exec(svg)![1]!;
  const ys = [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
  t.true(ys.length <= 4 * 900, `${ys.length} points for ${tl.demand.length} steps`);
  // The peak step is drawn at its height under the panel's top: 8 % over the highest of demand and capacity.
  const top = 118;
  const h = 620 - top - 70;
  const peak = Math.max(...tl.demand);
  const yTop = 1.08 * Math.max(peak, ...tl.capacity);
  t.true(Math.abs(Math.min(...ys) - (top + h * (1 - peak / yTop))) < 0.2, `${Math.min(...ys)}`);
});

test('plot - the comparison has a row per policy and the cost/throttling scatter', (t) => {
  const runs = [rl, oracle].map((r) => ({ summary: replaySummary(r, r.timeline!), timeline: r.timeline! }));
  const svg = plotCompareSvg(runs, { stepMs: data.stepMs, traceStartMs: data.timestamps[0]! });
  t.is((svg.match(/class="policy-point"/g) ?? []).length, 2);
  t.regex(svg, /<clipPath id="whole-1">/);
  t.regex(svg, /<clipPath id="zoom-1">/);
  t.regex(svg, /reservation cost \(unit-seconds x unit cost\)/);
  t.regex(svg, /throttled requests \(% of all\)/);
  t.regex(svg, /rl: cost [\d.]+M · throttled/);
  t.regex(svg, /oracle \([\d.]+ %\)<\/text>/);
});

test('plot - PNG: the signature and IHDR give the SVG size', async (t) => {
  const tl = oracle.timeline!;
  const png = await svgToPng(plotReplaySvg(tl, replaySummary(oracle, tl), { width: 900, height: 400 }));
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  t.is(png.toString('latin1', 12, 16), 'IHDR');
  t.is(png.readUInt32BE(16), 900);
  t.is(png.readUInt32BE(20), 400);
});

test('plot - cli --plot PNG per policy and --plot-compare SVG; bad plot options exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'plot-'));
  const err = sink();
  const out = sink();
  const code = await replayCommand(
    [
      '--trace',
      AMZN,
      '--policies',
      'reactive,oracle',
      '--plot',
      join(dir, 'run.png'),
      '--plot-compare',
      join(dir, 'cmp.svg'),
      '--json',
    ],
    { stdout: out.stream, stderr: err.stream },
  );
  t.is(code, 0, err.text());
  const reports = JSON.parse(out.text()) as { policy: string }[];
  t.deepEqual(
    reports.map((r) => r.policy),
    ['reactive', 'oracle'],
  );
  for (const p of ['reactive', 'oracle']) {
    const png = readFileSync(plotFileFor(join(dir, 'run.png'), p, true));
    t.is(png.readUInt32BE(16), 1400, p);
  }
  t.false(existsSync(join(dir, 'run.png')));
  t.regex(readFileSync(join(dir, 'cmp.svg'), 'utf8'), /class="policy-point"[\s\S]*class="policy-point"/);
  const cases: [string[], string][] = [
    [['--policy', 'rl', '--plot', 'x.jpg'], '--plot must name a .svg or .png file, got "x.jpg"'],
    [
      ['--policy', 'rl', '--plot-compare', 'c.svg'],
      '--plot-compare must be used with two or more policies (--policies a,b,...), got "c.svg"',
    ],
    [
      ['--policies', 'rl,magic'],
      '--policies must be a comma-separated list of rl, quantile, qra, reactive, static, oracle, got "rl,magic"',
    ],
    [['--policies', 'rl,rl'], '--policies must be a list without repeats, got "rl,rl"'],
    [['--policy', 'rl', '--policies', 'rl,oracle'], '--policies must be given without --policy'],
    [['--policies', 'rl,oracle', '--sweep'], '--sweep must be used with one --policy, got "rl,oracle"'],
    [
      ['--policy', 'rl', '--sweep', '--plot', 'p.svg'],
      '--sweep must be used without --plot and --timeline (a sweep runs many settings), got "p.svg"',
    ],
  ];
  for (const [argv, message] of cases) {
    const e = sink();
    t.is(await replayCommand(['--trace', AMZN, ...argv], { stdout: sink().stream, stderr: e.stream }), 2);
    t.true(e.text().includes(message), e.text());
  }
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
