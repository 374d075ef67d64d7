// Each option set that used to be a `{...defaults, ...input}` spread is now
// compiled with lib/options.ts: a misspelt key is an InvalidOptions error
// naming it, not a default silently kept.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, HpaPolicy, InputError, SimulatedClock, compileHpaOptions } from '../../lib/index.ts';
import type { HpaOptions } from '../../lib/index.ts';
import { PrivacyPipeline } from '../../lib/privacy/index.ts';
import type { Batcher } from '../../store/index.ts';
import { TakeLedger, compileTakeLedgerOptions } from '../../actors/index.ts';
import type { TakeLedgerOptions } from '../../actors/index.ts';
import { Collector, compileCollectorOptions, defaultCollectorOptions } from '../../collection/index.ts';
import type { CollectorOptions } from '../../collection/index.ts';
import {
  CollectorPort,
  EventsFeed,
  compileCollectorPortOptions,
  compileEventsFeedOptions,
} from '../../services/collection/index.ts';
import type {
  CollectorConfig,
  CollectorPortOptions,
  EventsFeedOptions,
} from '../../services/collection/index.ts';
import type { WorkerStore } from '../../store/index.ts';

/** A misspelt key, typed as the options so that only the compiler can refuse it. */
const typo = <T>(o: Record<string, unknown>): Partial<T> => o as Partial<T>;

/** Asserts `fn` throws an InvalidOptions InputError whose field and message name `field`. */
function refusesKey(t: ExecutionContext, fn: () => unknown, field: string): void {
  const err = t.throws(fn, { instanceOf: InputError });
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(err?.field, field);
  t.true(err?.message.includes(`${field} is not a known option`), err?.message);
}

const clock = new SimulatedClock(0);

test('collector options - a misspelt key is refused by name, the defaults are fresh and frozen', (t) => {
  refusesKey(
    t,
    () => compileCollectorOptions(typo<CollectorOptions>({ graceMS: 1000 })),
    'collector.graceMS',
  );
  const pipeline = new PrivacyPipeline({ keys: [{ id: 'k1', secret: 'misspelt-options-secret-01' }] });
  const deps = {
    pipeline,
    batcher: { add: () => undefined } as unknown as Batcher,
    clock,
    logger: { warn: () => undefined },
  };
  refusesKey(t, () => new Collector(deps, typo<CollectorOptions>({ tickms: 5 })), 'collector.tickms');
  const o = compileCollectorOptions({ graceMs: 0 });
  t.deepEqual({ ...o }, { ...defaultCollectorOptions(), graceMs: 0 });
  t.true(Object.isFrozen(o));
  t.throws(() => compileCollectorOptions({ graceMs: -1 }), {
    instanceOf: InputError,
    message: /collector.graceMs/,
  });
  new Collector(deps, { tickMs: 50 }).close();
});

test('collector port options - a misspelt key is refused by name before the worker is asked', async (t) => {
  refusesKey(
    t,
    () => compileCollectorPortOptions(typo<CollectorPortOptions>({ maxQueu: 10 })),
    'collectorPort.maxQueu',
  );
  let asked = false;
  const worker = {
    call: () => {
      asked = true;
      return Promise.resolve([]);
    },
  } as unknown as WorkerStore;
  const err = await t.throwsAsync(
    CollectorPort.open(
      { worker, id: 'n1', clock, logger: { warn: () => undefined } },
      {} as CollectorConfig,
      typo<CollectorPortOptions>({ tick: 5 }),
    ),
    { instanceOf: InputError, message: /collectorPort\.tick is not a known option/ },
  );
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.false(asked, 'the worker opened no collector');
});

test('events feed options - a misspelt key and a missing path are refused, the path made absolute', (t) => {
  const paths = { path: 'events.csv', stateFile: 'state.json' };
  refusesKey(
    t,
    () => compileEventsFeedOptions({ ...paths, ...typo<EventsFeedOptions>({ pollMS: 100 }) }),
    'eventsFeed.pollMS',
  );
  const deps = { clock, publish: () => Promise.resolve(), logger: { warn: () => {}, info: () => {} } };
  refusesKey(
    t,
    () => new EventsFeed(deps, { ...paths, ...typo<EventsFeedOptions>({ statefile: 'x' }) }),
    'eventsFeed.statefile',
  );
  t.throws(() => compileEventsFeedOptions({ path: 'events.csv' } as EventsFeedOptions), {
    instanceOf: InputError,
    message: /eventsFeed.stateFile is required/,
  });
  const o = compileEventsFeedOptions(paths);
  t.true(o.path.startsWith('/') && o.path.endsWith('/events.csv'));
  t.is(o.pollMs, 500);
});

test('hpa options - a misspelt key is refused by name; bounds as before', (t) => {
  refusesKey(
    t,
    () => compileHpaOptions(typo<HpaOptions>({ targetUtilisation: 0.5 })),
    'reactive.targetUtilisation',
  );
  refusesKey(t, () => new HpaPolicy(typo<HpaOptions>({ syncMS: 1000 })), 'reactive.syncMS');
  t.throws(() => new HpaPolicy({ targetUtilization: 1.5 }), {
    instanceOf: InputError,
    message: /reactive.targetUtilization/,
  });
  t.throws(() => new HpaPolicy({ tolerance: -0.1 }), {
    instanceOf: InputError,
    message: /reactive.tolerance/,
  });
  t.is(new HpaPolicy({ targetUtilization: 0.5, syncMs: 0 }).options.targetUtilization, 0.5);
});

test('take ledger options - a misspelt key is refused by name', (t) => {
  refusesKey(
    t,
    () => compileTakeLedgerOptions(typo<TakeLedgerOptions>({ windowMS: 1000 })),
    'ledger.windowMS',
  );
  refusesKey(t, () => new TakeLedger(clock, typo<TakeLedgerOptions>({ maxEntry: 5 })), 'ledger.maxEntry');
  t.throws(() => new TakeLedger(clock, typo<TakeLedgerOptions>({ randomBytes: 'x' })), {
    instanceOf: InputError,
    message: /ledger.randomBytes/,
  });
});
