import test from 'ava';
import {
  ErrorCode,
  EventSignals,
  InputError,
  eventId,
  parseEvent,
  parseEventLine,
  parseEventQuery,
} from '../../lib/index.ts';

const GOOD = { source: 'news', topic: 'launch', time: '2026-12-01T08:00:00Z', value: 3 };
const T = Date.UTC(2026, 11, 1, 8);
/** "Now" for the time window: a day after the events' time. */
const NOW = T + 86_400_000;

test('events - a good event parses, tokens sorted and unique', (t) => {
  t.deepEqual(parseEvent(GOOD, NOW), { source: 'news', topic: 'launch', timeMs: T, value: 3, tokens: [] });
  t.deepEqual(
    parseEvent({ ...GOOD, time: '2026-12-01T09:00:00+01:00', tokens: ['b', 'a', 'b'] }, NOW).tokens,
    ['a', 'b'],
  );
  t.is(parseEvent({ ...GOOD, time: '2026-12-01T09:00:00+01:00' }, NOW).timeMs, T);
});

// Every kind of bad input: [name, body, code, field, message].
const BAD: Array<[string, unknown, ErrorCode, string, RegExp]> = [
  ['not an object', [1], ErrorCode.InvalidField, 'event', /event must be a JSON object, got \[1\]/],
  ['null', null, ErrorCode.InvalidField, 'event', /got null/],
  ['unknown field', { ...GOOD, extra: 1 }, ErrorCode.UnknownField, 'extra', /extra is not a known field/],
  ['missing source', { ...GOOD, source: undefined }, ErrorCode.MissingField, 'source', /source is required/],
  ['empty source', { ...GOOD, source: '' }, ErrorCode.InvalidField, 'source', /source must be .* got ""/],
  ['source not a string', { ...GOOD, source: 7 }, ErrorCode.InvalidField, 'source', /got 7/],
  ['source with spaces', { ...GOOD, source: 'a b' }, ErrorCode.InvalidField, 'source', /got "a b"/],
  [
    'topic too long',
    { ...GOOD, topic: 'x'.repeat(129) },
    ErrorCode.InvalidField,
    'topic',
    /topic must be 1-128/,
  ],
  ['missing topic', { ...GOOD, topic: undefined }, ErrorCode.MissingField, 'topic', /topic is required/],
  ['missing time', { ...GOOD, time: undefined }, ErrorCode.MissingField, 'time', /time is required/],
  ['time without zone', { ...GOOD, time: '2026-12-01T08:00:00' }, ErrorCode.InvalidField, 'time', /ISO-8601/],
  [
    'impossible date',
    { ...GOOD, time: '2026-02-30T08:00:00Z' },
    ErrorCode.InvalidField,
    'time',
    /2026-02-30/,
  ],
  ['time as a number', { ...GOOD, time: T }, ErrorCode.InvalidField, 'time', /got \d+/],
  ['missing value', { ...GOOD, value: undefined }, ErrorCode.MissingField, 'value', /value is required/],
  [
    'value a string',
    { ...GOOD, value: '3' },
    ErrorCode.InvalidField,
    'value',
    /value must be a finite number, got "3"/,
  ],
  ['value null', { ...GOOD, value: null }, ErrorCode.InvalidField, 'value', /got null/],
  [
    'tokens not an array',
    { ...GOOD, tokens: 'a' },
    ErrorCode.InvalidField,
    'tokens',
    /tokens must be an array/,
  ],
  [
    'too many tokens',
    { ...GOOD, tokens: Array.from({ length: 101 }, (_, i) => `t${i}`) },
    ErrorCode.InvalidField,
    'tokens',
    /at most 100/,
  ],
  [
    'empty token',
    { ...GOOD, tokens: ['a', ''] },
    ErrorCode.InvalidField,
    'tokens[1]',
    /tokens\[1\] must be a token key/,
  ],
  ['token not a string', { ...GOOD, tokens: [5] }, ErrorCode.InvalidField, 'tokens[0]', /got 5/],
];

for (const [name, body, code, field, message] of BAD) {
  test(`events - bad event: ${name}`, (t) => {
    const err = t.throws(() => parseEvent(body, NOW), { instanceOf: InputError, message });
    t.is(err.code, code);
    t.is(err.field, field);
  });
}

test('events - time must lie from 366 days before now to 31 days after', (t) => {
  const at = (ms: number): unknown => ({ ...GOOD, time: new Date(ms).toISOString() });
  const DAY = 86_400_000;
  t.is(parseEvent(at(NOW - 366 * DAY), NOW).timeMs, NOW - 366 * DAY);
  t.is(parseEvent(at(NOW + 31 * DAY), NOW).timeMs, NOW + 31 * DAY);
  const cases: Array<[unknown, string]> = [
    [at(NOW - 366 * DAY - 1), 'time'],
    [at(NOW + 31 * DAY + 1), 'time'],
    [{ ...GOOD, time: '9999-12-31T23:59:59Z' }, 'time'],
    [{ ...GOOD, time: '0001-01-01T00:00:00Z' }, 'time'],
  ];
  for (const [body, field] of cases) {
    const err = t.throws(() => parseEvent(body, NOW), {
      instanceOf: InputError,
      message:
        /^time must be a time from 366 days before now to 31 days after \(now is 2026-12-02T08:00:00\.000Z\), got "/,
    });
    t.is(err.code, ErrorCode.InvalidField);
    t.is(err.field, field);
  }
  // A file line is held to the same window, and names its line.
  const line = t.throws(() => parseEventLine('news,launch,9999-01-01T00:00:00Z,3', 9, NOW), {
    instanceOf: InputError,
  });
  t.is(line.code, ErrorCode.InvalidField);
  t.is(line.field, 'line 9.time');
});

test('events - list queries: range, topic, and every bad one', (t) => {
  t.deepEqual(
    parseEventQuery({ from: '2026-12-01T08:00:00Z', to: '2026-12-01T09:00:00Z', topic: 'launch' }),
    {
      fromMs: T,
      toMs: T + 3_600_000,
      topic: 'launch',
    },
  );
  const bad: Array<[unknown, string, RegExp]> = [
    [{ to: '2026-12-01T09:00:00Z' }, 'from', /from is required/],
    [{ from: '2026-12-01T08:00:00Z' }, 'to', /to is required/],
    [{ from: 'yesterday', to: '2026-12-01T09:00:00Z' }, 'from', /got "yesterday"/],
    [{ from: '2026-12-01T09:00:00Z', to: '2026-12-01T08:00:00Z' }, 'to', /to must be a time after from/],
    [{ from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'to', /at most 31 days/],
    [{ from: '2026-12-01T08:00:00Z', to: '2026-12-01T09:00:00Z', topic: '' }, 'topic', /topic must be/],
    [
      { from: '2026-12-01T08:00:00Z', to: '2026-12-01T09:00:00Z', limit: 3 },
      'limit',
      /limit is not a known field/,
    ],
    ['x', 'request', /request must be a JSON object/],
  ];
  for (const [body, field, message] of bad) {
    const err = t.throws(() => parseEventQuery(body), { instanceOf: InputError, message });
    t.is(err.field, field);
  }
});

test('events - list queries with a step: whole seconds, bounded step count', (t) => {
  const range = { from: '2026-12-01T08:00:00Z', to: '2026-12-01T09:00:00Z' };
  t.deepEqual(parseEventQuery({ ...range, step: '1m' }), { fromMs: T, toMs: T + 3_600_000, stepMs: 60_000 });
  t.is(parseEventQuery({ ...range, step: 5000 }).stepMs, 5000);
  const bad: Array<[unknown, RegExp]> = [
    ['1500ms', /step must be a whole number of seconds.*got "1500ms"/],
    [0, /step must be a duration.*got 0/],
    ['soon', /step must be a duration.*got "soon"/],
    [true, /step must be a duration.*got true/],
  ];
  for (const [step, message] of bad) {
    const err = t.throws(() => parseEventQuery({ ...range, step }), { instanceOf: InputError, message });
    t.is(err.field, 'step');
  }
  // 31 days at 1 s are too many steps; at 5 min they fit.
  const month = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
  t.throws(() => parseEventQuery({ ...month, step: '1s' }), {
    instanceOf: InputError,
    message: /step must be long enough for at most 10000 steps/,
  });
  t.is(parseEventQuery({ ...month, step: '5m' }).stepMs, 300_000);
});

test('events - file lines: JSON, CSV with tokens, header, comments and bad lines by number', (t) => {
  t.deepEqual(parseEventLine(JSON.stringify(GOOD), 1, NOW), parseEvent(GOOD, NOW));
  t.deepEqual(parseEventLine('news,launch,2026-12-01T08:00:00Z,3,b;a', 2, NOW), {
    source: 'news',
    topic: 'launch',
    timeMs: T,
    value: 3,
    tokens: ['a', 'b'],
  });
  t.is(parseEventLine('source,topic,time,value,tokens', 1, NOW), undefined);
  t.is(parseEventLine('  ', 1, NOW), undefined);
  t.is(parseEventLine('# a comment', 1, NOW), undefined);
  t.throws(() => parseEventLine('news,launch,2026-12-01T08:00:00Z', 4, NOW), {
    instanceOf: InputError,
    message: /line 4 must be CSV/,
  });
  const v = t.throws(() => parseEventLine('news,launch,2026-12-01T08:00:00Z,lots', 5, NOW), {
    instanceOf: InputError,
  });
  t.is(v.field, 'line 5.value');
  const j = t.throws(() => parseEventLine('{"source":', 6, NOW), { instanceOf: InputError });
  t.is(j.code, ErrorCode.InvalidJson);
  t.is(j.field, 'line 6');
  const u = t.throws(() => parseEventLine(JSON.stringify({ ...GOOD, nope: 1 }), 7, NOW), {
    instanceOf: InputError,
  });
  t.is(u.field, 'line 7.nope');
});

test('events - the id is stable for the same event and differs for another', (t) => {
  const e = parseEvent(GOOD, NOW);
  t.is(eventId(e), eventId(parseEvent({ ...GOOD }, NOW)));
  t.not(eventId(e), eventId(parseEvent({ ...GOOD, value: 4 }, NOW)));
  t.regex(eventId(e), /^[0-9a-f]{32}$/);
});

test('event signals - latest value per topic, decayed by the half-life, scheduled ones from their time', (t) => {
  const s = new EventSignals(60_000);
  s.add({ topic: 'news', timeMs: T, value: 8, tokens: [] });
  s.add({ topic: 'launch', timeMs: T + 120_000, value: 5, tokens: [] });
  t.deepEqual(s.levels(T - 1), {});
  t.deepEqual(s.levels(T), { news: 8 });
  t.deepEqual(s.levels(T + 60_000), { news: 4 });
  t.deepEqual(s.levels(T + 120_000), { news: 2, launch: 5 });
  // A newer event replaces the level; an older one arriving late does not.
  s.add({ topic: 'news', timeMs: T + 60_000, value: 1, tokens: [] });
  s.add({ topic: 'news', timeMs: T + 30_000, value: 100, tokens: [] });
  t.is(s.levels(T + 60_000)['news'], 1);
  // Faded below 1/1000 after 10 half-lives: gone.
  t.false('news' in s.levels(T + 60_000 + 11 * 60_000));
  s.prune(T + 60_000 + 11 * 60_000);
  t.deepEqual(Object.keys(s.levels(T + 60_000)), []);
});

test('event signals - an event naming tokens counts only for them and wins over the topic-wide one', (t) => {
  const s = new EventSignals(60_000);
  s.add({ topic: 'promo', timeMs: T, value: 2, tokens: [] });
  s.add({ topic: 'promo', timeMs: T, value: 9, tokens: ['k1.aa'] });
  t.deepEqual(s.levels(T, 'k1.aa'), { promo: 9 });
  t.deepEqual(s.levels(T, 'k1.bb'), { promo: 2 });
  t.deepEqual(s.levels(T), { promo: 2 });
});
