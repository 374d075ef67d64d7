/**
 * The events hub: external event signals arriving on the API
 * (`events.publish`) or from a file feed are stored (EventRow, tokens as
 * keyed hashes) and broadcast to every node, whose collector reads their
 * current level per topic as features. `events.list` reads them back.
 */
import type { ServiceBroker, ServiceSchema, Context } from 'moleculer';
import { ErrorCode, StateError, eventId } from '../../lib/index.ts';
import type { Clock, EventInput, EventQuery, EventSignals, SignalEvent } from '../../lib/index.ts';
import type { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { Batcher, EventRow, TimeSeriesStore } from '../../store/index.ts';

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

/**
 * The service every node runs to receive broadcast events: each becomes a
 * signal for its collector's features. With `keepCopies` (a store of its
 * own, DuckDB), a node also stores the events other nodes received, so
 * `events.list` answers the same on every node; a shared store (ClickHouse)
 * already has them from the receiving node. Event ids make a copy harmless.
 */
export function eventsService(
  signals: EventSignals,
  keepCopies: Batcher | undefined,
  logger: { warn(...args: unknown[]): void },
): ServiceSchema {
  return {
    name: 'headroomEvents',
    events: {
      [SIGNAL_EVENT]: {
        handler(ctx: Context<EventRow>) {
          const row = ctx.params;
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
      },
    },
  };
}
