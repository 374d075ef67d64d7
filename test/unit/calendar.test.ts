import test from 'ava';
import { ErrorCode, HolidayCalendar, InputError, calendarFeatures, parseHolidays } from '../../lib/index.ts';

test('calendar - features of an instant, in UTC', (t) => {
  // Friday 2026-11-20 12:34:56.789 UTC is the 324th day of 2026.
  const ms = Date.UTC(2026, 10, 20, 12, 34, 56, 789);
  t.deepEqual(calendarFeatures(ms), {
    secondOfMinute: 56,
    minuteOfHour: 34,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
  });
});

test('calendar - first and last day of a leap year, Sunday is 0', (t) => {
  t.like(calendarFeatures(Date.UTC(2028, 0, 1)), { dayOfYear: 1, dayOfWeek: 6 });
  t.like(calendarFeatures(Date.UTC(2028, 11, 31, 23, 59, 59, 999)), {
    dayOfYear: 366,
    hourOfDay: 23,
    minuteOfHour: 59,
    secondOfMinute: 59,
    dayOfWeek: 0,
  });
});

test('calendar - holiday flag covers the whole UTC day and nothing else', (t) => {
  const cal = new HolidayCalendar(['2026-12-25', '2027-01-01']);
  t.true(calendarFeatures(Date.UTC(2026, 11, 25, 0, 0, 0), cal).holiday);
  t.true(calendarFeatures(Date.UTC(2026, 11, 25, 23, 59, 59, 999), cal).holiday);
  t.false(calendarFeatures(Date.UTC(2026, 11, 26), cal).holiday);
  t.false(calendarFeatures(Date.UTC(2026, 11, 24, 23, 59, 59, 999), cal).holiday);
  t.true(cal.isHoliday(Date.UTC(2027, 0, 1, 12)));
  t.is(cal.size, 2);
});

test('calendar - every bad date is named in one error', (t) => {
  const err = t.throws(
    () => new HolidayCalendar(['2026-02-30', '2026-12-25', 'xmas', 42 as unknown as string]),
    {
      instanceOf: InputError,
    },
  );
  t.is(err.code, ErrorCode.InvalidOptions);
  t.regex(err.message, /holidays\[0\] must be a date like "2026-12-25", got "2026-02-30"/);
  t.regex(err.message, /holidays\[2\] .* got "xmas"/);
  t.regex(err.message, /holidays\[3\] .* got 42/);
  t.notRegex(err.message, /holidays\[1\]/);
});

test('calendar - holiday files: JSON array, {dates}, or one per line with comments', (t) => {
  t.true(parseHolidays('["2026-12-25"]').isHoliday(Date.UTC(2026, 11, 25)));
  t.true(parseHolidays('{"dates": ["2026-12-25"]}').isHoliday(Date.UTC(2026, 11, 25)));
  const cal = parseHolidays('# holidays\n2026-12-25  # Christmas\n\n2026-12-26\n');
  t.is(cal.size, 2);
  t.throws(() => parseHolidays('{"days": []}', 'holidaysFile'), {
    instanceOf: InputError,
    message: /holidaysFile must hold an array of dates/,
  });
  t.throws(() => parseHolidays('[oops', 'holidaysFile'), {
    instanceOf: InputError,
    message: /not valid JSON/,
  });
  t.throws(() => parseHolidays('2026-13-01', 'holidaysFile'), {
    instanceOf: InputError,
    message: /holidaysFile\[0\] must be a date/,
  });
});
