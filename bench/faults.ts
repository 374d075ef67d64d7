/**
 * Every fault of issue 11 on real processes under load, one table.
 *
 *   npx tsx bench/faults.ts [--faults sigkill,sigstop1.5,sigstop5,nats-restart,leave,join,one-off]
 *     [--seconds 15] [--fault-at 5] [--warmup 3] [--clients 64] [--timeout-ms 2000]
 *     [--one-off 200000] [--one-off-max-seconds 90] [--idle-seconds 0]
 *     [--node-args="--store none --forecast false"] [--json]
 *     [--native-memory] [--malloc-every 0]
 *
 * For each fault: a fresh nats-server (random loopback port, its own store,
 * so it can be restarted on the same port), 3 `headroom start` processes, a
 * rule per-user 100/s burst 100, `clients` closed-loop nats.js clients with
 * half the checks on 5 hot users (far above the rule) and half on
 * background users; the fault is injected `fault-at` seconds into
 * `seconds` of load. Per hot token the allowed checks are compared with the
 * GCRA bound, burst + rate x elapsed, over the whole run and in every 1 s
 * window (bench/faults/measure.ts says how, conservatively). "Answered"
 * counts decisions; timeouts, no-responders and error replies are not. A
 * client waits 100 ms after a failed check. Time to full service: the
 * first whole second after the fault from which on every second has >= 99.9 %
 * of its checks answered. RSS peak: the highest VmHWM of any node process.
 * The one-off fault sends its one-off users (owned by one node) in place of
 * the background users and goes on past `seconds` until all are sent (at most
 * `one-off-max-seconds` after the fault). With `idle-seconds`, the cluster is
 * left without load that long after the run, and the largest node's resident
 * set then (VmRSS) is printed too.
 *
 * With `native-memory`, bench/native-memory.ts samples this bench's nodes
 * every 5 s, and the breakdown of the node at its highest resident set is
 * printed at the end (the sampling goes on while the nodes stop, unlike
 * RSS peak's): file-backed, glibc's main arena and other arenas,
 * other anonymous memory (V8's heaps, DuckDB's jemalloc); with
 * `malloc-every` > 0, glibc's own totals every that many seconds too (gdb
 * stops the node for a moment each time).
 *
 * The nats-server runs with `ping_interval: "1s"` and `ping_max: 2`: it
 * drops a SIGSTOPped node's connection (and with it the node's share of the
 * queue group's checks) after ~3 s instead of minutes (the default interval
 * is 2 min). The load's nats.js client reconnects every 250 ms without
 * limit (`reconnectTimeWait: 250`, `maxReconnectAttempts: -1`), as a client
 * that wants fast recovery after a nats-server restart would: the default
 * 2 s wait made recovery slow. The run itself is bench/faults/run.ts,
 * shared with test/integration/faults.test.ts.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installCleanup } from './faults/cluster.ts';
import { FAULTS } from './faults/faults.ts';
import type { TokenExcess } from './faults/measure.ts';
import { BOUND, HOT, RULE, runFault } from './faults/run.ts';
import type { FaultRow, RunOptions } from './faults/run.ts';

const { values } = parseArgs({
  options: {
    faults: { type: 'string', default: FAULTS.map((f) => f.name).join(',') },
    seconds: { type: 'string', default: '15' },
    'fault-at': { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    clients: { type: 'string', default: '64' },
    'one-off': { type: 'string', default: '200000' },
    'one-off-max-seconds': { type: 'string', default: '90' },
    'idle-seconds': { type: 'string', default: '0' },
    'timeout-ms': { type: 'string', default: '2000' },
    'node-args': { type: 'string', default: '--store none --forecast false' },
    json: { type: 'boolean', default: false },
    'native-memory': { type: 'boolean', default: false },
    'malloc-every': { type: 'string', default: '0' },
  },
});
const SECONDS = Number(values.seconds);
const FAULT_AT_MS = Number(values['fault-at']) * 1000;
const WARMUP = Number(values.warmup);
const CLIENTS = Number(values.clients);
const ONE_OFF = Number(values['one-off']);
const ONE_OFF_MAX_S = Number(values['one-off-max-seconds']);
const IDLE_S = Number(values['idle-seconds']);
const TIMEOUT_MS = Number(values['timeout-ms']);
const NODE_ARGS = values['node-args'].split(' ').filter((a) => a !== '');
const chosen = values.faults.split(',').map((name) => {
  const f = FAULTS.find((x) => x.name === name);
  if (f === undefined)
    throw new Error(`--faults: unknown fault ${name}; known: ${FAULTS.map((x) => x.name).join(',')}`);
  return f;
});
for (const [name, v] of Object.entries({
  SECONDS,
  FAULT_AT_MS,
  WARMUP,
  CLIENTS,
  ONE_OFF,
  ONE_OFF_MAX_S,
  IDLE_S,
  TIMEOUT_MS,
})) {
  if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${name} must be a non-negative number, got ${v}`);
}

const OPTIONS: RunOptions = {
  seconds: SECONDS,
  faultAtS: FAULT_AT_MS / 1000,
  warmupS: WARMUP,
  clients: CLIENTS,
  timeoutMs: TIMEOUT_MS,
  oneOffUsers: ONE_OFF,
  oneOffMaxS: ONE_OFF_MAX_S,
  idleS: IDLE_S,
  nodeArgs: NODE_ARGS,
};

function worst(tokens: readonly TokenExcess[], pick: (t: TokenExcess) => number): string {
  let top = tokens[0];
  for (const t of tokens) if (top === undefined || pick(t) > pick(top)) top = t;
  if (top === undefined) return 'n/a';
  const extra = Math.max(0, Math.round(pick(top)));
  return extra === 0 ? '0' : `${(extra / BOUND.burst).toFixed(2)} (+${extra}, ${top.user})`;
}

function printTable(results: readonly FaultRow[]): void {
  const head = [
    'fault',
    'checks sent',
    'answered %',
    'time to full service',
    'worst over-admission, whole run (bursts)',
    'worst in 1 s windows (bursts)',
    'RSS peak MB',
  ];
  const rows = results.map((r) => [
    r.fault,
    String(r.service.sent),
    ((100 * r.service.answered) / Math.max(1, r.service.sent)).toFixed(3),
    r.service.fullServiceS === null ? 'never' : `${r.service.fullServiceS} s`,
    worst(r.tokens, (t) => t.wholeRun),
    worst(r.tokens, (t) => t.window),
    r.rssPeakMb.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  console.log('');
  for (const r of results) {
    const s = r.service;
    console.log(`${r.fault}: ${r.notes.join('; ')}`);
    console.log(
      `  ${s.timeouts} timeouts, ${s.noResponders} no-responders, ${s.errorReplies} error replies, ${s.failed} other failures; ` +
        `${(100 * s.answeredAfterFault).toFixed(3)} % answered of checks sent after the fault` +
        (s.lastFailureS === null
          ? ''
          : `, the last failed one sent ${s.lastFailureS.toFixed(2)} s after it`) +
        '; ' +
        `status: ${r.status.answered}/${r.status.sent} answered, slowest ${r.status.maxMs.toFixed(0)} ms, most actors ${r.status.maxActors}` +
        (r.fault === 'one-off' ? `; ${r.oneOffSent} one-off users sent` : '') +
        `; ${r.checksPerS.toFixed(0)} checks/s` +
        (Object.keys(r.status.memory).length === 0
          ? ''
          : `; highest memory in status (MB): ${Object.entries(r.status.memory)
              .map(([k, v]) => `${k} ${v.mb} (${v.node})`)
              .join(', ')}`) +
        (r.rssIdleMb === null ? '' : `; RSS ${r.rssIdleMb.toFixed(0)} MB ${IDLE_S} s after the load`),
    );
    const per = r.tokens.map(
      (t) =>
        `${t.user} ${t.allowed} allowed, ${Math.round(t.wholeRun)} run, ${Math.round(t.window)} window@${(t.windowAtMs / 1000).toFixed(1)}s`,
    );
    console.log(`  per token (excess over the bound): ${per.join('; ')}`);
  }
}

/** A sample of bench/native-memory.ts (MB). */
interface NativeSample {
  s: number;
  pid: number;
  rss: number;
  file: number;
  brk: number;
  arenas: number;
  big: number;
  small: number;
  mallocMb?: number;
  freeMb?: number;
  mmapMb?: number;
}

/** Starts bench/native-memory.ts on this bench's nodes; `stop` ends it and says where the largest node's memory was. */
function sampleNativeMemory(): { stop: () => string } | undefined {
  if (!values['native-memory']) return undefined;
  const out = join(tmpdir(), `headroom-native-memory-${process.pid}.jsonl`);
  const script = fileURLToPath(new URL('./native-memory.ts', import.meta.url));
  const args = ['--every', '5', '--seconds', '86400', '--malloc-every', values['malloc-every']];
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, ...args, '--parent', String(process.pid), '--out', out],
    { stdio: 'ignore' },
  );
  const end = (): void => void child.kill();
  process.once('exit', end);
  return {
    stop: () => {
      end();
      let samples: NativeSample[] = [];
      try {
        samples = readFileSync(out, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as NativeSample);
      } catch {
        // No sample written.
      }
      rmSync(out, { force: true });
      let top: NativeSample | undefined;
      for (const x of samples) if (top === undefined || x.rss > top.rss) top = x;
      if (top === undefined) return 'native memory: no samples';
      const malloc = samples.filter((x) => x.pid === top.pid && x.mallocMb !== undefined).at(-1);
      return (
        `native memory of the largest node at its highest sample (MB, ${top.s} s into the sampling, the nodes' stop included): RSS ${top.rss} = ` +
        `file-backed ${top.file} + glibc main arena ${top.brk} + glibc other arenas ${top.arenas} + ` +
        `other anonymous >= 8 MB ${top.big} + other anonymous ${top.small} (V8's heaps mostly)` +
        (malloc === undefined
          ? ''
          : `; glibc malloc at ${malloc.s} s: ${malloc.mallocMb} held, ${malloc.freeMb} of it free, ${malloc.mmapMb} mmapped`)
      );
    },
  };
}

installCleanup();
const native = sampleNativeMemory();
const results: FaultRow[] = [];
for (const fault of chosen) {
  if (!values.json) console.error(`running ${fault.name} ...`);
  results.push(await runFault(fault, OPTIONS));
}
const nativeLine = native?.stop();
if (values.json) console.log(JSON.stringify(results, null, 2));
else {
  console.log(
    `faults under load: 3 nodes, ${CLIENTS} closed-loop clients, ${SECONDS} s of load, fault at ${FAULT_AT_MS / 1000} s, ` +
      `rule ${RULE.rate}/s burst ${RULE.burst}, ${HOT.length} hot users, Node ${process.version}, node options: ${NODE_ARGS.join(' ') || 'defaults'}`,
  );
  printTable(results);
}
if (nativeLine !== undefined) (values.json ? console.error : console.log)(nativeLine);
