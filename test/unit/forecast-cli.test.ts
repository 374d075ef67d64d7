import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { forecastCommand, parseForecastArgs } from '../../cli/forecast.ts';
import { InputError } from '../../lib/index.ts';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await forecastCommand(argv, { stdout: out.stream, stderr: err.stream });
  return { code, out: out.text(), err: err.text() };
}

const dir = mkdtempSync(join(tmpdir(), 'headroom-forecast-'));
const trace = join(dir, 'series.csv');
{
  // 600 five-minute slots: a daily-ish cycle plus a deterministic wiggle.
  const rows = ['timestamp,value'];
  for (let i = 0; i < 600; i++) {
    const ts = new Date(Date.UTC(2020, 0, 1) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
    rows.push(`${ts},${Math.round(50 + 20 * Math.sin((2 * Math.PI * i) / 288) + ((i * 7) % 11))}`);
  }
  writeFileSync(trace, rows.join('\n'));
}

test('forecast-cli - --json reports every metric per model and horizon', async (t) => {
  const r = await run(['--trace', trace, '--models', 'naive,ewma', '--horizons', '1,3', '--json']);
  t.is(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  t.deepEqual(Object.keys(report.metrics), ['naive', 'ewma']);
  t.deepEqual(Object.keys(report.metrics.naive), ['1', '3']);
  for (const key of ['wape', 'mae', 'smape', 'mase', 'pinball', 'coverage80'])
    t.is(typeof report.metrics.ewma['3'][key], 'number', key);
  t.is(report.scoreFrom, 300);
  t.is(report.metrics.naive['1'].n, 299);
  t.regex(r.err, /trace: series/);
  t.regex(r.err, /100%/);
});

test('forecast-cli - --out writes one row per model, origin and horizon with the actual at origin + h', async (t) => {
  const out = join(dir, 'pred.csv');
  const r = await run([
    '--trace',
    trace,
    '--models',
    'naive',
    '--horizons',
    '2',
    '--score-from',
    '500',
    '--score-to',
    '509',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.err);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.is(lines[0], 'model,index,timestamp,horizon,actual,p10,p50,p90');
  t.is(lines.length, 11);
  const values = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => Number(l.split(',')[1]));
  const [model, index, ts, h, actual, p10, p50, p90] = lines[1]!.split(',');
  t.is(model, 'naive');
  t.is(index, '500');
  t.is(ts, '2020-01-02T17:40:00.000Z');
  t.is(h, '2');
  t.is(Number(actual), values[502]!);
  t.is(Number(p50), values[500]!);
  t.true(Number(p10) <= Number(p50) && Number(p50) <= Number(p90));
  t.regex(r.out, /naive\s+2\s+/);
});

test('forecast-cli - bad arguments exit 2 with the option and value named', async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ['--trace', trace, '--horizons', '1,x'],
      /--horizons must be a comma-separated list of positive integers.*"1,x"/,
    ],
    [
      ['--trace', trace, '--models', 'naive,prophet'],
      /--models must be a comma-separated list of .*"prophet"/,
    ],
    [
      ['--trace', trace, '--format', 'xml'],
      /--format must be one of auto, series, long, arrivals, got "xml"/,
    ],
    [
      ['--trace', trace, '--bucket-seconds', '0'],
      /--bucket-seconds must be a positive number of seconds, got "0"/,
    ],
    [
      ['--trace', trace, '--score-from', '-5'],
      /--score-from must be followed by a value|--score-from must be a non-negative integer/,
    ],
    [
      ['--trace', trace, '--score-from', '10', '--score-to', '5'],
      /--score-to must be at least --score-from \(10\), got 5/,
    ],
    [
      ['--trace', trace, '--score-from', '9000'],
      /--score-from must be between 24 and 599 for this trace, got 9000/,
    ],
    [['--trace', join(dir, 'missing.csv')], /--trace must be a readable file, got ".*missing.csv"/],
    [['--models', 'naive'], /--trace is required/],
    [['--trace', trace, '--verbose'], /unknown option "--verbose"/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.err, message);
  }
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /usage: headroom forecast --trace FILE/);
  t.throws(() => parseForecastArgs(['--trace', 'x', '--horizons', '0']), {
    instanceOf: InputError,
    message: /--horizons must be/,
  });
});

test('forecast-cli - a long trace is evaluated per token, pooled, with a token column in --out', async (t) => {
  const long = join(dir, 'long.csv');
  const rows = ['timestamp,token,value'];
  for (let i = 0; i < 200; i++) {
    const ts = new Date(Date.UTC(2020, 0, 1) + i * 60_000).toISOString();
    rows.push(`${ts},alice,${10 + (i % 5)}`, `${ts},bob,${100 + ((i * 3) % 17)}`);
  }
  writeFileSync(long, rows.join('\n'));
  const out = join(dir, 'long-pred.csv');
  const r = await run(['--trace', long, '--models', 'naive', '--horizons', '1', '--out', out, '--json']);
  t.is(r.code, 0, r.err);
  t.regex(r.err, /trace: long .*2 token\(s\)/);
  t.is(JSON.parse(r.out).metrics.naive['1'].n, 2 * 99);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.is(lines[0], 'model,index,timestamp,horizon,actual,p10,p50,p90,token');
  t.true(lines.some((l) => l.endsWith(',bob')) && lines.some((l) => l.endsWith(',alice')));
});
