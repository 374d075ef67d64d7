// The `headroom.events.signal` event (services/collection/events.ts): every
// node hears each published event as a row and feeds it to its collector's
// signals (and, with DuckDB, stores a copy). Any member with the `node` role
// can broadcast one, so a row is checked as `events.publish` checks its body;
// a bad one is counted by the node's Guard and dropped, a good one still
// arrives. Over Moleculer's in-process Fake transporter, so the rows really
// come from another node.
import test from 'ava';
import { ServiceBroker } from 'moleculer';
import { DAY_MS, ErrorCode, InputError, SimulatedClock, eventId, parseEvent } from '../../lib/index.ts';
import type { EventSignals, SignalEvent } from '../../lib/index.ts';
import { SIGNAL_EVENT, eventsService, parseSignalRow } from '../../services/collection/events.ts';
import { Guard, Refused } from '../../services/wire/index.ts';
import type { Batcher, EventRow } from '../../store/index.ts';
import { waitUntil } from '../helpers/node-process.ts';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

/** A row as EventHub.publish broadcasts it: tokens already keyed hashes, sorted; id of what it carries. */
function goodRow(overrides: Partial<EventRow> = {}): EventRow {
  const e = parseEvent({ source: 'news', topic: 'launch', time: new Date(T0).toISOString(), value: 3 }, T0);
  const tokens = ['k1:aaaa', 'k1:bbbb'];
  const row = { ...e, tokens, ...overrides };
  return { ...row, id: eventId(row) };
}

/** Rows that must be dropped, each with the field its error names. */
const BAD: Array<[string, unknown, string]> = [
  ['null payload', null, 'params'],
  ['a string', 'x', 'params'],
  ['an array', [], 'params'],
  [
    'tokens as a string (was walked character by character)',
    { ...goodRow(), tokens: 'k1:aaaa' },
    'params.tokens',
  ],
  ['a token not a string', { ...goodRow(), tokens: [1] }, 'params.tokens[0]'],
  ['timeMs as an ISO string', { ...goodRow(), timeMs: new Date(T0).toISOString() }, 'params.timeMs'],
  ['timeMs a fraction', { ...goodRow(), timeMs: T0 + 0.5 }, 'params.timeMs'],
  ['timeMs past year 9999', { ...goodRow(), timeMs: 1e300 }, 'params.timeMs'],
  ['timeMs missing', { ...goodRow(), timeMs: undefined }, 'params.timeMs'],
  ['value not a number', { ...goodRow(), value: '3' }, 'params.value'],
  ['a topic with a space', { ...goodRow(), topic: 'a b' }, 'params.topic'],
  ['an unknown field', { ...goodRow(), time: '2026-12-06T12:00:00Z' }, 'params.time'],
  ['an id not its own', { ...goodRow(), id: 'f'.repeat(32) }, 'params.id'],
  ['a value changed under its id', { ...goodRow(), value: 4 }, 'params.id'],
  ['a token changed under its id', { ...goodRow(), tokens: ['k1:aaaa', 'k1:cccc'] }, 'params.id'],
  ['no id', { ...goodRow(), id: undefined }, 'params.id'],
];

test('events signal - a row is checked as events.publish checks its body', (t) => {
  const row = goodRow();
  t.deepEqual(parseSignalRow(row, T0), row);
  t.deepEqual(parseSignalRow(goodRow({ tokens: [] }), T0), goodRow({ tokens: [] }));
  // Tokens are a set: sent out of order (the id is of the sorted ones), the row is stored sorted.
  t.deepEqual(parseSignalRow({ ...row, tokens: [...row.tokens].reverse() }, T0), row);
  for (const [what, params, field] of BAD) {
    // JSON, as the row travels: an undefined field is absent.
    const sent: unknown = params === null ? null : JSON.parse(JSON.stringify(params));
    const err = t.throws(() => parseSignalRow(sent, T0), { instanceOf: InputError }, what);
    t.is(err?.field, field, what);
  }
  // With the node's clock, the window events.publish accepts: 366 days back, 31 ahead.
  const old = goodRow({ timeMs: T0 - 367 * DAY_MS });
  const err = t.throws(() => parseSignalRow(old, T0), { instanceOf: InputError });
  t.is(err?.code, ErrorCode.InvalidField);
  t.is(err?.field, 'params.timeMs');
  // Without a clock (a node on a simulated or scaled one), only the form is checked.
  t.deepEqual(parseSignalRow(old), old);
});

interface Cluster {
  receiver: ServiceBroker;
  sender: ServiceBroker;
  added: SignalEvent[];
  stored: EventRow[];
  guard: Guard;
  logged: string[];
}

/** A receiving node (DuckDB-like: keeps copies) and a member that sends it rows. */
async function cluster(namespace: string): Promise<Cluster> {
  const added: SignalEvent[] = [];
  const stored: EventRow[] = [];
  const logged: string[] = [];
  const guard = new Guard({ warn: (m) => void logged.push(m) }, new SimulatedClock(T0));
  const signals = { add: (e: SignalEvent) => void added.push(e) } as unknown as EventSignals;
  const batcher = { add: (_kind: string, row: EventRow) => void stored.push(row) } as unknown as Batcher;
  const options = { logger: false, transporter: 'Fake', namespace } as const;
  const receiver = new ServiceBroker({ ...options, nodeID: `${namespace}-node` });
  receiver.createService(
    eventsService(signals, batcher, { warn: () => undefined }, { clock: new SimulatedClock(T0), guard }),
  );
  const sender = new ServiceBroker({ ...options, nodeID: `${namespace}-member` });
  await Promise.all([receiver.start(), sender.start()]);
  // The member has the receiver's INFO (and so its event handlers) once it lists its service.
  await sender.waitForServices(['headroomEvents'], 5000);
  return { receiver, sender, added, stored, guard, logged };
}

test('events signal - bad rows from another node are counted and dropped, a good one still arrives', async (t) => {
  const c = await cluster('signal-bad');
  t.teardown(() => Promise.all([c.sender.stop(), c.receiver.stop()]));
  for (const [, params] of BAD) await c.sender.broadcast(SIGNAL_EVENT, params);
  const good = goodRow();
  await c.sender.broadcast(SIGNAL_EVENT, good);
  await waitUntil(
    () => c.added.length + c.guard.stats()[Refused.Call] >= BAD.length + 1,
    5000,
    `${BAD.length + 1} rows handled`,
  );
  t.is(c.guard.stats()[Refused.Call], BAD.length);
  // Only the good row reached the signals and the store, as sent.
  t.deepEqual(c.added, [{ topic: good.topic, timeMs: good.timeMs, value: good.value, tokens: good.tokens }]);
  t.deepEqual(c.stored, [good]);
  // Logged once (per 10 s), naming the sender and what was wrong.
  t.is(c.logged.length, 1);
  t.regex(
    c.logged[0]!,
    /event headroom\.events\.signal from signal-bad-member dropped: params must be an event row .*got null/,
  );
});

test('events signal - the node goes on after a flood of malformed rows', async (t) => {
  const c = await cluster('signal-flood');
  t.teardown(() => Promise.all([c.sender.stop(), c.receiver.stop()]));
  const n = 200;
  for (let i = 0; i < n; i++) await c.sender.broadcast(SIGNAL_EVENT, { ...goodRow(), tokens: `t${i}` });
  await waitUntil(() => c.guard.stats()[Refused.Call] >= n, 5000, `${n} rows refused`);
  t.is(c.guard.stats()[Refused.Call], n);
  t.deepEqual(c.added, []);
  t.deepEqual(c.stored, []);
  t.is(c.logged.length, 1);
  t.true(await c.receiver.ping(c.sender.nodeID, 2000).then(() => true));
});
