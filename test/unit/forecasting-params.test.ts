// What other cluster members send the forecasting services
// (services/forecasting/forecasting-params.ts, services/wire/guarded.ts): each action's
// params and each event's are checked like the public API, a bad call gets an
// InputError naming the field and the value and is counted by the node's
// Guard, and a bad event is counted and dropped without any effect.
import test from 'ava';
import fc from 'fast-check';
import { ServiceBroker } from 'moleculer';
import { ErrorCode, InputError, SimulatedClock } from '../../lib/index.ts';
import {
  MAX_EVIDENCE,
  checkPredictParams,
  forecastService,
  parseBayesQueryParams,
  parseForecastErrorEvent,
  parseForecastModelEvent,
  parsePromoteParams,
  parseSeriesParams,
  trainerService,
} from '../../services/forecasting/index.ts';
import type { ForecastHub, Trainer } from '../../services/forecasting/index.ts';
import { Guard, Refused } from '../../services/wire/index.ts';

const HORIZONS = [5000, 30_000, 300_000];
const INPUT_CODES: string[] = [ErrorCode.InvalidField, ErrorCode.UnknownField, ErrorCode.MissingField];

/** Runs `parse`; the InputError it threw (its code, field and message), or null when it accepted. */
function refusal(parse: () => unknown): { code: string; field: string | undefined; message: string } | null {
  try {
    parse();
    return null;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return { code: err.code, field: err.field, message: err.message };
  }
}

test('forecasting params - good params pass, with their defaults', (t) => {
  t.deepEqual(parseBayesQueryParams({}, HORIZONS), { target: 'burst', evidence: {}, horizonMs: 5000 });
  t.deepEqual(parseBayesQueryParams(null, HORIZONS), { target: 'burst', evidence: {}, horizonMs: 5000 });
  t.deepEqual(
    parseBayesQueryParams(
      { evidence: { event: 'spike', trend: 1 }, target: 'demand', horizonMs: 30_000 },
      HORIZONS,
    ),
    { target: 'demand', evidence: { event: 'spike', trend: 1 }, horizonMs: 30_000 },
  );
  t.deepEqual(parsePromoteParams({ version: 'v000012' }), { version: 'v000012' });
  t.deepEqual(parseSeriesParams({ maxTokens: 1000 }), { maxTokens: 1000 });
  t.deepEqual(parseForecastErrorEvent({ wape: 0, n: 1 }), { wape: 0, n: 1 });
  t.deepEqual(parseForecastErrorEvent({ wape: 2.5, n: 333 }), { wape: 2.5, n: 333 });
  t.deepEqual(parseForecastModelEvent({ version: 'v000003' }), { version: 'v000003' });
  t.deepEqual(parseForecastModelEvent({}), {});
});

test('forecasting params - each bad field is an InputError naming the field and the value', (t) => {
  const cases: Array<[string, () => unknown, string, string, RegExp]> = [
    [
      'bayes not an object',
      () => parseBayesQueryParams([1], HORIZONS),
      ErrorCode.InvalidField,
      'params',
      /got \[1\]/,
    ],
    [
      'bayes unknown field',
      () => parseBayesQueryParams({ targt: 'demand' }, HORIZONS),
      ErrorCode.UnknownField,
      'targt',
      /targt is not a known field/,
    ],
    [
      'bayes target',
      () => parseBayesQueryParams({ target: 'storm' }, HORIZONS),
      ErrorCode.InvalidField,
      'target',
      /got "storm"/,
    ],
    [
      'bayes evidence',
      () => parseBayesQueryParams({ evidence: 'spike' }, HORIZONS),
      ErrorCode.InvalidField,
      'evidence',
      /got "spike"/,
    ],
    [
      'bayes evidence value',
      () => parseBayesQueryParams({ evidence: { event: true } }, HORIZONS),
      ErrorCode.InvalidField,
      'evidence.event',
      /got true/,
    ],
    [
      'bayes evidence index',
      () => parseBayesQueryParams({ evidence: { event: -1 } }, HORIZONS),
      ErrorCode.InvalidField,
      'evidence.event',
      /got -1/,
    ],
    [
      'bayes evidence size',
      () =>
        parseBayesQueryParams(
          { evidence: Object.fromEntries(Array.from({ length: MAX_EVIDENCE + 1 }, (_v, i) => [`n${i}`, 0])) },
          HORIZONS,
        ),
      ErrorCode.InvalidField,
      'evidence',
      /65 nodes/,
    ],
    [
      'bayes horizon',
      () => parseBayesQueryParams({ horizonMs: 1000 }, HORIZONS),
      ErrorCode.InvalidField,
      'horizonMs',
      /one of 5000, 30000, 300000, got 1000/,
    ],
    [
      'bayes horizon type',
      () => parseBayesQueryParams({ horizonMs: '5000' }, HORIZONS),
      ErrorCode.InvalidField,
      'horizonMs',
      /got "5000"/,
    ],
    [
      'promote missing',
      () => parsePromoteParams({}),
      ErrorCode.MissingField,
      'params.version',
      /params\.version is required/,
    ],
    [
      'promote path',
      () => parsePromoteParams({ version: '../v000001' }),
      ErrorCode.InvalidField,
      'params.version',
      /got "\.\.\/v000001"/,
    ],
    [
      'promote number',
      () => parsePromoteParams({ version: 1 }),
      ErrorCode.InvalidField,
      'params.version',
      /got 1/,
    ],
    [
      'promote unknown',
      () => parsePromoteParams({ version: 'v000001', force: true }),
      ErrorCode.UnknownField,
      'params.force',
      /params\.force/,
    ],
    ['series missing', () => parseSeriesParams({}), ErrorCode.MissingField, 'params.maxTokens', /required/],
    [
      'series too many',
      () => parseSeriesParams({ maxTokens: 1001 }),
      ErrorCode.InvalidField,
      'params.maxTokens',
      /from 1 to 1000, got 1001/,
    ],
    ['series null', () => parseSeriesParams(null), ErrorCode.InvalidField, 'params', /got null/],
    [
      'error missing wape',
      () => parseForecastErrorEvent({ n: 1 }),
      ErrorCode.MissingField,
      'params.wape',
      /required/,
    ],
    [
      'error negative wape',
      () => parseForecastErrorEvent({ wape: -1, n: 1 }),
      ErrorCode.InvalidField,
      'params.wape',
      /got -1/,
    ],
    [
      'error string wape',
      () => parseForecastErrorEvent({ wape: '0.5', n: 1 }),
      ErrorCode.InvalidField,
      'params.wape',
      /got "0\.5"/,
    ],
    [
      'error string n',
      () => parseForecastErrorEvent({ wape: 0.5, n: '3' }),
      ErrorCode.InvalidField,
      'params.n',
      /got "3"/,
    ],
    [
      'error fraction n',
      () => parseForecastErrorEvent({ wape: 0.5, n: 1.5 }),
      ErrorCode.InvalidField,
      'params.n',
      /got 1\.5/,
    ],
    [
      'error zero n',
      () => parseForecastErrorEvent({ wape: 0.5, n: 0 }),
      ErrorCode.InvalidField,
      'params.n',
      /got 0/,
    ],
    [
      'error unknown',
      () => parseForecastErrorEvent({ wape: 0.5, n: 1, node: 'x' }),
      ErrorCode.UnknownField,
      'params.node',
      /params\.node/,
    ],
    ['error null', () => parseForecastErrorEvent(null), ErrorCode.InvalidField, 'params', /got null/],
    [
      'model version',
      () => parseForecastModelEvent({ version: 42 }),
      ErrorCode.InvalidField,
      'params.version',
      /got 42/,
    ],
    [
      'model string',
      () => parseForecastModelEvent('v000001'),
      ErrorCode.InvalidField,
      'params',
      /got "v000001"/,
    ],
  ];
  for (const [what, parse, code, field, message] of cases) {
    const r = refusal(parse);
    t.truthy(r, `${what}: accepted`);
    t.is(r?.code, code, what);
    t.is(r?.field, field, what);
    t.regex(r?.message ?? '', message, what);
  }
});

test('forecasting params - any value is accepted as a valid one or refused with a coded error (fuzz)', (t) => {
  // Good params with one field replaced by anything, or anything at all.
  const anyOr = <T extends object>(good: T): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.jsonValue(),
      fc
        .tuple(fc.constantFrom(...Object.keys(good), 'extra'), fc.jsonValue())
        .map(([k, v]) => ({ ...good, [k]: v })),
    );
  const parsers: Array<[string, fc.Arbitrary<unknown>, (p: unknown) => unknown, (out: never) => boolean]> = [
    [
      'bayes.query',
      anyOr({ evidence: { event: 'spike' }, target: 'burst', horizonMs: 5000 }),
      (p) => parseBayesQueryParams(p, HORIZONS),
      (q: { horizonMs: number }) => HORIZONS.includes(q.horizonMs),
    ],
    [
      'trainer.promote',
      anyOr({ version: 'v000001' }),
      parsePromoteParams,
      (p: { version: string }) => /^v\d{6}$/.test(p.version),
    ],
    [
      'training.series',
      anyOr({ maxTokens: 10 }),
      parseSeriesParams,
      (p: { maxTokens: number }) => Number.isInteger(p.maxTokens) && p.maxTokens >= 1 && p.maxTokens <= 1000,
    ],
    [
      'forecast.error',
      anyOr({ wape: 0.5, n: 3 }),
      parseForecastErrorEvent,
      (e: { wape: number; n: number }) =>
        Number.isFinite(e.wape) && e.wape >= 0 && Number.isSafeInteger(e.n) && e.n >= 1,
    ],
    [
      'forecast.model',
      anyOr({ version: 'v000001' }),
      parseForecastModelEvent,
      (e: { version?: string }) => e.version === undefined || /^v\d{6}$/.test(e.version),
    ],
  ];
  for (const [what, params, parse, valid] of parsers) {
    fc.assert(
      fc.property(params, (p) => {
        let out: unknown;
        try {
          out = parse(p);
        } catch (err) {
          // A field the message names, and a code a client can act on.
          return (
            err instanceof InputError &&
            INPUT_CODES.includes(err.code) &&
            err.field !== undefined &&
            err.message.includes(err.field)
          );
        }
        return valid(out as never);
      }),
      { seed: 20261206, numRuns: 1000 },
    );
    t.pass(what);
  }
});

/** A trainer that records what the service asked of it. */
function fakeTrainer(): { trainer: Trainer; noted: Array<[number, number]>; ran: string[] } {
  const noted: Array<[number, number]> = [];
  const ran: string[] = [];
  const trainer = {
    noteError: (wape: number, n: number) => void noted.push([wape, n]),
    forwardTo: () => undefined,
    status: () => (ran.push('status'), Promise.resolve({})),
    train: () => (ran.push('train'), Promise.resolve({})),
    promote: (v: string) => (ran.push(`promote ${v}`), Promise.resolve({})),
    rollback: () => (ran.push('rollback'), Promise.resolve({})),
    start: () => undefined,
    stop: () => Promise.resolve(),
  };
  return { trainer: trainer as unknown as Trainer, noted, ran };
}

function guardWithLog(): { guard: Guard; lines: string[] } {
  const lines: string[] = [];
  return { guard: new Guard({ warn: (m) => void lines.push(m) }, new SimulatedClock(0)), lines };
}

test('forecasting services - a bad forecast.error is counted, logged once and dropped; a good one is noted', async (t) => {
  const { trainer, noted } = fakeTrainer();
  const { guard, lines } = guardWithLog();
  const broker = new ServiceBroker({ logger: false, transporter: null });
  broker.createService(trainerService(trainer, guard));
  await broker.start();
  t.teardown(() => broker.stop());
  const bad = [
    null,
    'x',
    [],
    { wape: -1e12, n: 1 },
    { wape: 1e12, n: '1' },
    { wape: 1e12, n: 1.5 },
    { wape: 1, n: 1, x: 1 },
  ];
  for (const p of bad) await broker.emit('forecast.error', p);
  await broker.emit('forecast.error', { wape: 0.25, n: 4 });
  await new Promise((r) => setImmediate(r));
  t.deepEqual(noted, [[0.25, 4]]);
  t.is(guard.stats()[Refused.Call], bad.length);
  // The Guard logs one line per kind per 10 s, whatever the flood.
  t.is(lines.length, 1);
  t.regex(lines[0]!, /event forecast\.error from .* dropped: params must be an object \{wape, n\}, got null/);
});

test('forecasting services - bad trainer calls are refused before they run or are forwarded', async (t) => {
  const { trainer, ran } = fakeTrainer();
  const { guard } = guardWithLog();
  const broker = new ServiceBroker({ logger: false, transporter: null });
  broker.createService(trainerService(trainer, guard));
  await broker.start();
  t.teardown(() => broker.stop());
  const calls: Array<[string, unknown, ErrorCode]> = [
    ['trainer.train', { now: true }, ErrorCode.UnknownField],
    ['trainer.rollback', { to: 'v000001' }, ErrorCode.UnknownField],
    ['trainer.status', { verbose: 1 }, ErrorCode.UnknownField],
    ['trainer.promote', { version: 'latest' }, ErrorCode.InvalidField],
    ['trainer.promote', {}, ErrorCode.MissingField],
  ];
  for (const [action, params, code] of calls) {
    const err = await t.throwsAsync(() => broker.call(action, params), { instanceOf: InputError });
    t.is((err as InputError).code, code, action);
  }
  t.deepEqual(ran, []);
  t.is(guard.stats()[Refused.Call], calls.length);
  await broker.call('trainer.train');
  await broker.call('trainer.promote', { version: 'v000002' });
  t.deepEqual(ran, ['train', 'promote v000002']);
});

test('forecasting services - a bad forecast.model reloads nothing, a bad predict is counted', async (t) => {
  const reloads: Array<string | undefined> = [];
  const hub = {
    reload: (v?: string) => (reloads.push(v), Promise.resolve()),
    predict: (p: unknown) => (checkPredictParams(p, 1000, 3), Promise.resolve({ forecasts: [] })),
    close: () => Promise.resolve(),
  } as unknown as ForecastHub;
  const { guard } = guardWithLog();
  const broker = new ServiceBroker({ logger: false, transporter: null });
  broker.createService(forecastService(hub, guard));
  await broker.start();
  t.teardown(() => broker.stop());
  for (const p of [{ version: 42 }, { version: '../x' }, 'v000001', [1], { version: 'v000001', x: 1 }])
    await broker.emit('forecast.model', p);
  await broker.emit('forecast.model', { version: 'v000004' });
  await new Promise((r) => setImmediate(r));
  t.deepEqual(reloads, ['v000004']);
  t.is(guard.stats()[Refused.Call], 5);
  await t.throwsAsync(() => broker.call('forecast.predict', { items: 'x' }), {
    instanceOf: InputError,
    message: /params\.items must be a list/,
  });
  t.is(guard.stats()[Refused.Call], 6);
});
