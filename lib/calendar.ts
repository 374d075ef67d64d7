/**
 * Calendar features of a request time, for the behavioural records: second
 * of minute, minute of hour, hour of day, day of week, day of year, and a
 * holiday flag from a configurable calendar of dates. All in UTC: a
 * deployment that needs local holidays lists them as UTC dates.
 */
import { DAY_MS } from './duration.ts';
import { ErrorCode, InputError, show } from './errors.ts';

/** The calendar features of one instant. */
export interface CalendarFeatures {
  /** 0-59. */
  secondOfMinute: number;
  /** 0-59. */
  minuteOfHour: number;
  /** 0-23. */
  hourOfDay: number;
  /** 0 (Sunday) to 6 (Saturday). */
  dayOfWeek: number;
  /** 1-366. */
  dayOfYear: number;
  holiday: boolean;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A set of holiday dates (`YYYY-MM-DD`, UTC). */
export class HolidayCalendar {
  /** Day numbers (days since the epoch) of the holidays. */
  readonly #days: ReadonlySet<number>;

  /**
   * @param dates `YYYY-MM-DD` strings; every bad one is named in one
   *   InputError (InvalidOptions) under `field`.
   */
  constructor(dates: readonly string[] = [], field = 'holidays') {
    const days = new Set<number>();
    const problems: string[] = [];
    dates.forEach((d, i) => {
      const day = typeof d === 'string' ? dayOfDate(d) : undefined;
      if (day === undefined) problems.push(`${field}[${i}] must be a date like "2026-12-25", got ${show(d)}`);
      else days.add(day);
    });
    if (problems.length > 0) throw new InputError(ErrorCode.InvalidOptions, problems.join('; '), { field });
    this.#days = days;
  }

  /** True when the UTC day of `ms` is a holiday. */
  isHoliday(ms: number): boolean {
    return this.#days.has(Math.floor(ms / DAY_MS));
  }

  get size(): number {
    return this.#days.size;
  }
}

function dayOfDate(s: string): number | undefined {
  const m = DATE.exec(s);
  if (m === null) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  // Date.UTC rolls "2026-02-30" over into March: refuse it.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined;
  return ms / DAY_MS;
}

/**
 * Parses a holidays file's content: a JSON array of dates, a JSON object
 * `{"dates": [...]}`, or plain text with one date per line (`#` comments and
 * blank lines ignored).
 */
export function parseHolidays(text: string, field = 'holidaysFile'): HolidayCalendar {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new InputError(
        ErrorCode.InvalidOptions,
        `${field} is not valid JSON: ${(err as Error).message}`,
        {
          field,
          cause: err,
        },
      );
    }
    const dates = Array.isArray(parsed) ? parsed : (parsed as { dates?: unknown }).dates;
    if (!Array.isArray(dates)) {
      throw new InputError(
        ErrorCode.InvalidOptions,
        `${field} must hold an array of dates or {"dates": [...]}, got ${show(parsed)}`,
        { field },
      );
    }
    return new HolidayCalendar(dates as string[], field);
  }
  const lines = trimmed
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
  return new HolidayCalendar(lines, field);
}

/** The calendar features of `ms` (UTC). */
export function calendarFeatures(ms: number, holidays?: HolidayCalendar): CalendarFeatures {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  return {
    secondOfMinute: d.getUTCSeconds(),
    minuteOfHour: d.getUTCMinutes(),
    hourOfDay: d.getUTCHours(),
    dayOfWeek: d.getUTCDay(),
    dayOfYear: Math.floor((ms - Date.UTC(year, 0, 1)) / DAY_MS) + 1,
    holiday: holidays?.isHoliday(ms) ?? false,
  };
}
