// The trainer says what it did in one info line with its fields: a promoted
// model and a rejected candidate after training (promote and rollback by hand
// log the same line, trigger request or rollback). Real training, tiny LSTM.
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
  const trainer = new Trainer({
    hub,
    clock: new SystemClock(),
    source: () => Promise.resolve(data),
    options: { everyMs: 0, lstm: TINY_LSTM, driftFactor: 1.5, driftGapMs: 60_000, progressBar: false },
    log: {
      info: (message: unknown, fields: unknown) =>
        lines.push({ message: String(message), fields: fields as Record<string, unknown> }),
      warn: () => undefined,
    },
  });
  try {
    const first = await trainer.train();
    t.true(first.promoted, first.reason);
    t.is(lines.length, 1);
    t.is(lines[0]!.message, 'model promoted');
    t.like(lines[0]!.fields, {
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
    t.is(lines[1]!.message, 'candidate rejected');
    t.like(lines[1]!.fields, { version: 'v000002', promoted: false, reason: second.reason });
    t.truthy((lines[1]!.fields['scores'] as Record<string, unknown>)['candidate']);

    await t.throwsAsync(() => trainer.rollback()); // nothing promoted before v000001
    t.is(lines.length, 2, 'a refused rollback logs nothing');
  } finally {
    await trainer.stop();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
});
