/**
 * External events summed into steps aligned like bucket rows, so that a
 * model reads an event feature per step next to a token's buckets. Both
 * adapters compute them from the same deduplicated event rows, so they
 * answer alike.
 */
import { invalidField } from '../lib/index.ts';
import { MAX_STEPS, type StepPlan } from './shared.ts';
import type { EventLevelRow, EventRow } from './types.ts';

/**
 * One row per topic and step (topics sorted, then steps by start): every
 * topic with an event in the aligned range, and `topic` when given even
 * without one. `events` are sorted by time then id (as `events()` returns
 * them), so the last one of a step is its latest.
 */
export function eventLevelRows(
  events: readonly EventRow[],
  plan: StepPlan,
  stepMs: number,
  topic?: string,
): EventLevelRow[] {
  const byTopic = new Map<string, Map<number, EventLevelRow>>();
  if (topic !== undefined) byTopic.set(topic, new Map());
  for (const e of events) {
    let steps = byTopic.get(e.topic);
    if (steps === undefined) byTopic.set(e.topic, (steps = new Map()));
    const startMs = Math.floor(e.timeMs / stepMs) * stepMs;
    const row = steps.get(startMs);
    if (row === undefined) {
      steps.set(startMs, { topic: e.topic, startMs, count: 1, sum: e.value, max: e.value, last: e.value });
    } else {
      row.count++;
      row.sum += e.value;
      row.max = Math.max(row.max!, e.value);
      row.last = e.value;
    }
  }
  if (byTopic.size * plan.steps > MAX_STEPS) {
    throw invalidField(
      'stepMs',
      `large enough for at most ${MAX_STEPS} rows (${byTopic.size} topics in the range)`,
      stepMs,
    );
  }
  const out: EventLevelRow[] = [];
  for (const name of [...byTopic.keys()].sort()) {
    const steps = byTopic.get(name)!;
    for (let i = 0; i < plan.steps; i++) {
      const startMs = plan.firstMs + i * stepMs;
      out.push(steps.get(startMs) ?? { topic: name, startMs, count: 0, sum: 0, max: null, last: null });
    }
  }
  return out;
}
