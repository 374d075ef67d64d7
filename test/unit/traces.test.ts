import test from 'ava';
import { readFileSync } from 'node:fs';
import { InputError } from '../../lib/index.ts';
import { detectFormat, parseTimestamp, parseTrace } from '../../lib/index.ts';
import { tracePath } from '../helpers/traces-data.ts';

test('traces - parseTimestamp reads UTC dates, fractions, zones and epoch numbers', (t) => {
  t.is(parseTimestamp('2015-02-26 21:42:53'), Date.UTC(2015, 1, 26, 21, 42, 53));
  t.is(parseTimestamp('2023-11-16 18:15:46.6805900'), Date.UTC(2023, 10, 16, 18, 15, 46) + 680.59);
  t.is(parseTimestamp('2020-01-01T01:00:00+01:00'), Date.UTC(2020, 0, 1, 0, 0, 0));
  t.is(parseTimestamp('1600000000'), 1_600_000_000_000);
  t.is(parseTimestamp('1600000000000'), 1_600_000_000_000);
  t.true(Number.isNaN(parseTimestamp('yesterday')));
});

test('traces - series fills a missing slot forward and keeps the grid regular', (t) => {
  const csv =
    'period,count\n2020-01-01 00:00:00,5\n2020-01-01 00:01:00,7\n2020-01-01 00:03:00,9\n2020-01-01 00:04:00,1\n';
  const tr = parseTrace(csv);
  t.is(tr.format, 'series');
  t.is(tr.intervalMs, 60_000);
  t.deepEqual([...tr.values[0]!], [5, 7, 7, 9, 1]);
  t.is(tr.filledSlots, 1);
  t.is(tr.timestamps[2], Date.UTC(2020, 0, 1, 0, 2));
});

test('traces - long format keeps one series per token, absent slots are 0, features parsed', (t) => {
  const csv =
    'timestamp,token,value,event\n2020-01-01 00:00:00,a,1,0.5\n2020-01-01 00:00:00,b,2,\n2020-01-01 00:00:10,a,3,1\n2020-01-01 00:00:20,b,4,2\n';
  const tr = parseTrace(csv, { format: 'auto' });
  t.is(tr.format, 'long');
  t.deepEqual(tr.tokens, ['a', 'b']);
  t.deepEqual([...tr.values[0]!], [1, 3, 0]);
  t.deepEqual([...tr.values[1]!], [2, 0, 4]);
  t.is(tr.features.event![0]![1], 1);
  t.true(Number.isNaN(tr.features.event![1]![0]!));
  t.is(tr.filledSlots, 2);
});

test('traces - arrivals are counted per bucket, auto detects irregular arrivals', (t) => {
  const rows = ['TIMESTAMP,ContextTokens,GeneratedTokens'];
  const base = '2023-11-16 18:15:';
  for (const s of ['00.1', '00.2', '00.9', '01.7', '03.05', '03.5', '03.6']) rows.push(`${base}${s},10,5`);
  const csv = rows.join('\n');
  t.is(detectFormat(csv).format, 'arrivals');
  const tr = parseTrace(csv);
  t.deepEqual([...tr.values[0]!], [3, 1, 0, 3]);
  const two = parseTrace(csv, { format: 'arrivals', bucketSeconds: 2 });
  t.deepEqual([...two.values[0]!], [4, 3]);
  t.is(two.intervalMs, 2000);
});

test('traces - bad rows and options name the line, column and value', (t) => {
  t.throws(
    () =>
      parseTrace('timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,abc\n', { format: 'series' }),
    {
      instanceOf: InputError,
      message: 'trace line 3 value (column 2) must be a number, got "abc"',
    },
  );
  t.throws(() => parseTrace('timestamp,value\nnot-a-time,1\n2020-01-01 00:05:00,2\n', { format: 'series' }), {
    instanceOf: InputError,
    message: /trace line 2 timestamp \(column 1\) must be a timestamp.*"not-a-time"/,
  });
  t.throws(() => parseTrace('timestamp,value\n', { format: 'series' }), {
    instanceOf: InputError,
    message: /at least one data row/,
  });
  t.throws(() => parseTrace('a,b\n1,2\n', { bucketSeconds: -1 }), {
    instanceOf: InputError,
    message: 'bucketSeconds must be a positive number, got -1',
  });
  t.throws(() => parseTrace('a,b\n1,2\n', { format: 'xml' as never }), {
    instanceOf: InputError,
    message: /format must be one of/,
  });
});

test('traces - reads a slice of the real NAB and WorldCup98 traces', (t) => {
  const nab = readFileSync(tracePath('nab-tweets', 'Twitter_volume_KO.csv'), 'utf8')
    .split('\n')
    .slice(0, 200)
    .join('\n');
  const tr = parseTrace(nab);
  t.is(tr.format, 'series');
  t.is(tr.intervalMs, 300_000);
  t.is(tr.values[0]!.length, 199);
  t.is(tr.values[0]![0], 8);
  const wc = readFileSync(tracePath('worldcup98', 'requests_per_minute.csv'), 'utf8')
    .split('\n')
    .slice(0, 100)
    .join('\n');
  const w = parseTrace(wc);
  t.is(w.intervalMs, 60_000);
  t.is(w.values[0]![1], 11);
});
