import test from 'ava';
import { ErrorCode, InputError, isoDateTimeMs, parseDurationMs } from '../../lib/index.ts';

test('duration - parses a number with a unit, or ms', (t) => {
  const cases: [unknown, number][] = [
    ['250ms', 250],
    ['1s', 1_000],
    ['1.5s', 1_500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [1500, 1500],
    [0.5, 0.5],
  ];
  for (const [input, ms] of cases) t.is(parseDurationMs('rule.period', input), ms, String(input));
});

test('duration - refuses zero, negatives, bad units and non-numbers, naming the field and value', (t) => {
  for (const bad of [
    '',
    '0s',
    '0',
    '-1s',
    '1',
    '1 s',
    '1sec',
    's',
    '1.s',
    '.5s',
    '1e3ms',
    'Infinitys',
    0,
    -5,
  ]) {
    const err = t.throws(() => parseDurationMs('rule.period', bad), { instanceOf: InputError });
    t.is(err?.code, ErrorCode.InvalidField);
    t.is(err?.field, 'rule.period');
    t.is(err?.message, `rule.period must be a duration like "1s", "1m" or "1h", got ${JSON.stringify(bad)}`);
  }
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, null, undefined, true, {}, ['1s']]) {
    t.throws(() => parseDurationMs('opts.timeout', bad), {
      instanceOf: InputError,
      message: /^opts\.timeout must be a duration like "1s", "1m" or "1h", got /,
    });
  }
});

test('duration - ISO-8601 date-times with a zone parse to the right instant', (t) => {
  t.is(isoDateTimeMs('2026-12-01T00:00:00Z'), Date.UTC(2026, 11, 1));
  t.is(isoDateTimeMs('2026-12-01T08:30Z'), Date.UTC(2026, 11, 1, 8, 30));
  t.is(isoDateTimeMs('2026-12-01T09:30:00.250+01:00'), Date.UTC(2026, 11, 1, 8, 30, 0, 250));
  t.is(isoDateTimeMs('2026-12-01T00:00:00-05:30'), Date.UTC(2026, 11, 1, 5, 30));
  t.is(isoDateTimeMs('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29));
});

test('duration - impossible or zone-less date-times are refused', (t) => {
  for (const bad of [
    'tomorrow',
    '2026-13-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2027-02-29T00:00:00Z',
    '2026-12-01T24:00:00Z',
    '2026-12-01T00:60:00Z',
    '2026-12-01T00:00:00', // local time would depend on the machine
    '2026-12-01',
    '2026-12-01T00:00:00+25:00',
    ' 2026-12-01T00:00:00Z',
  ]) {
    t.is(isoDateTimeMs(bad), undefined, bad);
  }
});
