// The trainer says what it did in one info event line with its fields
// (runtime/logging.ts logEvent): `promotion` for a promoted model, `rejection`
// for a rejected candidate, naming the version that keeps serving and why
// (promote and rollback by hand log a promotion, trigger request or
// rollback). Real training, tiny LSTM.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { TrainingData } from '../../services/index.ts';
import { grid, noiseThenWave, patterned, tinyHub, tinyTrainer } from '../helpers/forecast-data.ts';

const N = 600;

test('trainer log - a promotion and a rejection each log one info line with version, scores and reason', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hr-trainer-log-'));
  const hub = tinyHub(dir);
  let data: TrainingData = { series: patterned(4, N), timestamps: grid(N), stepMs: 1000 };
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  // logEvent's call: info(fields with `event`, message).
  const trainer = tinyTrainer(hub, () => data, {
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
    data = noiseThenWave(N);
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
