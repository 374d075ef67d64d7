/**
 * The events hub: external event signals arriving on the API
 * (`events.publish`) or from a file feed are stored (EventRow, tokens as
 * keyed hashes) and broadcast to every node, whose collector reads their
 * current level per topic as features. `events.list` reads them back.
 */
import type { ServiceBroker, ServiceSchema } from 'moleculer';
import {
  ErrorCode,
  MAX_EVENT_AGE_MS,
  MAX_EVENT_LEAD_MS,
  StateError,
  eventId,
  invalidField,
  isPlainObject,
  missingField,
  parseEvent,
  rejectUnknown,
} from '../../lib/index.ts';
import type { Clock, EventInput, EventQuery, EventSignals, SignalEvent } from '../../lib/index.ts';
import type { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { Batcher, EventRow, TimeSeriesStore } from '../../store/index.ts';
import { guardedEvent } from '../wire/index.ts';
import type { Guard } from '../wire/index.ts';

/** Moleculer event carrying one signal to every node. */
export const SIGNAL_EVENT = 'headroom.events.signal';

/** One event as `events.list` answers it. */
export interface EventReply {
  id: string;
  source: string;
  topic: string;
  time: string;
  value: number;
  tokens: string[];
}

/**
 * The events of one topic in one step, as `events.list` with `step` answers
 * them: `start` is aligned to the step (as token buckets are); `count` and
 * `sum` are 0 and `max` and `last` null for a step without events.
 */
export interface EventLevelReply {
  topic: string;
  start: string;
  count: number;
  sum: number;
  max: number | null;
  last: number | null;
}

/** What the API needs of the events hub. */
export interface EventsApi {
  publish(e: EventInput): Promise<{ id: string }>;
  /** The events of the query, or with `stepMs` their levels per topic and step. */
  list(q: EventQuery): Promise<EventReply[] | EventLevelReply[]>;
}

export interface EventHubDeps {
  broker: ServiceBroker;
  clock: Clock;
  pipeline: PrivacyPipeline;
  batcher: Batcher;
  store: TimeSeriesStore;
  signals: EventSignals;
}

export class EventHub implements EventsApi {
  readonly #d: EventHubDeps;
  #published = 0;

  constructor(deps: EventHubDeps) {
    this.#d = deps;
  }

  /** Stores the event (tokens hashed) and broadcasts its signal; answers the event's id. */
  async publish(e: EventInput): Promise<{ id: string }> {
    const now = this.#d.clock.now();
    const tokens = e.tokens.map((t) => this.#d.pipeline.hash(t, now)).sort();
    const row: EventRow = { ...e, tokens, id: eventId({ ...e, tokens }) };
    // Throws SpoolFull (retryable) to the publisher: refused, never silently dropped.
    this.#d.batcher.add('events', row);
    this.#published++;
    await this.#d.broker.broadcast(SIGNAL_EVENT, row);
    return { id: row.id };
  }

  /**
   * Events in `[from, to)`, or with `stepMs` their levels per topic and
   * aligned step; what is still batched is flushed first, so a publish is
   * read back.
   */
  async list(q: EventQuery): Promise<EventReply[] | EventLevelReply[]> {
    await this.#d.batcher.flush();
    if (q.stepMs !== undefined) {
      const levels = await this.#d.store.eventLevels(q.fromMs, q.toMs, q.stepMs, q.topic);
      return levels.map((l) => ({
        topic: l.topic,
        start: new Date(l.startMs).toISOString(),
        count: l.count,
        sum: l.sum,
        max: l.max,
        last: l.last,
      }));
    }
    const rows = await this.#d.store.events(q.fromMs, q.toMs, q.topic);
    return rows.map((r) => ({
      id: r.id,
      source: r.source,
      topic: r.topic,
      time: new Date(r.timeMs).toISOString(),
      value: r.value,
      tokens: r.tokens,
    }));
  }

  get published(): number {
    return this.#published;
  }
}

/** Answers that the node keeps no events (store `none`): retryable, another node may. */
export const noEvents: EventsApi = {
  publish: () => Promise.reject(unavailable()),
  list: () => Promise.reject(unavailable()),
};

function unavailable(): StateError {
  return new StateError(ErrorCode.Unavailable, 'this node runs with store none: events are not kept here', {
    field: 'store',
  });
}

/** The fields of an {@link EventRow} as `publish` broadcasts it. */
const ROW_FIELDS = ['id', 'source', 'topic', 'timeMs', 'value', 'tokens'];
/** Last ms of year 9999: an ISO-8601 date-time has four digits of year. */
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Checks a broadcast {@link SIGNAL_EVENT} row as strictly as `events.publish`
 * checks its body: any member with the `node` role can send one, and with
 * DuckDB every node stores what it receives. The row is handed to the same
 * checker (`parseEvent`), its `timeMs` as the ISO `time` that checker reads,
 * so source, topic, value and tokens obey the very same rules; `id` must be
 * the event's own ({@link eventId} of what it carries), so a forged row
 * cannot take the id of another event and shadow it in a store that keeps
 * one row per id. With `nowMs`, `timeMs` must also lie in the window
 * `publish` accepts (366 days back to 31 days ahead); without, anywhere
 * from 1970 to year 9999. Every problem is an InputError naming the field
 * (`params.<field>`) and the value.
 */
export function parseSignalRow(params: unknown, nowMs?: number): EventRow {
  if (!isPlainObject(params)) {
    throw invalidField('params', 'an event row {id, source, topic, timeMs, value, tokens}', params);
  }
  // First, so that a `time` field cannot slip past and be overwritten below.
  rejectUnknown(params, ROW_FIELDS, 'params');
  const { id, timeMs, ...event } = params;
  const expected = 'a whole number of ms since 1970, before year 10000';
  if (timeMs === undefined) throw missingField('params.timeMs', expected);
  if (typeof timeMs !== 'number' || !Number.isSafeInteger(timeMs) || timeMs < 0 || timeMs > MAX_TIME_MS) {
    throw invalidField('params.timeMs', expected, timeMs);
  }
  if (nowMs !== undefined && (timeMs < nowMs - MAX_EVENT_AGE_MS || timeMs > nowMs + MAX_EVENT_LEAD_MS)) {
    throw invalidField(
      'params.timeMs',
      `a time from 366 days before now to 31 days after (now is ${new Date(nowMs).toISOString()})`,
      timeMs,
    );
  }
  // The window is checked above (or not at all): here `nowMs` is the event's own time.
  const e = parseEvent({ ...event, time: new Date(timeMs).toISOString() }, timeMs, 'params');
  // Invariant: a whole ms survives the ISO round trip (toISOString keeps 3 digits of ms).
  if (e.timeMs !== timeMs) throw invalidField('params.timeMs', expected, timeMs);
  const row: EventRow = { ...e, id: eventId(e) };
  if (id === undefined) throw missingField('params.id', 'the id of the event the row carries');
  if (id !== row.id) throw invalidField('params.id', `the id of the event the row carries (${row.id})`, id);
  return row;
}

/** What {@link eventsService} needs besides its signals. */
export interface EventsServiceOptions {
  /**
   * The node's domain clock (the EventHub's): with it, a received row's
   * time must lie in the window `events.publish` accepts; without, only
   * its form is checked (a node on a simulated or scaled clock must not
   * judge events by the wall clock).
   */
  clock?: Clock;
  /** Where a dropped row is counted; @default the broker's Guard (services/wire `guardOf`). */
  guard?: Guard;
}

/**
 * The service every node runs to receive broadcast events: each becomes a
 * signal for its collector's features. With `keepCopies` (a store of its
 * own, DuckDB), a node also stores the events other nodes received, so
 * `events.list` answers the same on every node; a shared store (ClickHouse)
 * already has them from the receiving node. Event ids make a copy harmless.
 *
 * A row that fails {@link parseSignalRow} (sent by a buggy or compromised
 * member) is dropped before it reaches the signals or the store, counted
 * among the node's refused calls (`callsRefused`) and logged by its
 * Guard at most once per 10 s (`guardedEvent`). The event has no reply
 * to carry an error.
 */
export function eventsService(
  signals: EventSignals,
  keepCopies: Batcher | undefined,
  logger: { warn(...args: unknown[]): void },
  options: EventsServiceOptions = {},
): ServiceSchema {
  return {
    name: 'headroomEvents',
    events: {
      [SIGNAL_EVENT]: {
        handler: guardedEvent(
          options.guard,
          SIGNAL_EVENT,
          (params) => parseSignalRow(params, options.clock?.now()),
          (row, ctx) => {
            const signal: SignalEvent = {
              topic: row.topic,
              timeMs: row.timeMs,
              value: row.value,
              tokens: row.tokens,
            };
            signals.add(signal);
            if (keepCopies !== undefined && ctx.nodeID !== ctx.broker.nodeID) {
              try {
                keepCopies.add('events', row);
              } catch (err) {
                logger.warn(
                  `event ${row.id} from ${ctx.nodeID} not stored here: ${(err as { code?: string }).code ?? 'error'}`,
                );
              }
            }
          },
        ),
      },
    },
  };
}
