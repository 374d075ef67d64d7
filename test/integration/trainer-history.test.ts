// The first training runs once there is enough history (issue 12 item 3),
// not a schedule period later: a trainer on a simulated clock with a 10 min
// schedule and a 2 min minimum trains (trigger `history`) at the first check
// after the demand seen spans 2 min, not before, and only once; the zeros
// before the first request do not count as history. A trainer that stands by
// (another node is the elected trainer) does not train at all. Real
// training, tiny LSTM.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SimulatedClock } from '../../lib/index.ts';
import { ForecastHub, Trainer, minTrainingSlots, sinceFirstDemand } from '../../services/index.ts';
import type { TrainRunSummary, TrainingData } from '../../services/index.ts';
import { TINY_LSTM, grid, patterned } from '../helpers/forecast-data.ts';

const SLOTS = 900;
const MIN_HISTORY_MS = 120_000;

/** The source's fixed 15 min span, zeros before `startMs` (the first request). */
function sourceAt(clock: SimulatedClock, startMs: number): () => Promise<TrainingData> {
  const shape = patterned(3, SLOTS);
  return () => {
    const end = clock.now();
    const from = end - SLOTS * 1000;
    const series = shape.map((v) => Float64Array.from(v, (x, i) => (from + i * 1000 >= startMs ? x : 0)));
    return Promise.resolve({ series, timestamps: grid(SLOTS, from), stepMs: 1000 });
  };
}

test('trainer history - sinceFirstDemand cuts the zeros before the first request, none left is undefined', (t) => {
  const data: TrainingData = {
    series: [Float64Array.from([0, 0, 0, 2, 0]), Float64Array.from([0, 0, 1, 0, 3])],
    timestamps: grid(5),
    stepMs: 1000,
  };
  const cut = sinceFirstDemand(data)!;
  t.deepEqual([...cut.series[0]!], [0, 2, 0]);
  t.deepEqual([...cut.series[1]!], [1, 0, 3]);
  t.is(cut.timestamps[0], data.timestamps[2]);
  t.is(sinceFirstDemand({ ...data, series: [new Float64Array(5)] }), undefined);
  t.is(minTrainingSlots(300), 632, 'default horizons (5 min) need 10.5 min');
});

test('trainer history - the first run starts once the demand seen spans the minimum, then the schedule', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hr-trainer-history-'));
  const clock = new SimulatedClock(Date.UTC(2026, 0, 5, 12));
  const hub = new ForecastHub(
    { horizonsMs: [1000, 3000], stepMs: 1000, backend: 'wasm', registryDir: join(dir, 'models') },
    clock,
  );
  const firstRequestMs = clock.now();
  const runs: TrainRunSummary[] = [];
  let finished: () => void = () => undefined;
  const trainer = new Trainer({
    hub,
    clock,
    source: sourceAt(clock, firstRequestMs),
    options: {
      everyMs: 600_000,
      lstm: TINY_LSTM,
      driftFactor: 1.5,
      driftGapMs: 60_000,
      progressBar: false,
      minHistoryMs: MIN_HISTORY_MS,
    },
    emit: (event, p) => {
      if (event !== 'trainer.finished') return;
      runs.push(p as TrainRunSummary);
      finished();
    },
  });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
  try {
    trainer.start();
    // Checked every sixth of the minimum (20 s): nothing before 2 min of demand.
    for (let s = 0; s < 100; s += 20) {
      clock.advance(20_000);
      await settle();
    }
    t.is(runs.length, 0);
    const waiting = await trainer.status();
    t.deepEqual(waiting.history, { haveMs: 100_000, needMs: MIN_HISTORY_MS });
    t.true(waiting.active);

    const done = new Promise<void>((r) => (finished = r));
    clock.advance(20_000);
    await done;
    t.is(runs.length, 1);
    t.like(runs[0], { trigger: 'history', slots: 120 });
    t.is(runs[0]!.skipped, undefined);
    t.is((await trainer.status()).history, null);

    // From now on only the schedule (10 min) and drift: another 5 min of checks train nothing.
    for (let s = 0; s < 300; s += 20) {
      clock.advance(20_000);
      await settle();
    }
    t.is(runs.length, 1);
  } finally {
    await trainer.stop();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('trainer history - a trainer standing by for another node trains nothing and says who trains', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hr-trainer-standby-'));
  const clock = new SimulatedClock(Date.UTC(2026, 0, 5, 12));
  const hub = new ForecastHub(
    { horizonsMs: [1000], stepMs: 1000, backend: 'wasm', registryDir: join(dir, 'models') },
    clock,
  );
  let asked = 0;
  const source = sourceAt(clock, clock.now() - 600_000);
  const trainer = new Trainer({
    hub,
    clock,
    source: () => {
      asked++;
      return source();
    },
    options: {
      everyMs: 60_000,
      lstm: TINY_LSTM,
      driftFactor: 1.5,
      driftGapMs: 0,
      progressBar: false,
      minHistoryMs: 10_000,
    },
    nodeId: 'me',
  });
  try {
    t.like(await trainer.status(), { leader: 'me', active: true });
    trainer.setLeadership('other', false);
    trainer.start();
    clock.advance(300_000);
    trainer.noteError(100, 10);
    await new Promise((r) => setTimeout(r, 100));
    t.is(asked, 0, 'no schedule, no history check, no drift run');
    const s = await trainer.train('request');
    t.regex(s.skipped!, /other is the elected trainer/);
    t.like(await trainer.status(), { leader: 'other', active: false, runs: 0 });
    t.is(trainer.forwardTo(), 'other');
  } finally {
    await trainer.stop();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  }
});
