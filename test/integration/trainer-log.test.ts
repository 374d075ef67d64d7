// The trainer says what it did in one info event line with its fields
// (runtime/logging.ts logEvent): `promotion` for a promoted model, `rejection`
// for a rejected candidate, naming the version that keeps serving and why
// (promote and rollback by hand log a promotion, trigger request or
// rollback). Real training, tiny LSTM.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SystemClock } from '../../lib/index.ts';
import { ForecastHub, Trainer } from '../../services/index.ts';
import type { TrainingData } from '../../services/index.ts';
import { TINY_LSTM, grid, patterned } from '../helpers/forecast-data.ts';

const N = 600;

test('trainer log - a promotion and a rejection each log one info line with version, scores and reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hr-trainer-log-'));
  const hub = new ForecastHub(
    { horizonsMs: [1000, 3000], stepMs: 1000, backend: 'wasm', registryDir: join(dir, 'models') },
    new SystemClock(),
  );
  let data: TrainingData = { series: patterned(4, N), timestamps: grid(N), stepMs: 1000 };
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  // logEvent's call: info(fields with `event`, message).
  const trainer = new Trainer({
    hub,
    clock: new SystemClock(),
    source: () => Promise.resolve(data),
    options: { everyMs: 0, lstm: TINY_LSTM, driftFactor: 1.5, driftGapMs: 60_000, progressBar: false },
    log: {
      info: (fields: unknown, message: unknown) =>
        lines.push({ message: String(message), fields: fields as Record<string, unknown> }),
      warn: () => undefined,
    },
  });
  try {
    const first = await trainer.train();
    t.true(first.promoted, first.reason);
    t.is(lines.length, 1);
    t.is(lines[0]!.message, `model v000001 promoted: ${first.reason}`);
    t.like(lines[0]!.fields, {
      event: 'promotion',
      version: 'v000001',
      promoted: true,
      reason: first.reason,
      trigger: 'request',
    });
    t.deepEqual(lines[0]!.fields['scores'], first.scores);

    // Noise to train on, a smooth wave held back: the candidate loses and is rejected.
    let s = 7;
    const noise = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 100;
    data = {
      series: Array.from({ length: 3 }, () =>
        Float64Array.from({ length: N }, (_v, i) => (i < 450 ? noise() : 50 + 20 * Math.sin(i / 40))),
      ),
      timestamps: grid(N),
      stepMs: 1000,
    };
    const second = await trainer.train();
    t.false(second.promoted);
    t.is(lines.length, 2);
    t.is(lines[1]!.message, `candidate v000002 rejected, v000001 keeps serving: ${second.reason}`);
    t.like(lines[1]!.fields, {
      event: 'rejection',
      version: 'v000002',
      promoted: false,
      reason: second.reason,
      serving: 'v000001',
    });
    t.truthy((lines[1]!.fields['scores'] as Record<string, unknown>)['candidate']);

    await t.throwsAsync(() => trainer.rollback()); // nothing promoted before v000001
    t.is(lines.length, 2, 'a refused rollback logs nothing');
  } finally {
    await trainer.stop();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
});
