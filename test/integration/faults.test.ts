// Issue 11: one test per fault, on real processes under load, asserting the
// over-admission bound and the answered fraction with margins. Each test is
// one run of bench/faults/run.ts (the code bench/faults.ts prints its table
// from), shortened to fit the suite: a fresh nats-server, 3 `headroom start`
// processes, the rule per-user 100/s burst 100, 32 closed-loop clients with
// half the checks on 5 hot users, 2 s warm-up, 12 s of load, the fault 3 s in
// (a joining node is ready ~3-5 s after its spawn on a busy 2-core machine,
// and what follows its join must fall inside the run).
//
// Over-admission: per hot token, allowed checks beyond the GCRA bound
// (burst + rate x elapsed), over the whole run and in the fullest 1 s window
// (bench/faults/measure.ts counts only checks certainly decided inside, so
// latency cannot inflate it). Issue target <= 1 burst (0 for a nats-server
// restart); asserted <= 1.25 bursts (<= 0.25 burst).
//
// Answered: decisions (allow or deny) among the checks sent from the fault's
// detection on; issue target >= 99.9 %, asserted >= 99 % (the log shows the
// exact figure). Detection, per fault (bench/faults/faults.ts, DETECT_MS):
// - sigkill: the kill + 3 s, the nodes' heartbeat timeout (3 x 1 s);
// - sigstop1.5: the SIGCONT (it comes before any timeout could notice);
// - sigstop5: the SIGSTOP + 3 s, the heartbeat timeout and the nats-server's
//   stale-connection drop (ping_interval 1 s, ping_max 2) alike;
// - nats-restart: the server is ready again on its port;
// - leave: the SIGTERM (a leaving node announces it); join: the spawn.
//
// Full service (every second from then on >= 99.9 % answered, counted in
// whole seconds): within 3 s of a SIGKILL and within 2 s of the nats-server
// being back, asserted with 1 s more each.
//
// Every process a run starts, it stops; t.teardown kills whatever is left
// (also after a failure), and each test checks that nothing is.
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { installCleanup, killAll, strayChildren } from '../../bench/faults/cluster.ts';
import { FAULTS } from '../../bench/faults/faults.ts';
import type { TokenExcess } from '../../bench/faults/measure.ts';
import { BOUND, runFault } from '../../bench/faults/run.ts';
import type { FaultRow, RunOptions } from '../../bench/faults/run.ts';

const test = anyTest as TestFn;

const OPTIONS: RunOptions = {
  seconds: 12,
  faultAtS: 3,
  warmupS: 2,
  clients: 32,
  timeoutMs: 2000,
  oneOffUsers: 0,
  oneOffMaxS: 0,
  nodeArgs: ['--store', 'none', '--forecast', 'false'],
};

interface Case {
  fault: string;
  /** Most allowed beyond the GCRA bound per hot token, in bursts, whole run and any 1 s window. */
  maxExcessBursts: number;
  /** Time to full service, at most, in whole seconds from the fault or from its detection. */
  fullService?: { from: 'fault' | 'detection'; withinS: number };
}

const CASES: readonly Case[] = [
  { fault: 'sigkill', maxExcessBursts: 1.25, fullService: { from: 'fault', withinS: 3 + 1 } },
  { fault: 'sigstop1.5', maxExcessBursts: 1.25 },
  { fault: 'sigstop5', maxExcessBursts: 1.25 },
  { fault: 'nats-restart', maxExcessBursts: 0.25, fullService: { from: 'detection', withinS: 2 + 1 } },
  { fault: 'leave', maxExcessBursts: 1.25 },
  { fault: 'join', maxExcessBursts: 1.25 },
];

/** Answered fraction of the checks sent from the detection on, at least. */
const MIN_ANSWERED = 0.99;

/** Each hot user is sent at least this many times the rule's rate, so the limit is always being hit. */
const MIN_HOT_DEMAND = 1.5;

// Ctrl-C or an exit of the test process kills what is left too.
installCleanup();

function summary(row: FaultRow): string {
  const pct = (x: number): string => `${(100 * x).toFixed(3)} %`;
  const bursts = (x: number): string => (Math.max(0, x) / BOUND.burst).toFixed(2);
  const tok = (t: TokenExcess): string =>
    `${t.user} ${t.allowed} allowed, run ${bursts(t.wholeRun)}, window ${bursts(t.window)}@${(t.windowAtMs / 1000).toFixed(1)}s`;
  return [
    `${row.fault}: ${row.notes.join('; ')}`,
    `detected ${row.detection.afterS.toFixed(2)} s after the fault (${row.detection.what})`,
    `sent ${row.service.sent}, answered ${pct(row.service.answered / Math.max(1, row.service.sent))}; ` +
      `after the fault ${pct(row.service.answeredAfterFault)}, after detection ${pct(row.afterDetection.answeredAfterFault)}; ` +
      `${row.service.timeouts} timeouts, ${row.service.noResponders} no-responders, ${row.service.errorReplies} error replies, ${row.service.failed} other failures`,
    `full service ${row.service.fullServiceS ?? 'never'} s after the fault, ${row.afterDetection.fullServiceS ?? 'never'} s after detection`,
    `hot demand ${row.hotPerUserPerS.toFixed(0)}/s per user; excess in bursts: ${row.tokens.map(tok).join('; ')}`,
  ].join('\n');
}

for (const c of CASES) {
  test.serial(
    `faults - ${c.fault}: over-admission <= ${c.maxExcessBursts} burst, >= ${100 * MIN_ANSWERED} % answered after detection`,
    async (t) => {
      t.timeout(110_000);
      t.teardown(killAll);
      const fault = FAULTS.find((f) => f.name === c.fault);
      if (fault === undefined) throw new Error(`no fault named ${c.fault} in bench/faults/faults.ts`);

      const row = await runFault(fault, OPTIONS);
      t.log(summary(row));
      t.deepEqual(strayChildren(), [], 'every process the run started is stopped');

      // The measure can only find over-admission if the hot users ask for more than the rule allows.
      t.true(
        row.hotPerUserPerS >= MIN_HOT_DEMAND * BOUND.rate,
        `hot demand ${row.hotPerUserPerS.toFixed(0)}/s per user < ${MIN_HOT_DEMAND} x the rule's ${BOUND.rate}/s`,
      );
      const limit = c.maxExcessBursts * BOUND.burst;
      for (const tok of row.tokens) {
        t.true(
          tok.wholeRun <= limit,
          `${tok.user}: ${tok.wholeRun.toFixed(0)} allowed over the whole run's bound, more than ${limit}`,
        );
        t.true(
          tok.window <= limit,
          `${tok.user}: ${tok.window.toFixed(0)} allowed over the bound in the 1 s window at ${(tok.windowAtMs / 1000).toFixed(1)} s, more than ${limit}`,
        );
      }
      const answered = row.afterDetection.answeredAfterFault;
      t.true(
        answered >= MIN_ANSWERED,
        `${(100 * answered).toFixed(3)} % of the checks sent after detection answered, < ${100 * MIN_ANSWERED} %`,
      );
      if (c.fullService !== undefined) {
        const { from, withinS } = c.fullService;
        const s = (from === 'fault' ? row.service : row.afterDetection).fullServiceS;
        t.true(
          s !== null && s <= withinS,
          `full service ${s ?? 'never'} s after the ${from}, bound ${withinS} s`,
        );
      }
    },
  );
}
