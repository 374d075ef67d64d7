// The dashboard's trainer table from a real trainer: a tiny LSTM trained
// twice behind the `trainer` Moleculer service on a local broker. The first
// version is promoted and serves, the second (trained on noise) is rejected;
// the dashboard lists both, newest first, with their validation scores, and
// says null where no trainer answers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ServiceBroker } from 'moleculer';
import { trainerService } from '../../services/index.ts';
import type { TrainingData } from '../../services/index.ts';
import { TrainerVersions } from '../../services/api/dashboard/index.ts';
import { grid, noiseThenWave, patterned, tinyHub, tinyTrainer } from '../helpers/forecast-data.ts';

const N = 600;

test('dashboard trainer - versions with their validation scores, the serving one marked', async (t) => {
  t.timeout(120_000);
  const dir = await mkdtemp(join(tmpdir(), 'hr-dash-trainer-'));
  const hub = tinyHub(dir);
  let data: TrainingData = { series: patterned(4, N), timestamps: grid(N), stepMs: 1000 };
  const trainer = tinyTrainer(hub, () => data);
  const broker = new ServiceBroker({ nodeID: 'dash-trainer', logger: false, transporter: null });
  const versions = new TrainerVersions();
  try {
    // No trainer service yet: the table says there is none.
    await broker.start();
    t.is(await versions.read(broker), null);

    broker.createService(trainerService(trainer));
    await broker.waitForServices(['trainer']);
    const first = await trainer.train();
    t.true(first.promoted, first.reason);
    const one = (await versions.read(broker)) as any;
    t.is(one.versions.length, 1);
    t.like(one.versions[0], { version: 'v000001', status: 'promoted', serving: true });
    t.true(one.versions[0].scores.candidate.wape >= 0);
    t.true(Object.keys(one.versions[0].scores).length >= 2, 'the candidate and its baselines');

    // Noise to train on, a smooth wave held back: the candidate loses and is rejected.
    data = noiseThenWave(N);
    const second = await trainer.train();
    t.false(second.promoted);
    const two = (await versions.read(broker)) as any;
    t.deepEqual(
      two.versions.map((v: any) => [v.version, v.status, v.serving]),
      [
        ['v000002', 'rejected', false],
        ['v000001', 'promoted', true],
      ],
    );
    t.is(two.versions[0].reason, second.reason);
    t.deepEqual(two.versions[0].scores, second.scores);
    t.is(two.runs, 2);
  } finally {
    await broker.stop();
    await trainer.stop();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
});
