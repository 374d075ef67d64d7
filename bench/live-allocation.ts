/**
 * Live allocation beside its replay (issue 12): one trace played against a
 * real node with a `db` pool of real PostgreSQL connections, once per
 * policy, and the same trace through `headroom replay` with the same policy
 * and resource model; throttled fraction and capacity cost printed side by
 * side, so what the simulator says of a policy can be checked against what
 * the live system does.
 *
 *   npx tsx bench/live-allocation.ts [--trace FILE] [--format auto] [--bucket-seconds 1]
 *     [--time-scale 3] [--policies quantile,reactive] [--unit-capacity 10] [--min-units 1]
 *     [--max-units 12] [--lead-ms 5000] [--rule-rate 20] [--quantile 0.9] [--json]
 *
 * The trace: by default issue 12's ramp at one token: 60 s at 5/s, a ramp
 * to 100/s over 30 s, 60 s at 100/s, 30 s at 5/s. Or `--trace FILE` (its
 * first token, requests per step), cut to `--from`/`--to` (ISO times),
 * scaled by `--demand-scale`, and with `--step-as-second` played one step
 * a second; the pool's step is the played trace's unless `--step-ms` says
 * otherwise, and `--season-ms` gives it a season. The node runs
 * `--time-scale N` times as fast as the wall clock and loadgen plays the
 * trace N times as fast, so trace time is the node's time. Two days of
 * WorldCup98 as the time-scale test plays them (a day in 1,440 s, 48x),
 * with a rule of 0.5/s so that the pool's leases, not the rule, decide:
 *
 *   npx tsx bench/live-allocation.ts --trace data/traces/worldcup98/requests_per_minute.csv \
 *     --from 1998-05-27 --to 1998-05-29 --step-as-second --demand-scale 0.0008 --time-scale 48 \
 *     --step-ms 5000 --lead-ms 10000 --season-ms 1440000 --unit-capacity 1 --max-units 20 \
 *     --rule-rate 0.5
 *
 * Live, per policy: a fresh nats-server and node (`--store none`), rule
 * `per-user` at `--rule-rate`, the pool (`unitCapacity` requests per second
 * a connection, `stepMs` the trace's step, `leadMs`), loadgen at token
 * `user=u1`; the pool's status sampled every 100 ms of wall time. Figures
 * over the trace after its first 10 % (the replay's warm-up, not scored
 * there either): checks sent and denied (throttled fraction), unit-seconds
 * (units held: ready and starting, as the replay counts them) and ready
 * unit-seconds, per request served. Of the denials, those in trace steps
 * whose checks fit the units ready then (sent <= ready x unitCapacity x
 * step): the replay throttles none of those, so they are the token's limit
 * (its lease's burst, the lease's lag, a stall) rather than capacity.
 *
 * Replay: `headroom replay --policy P --unit-capacity C --lead-time L`
 * with C = unitCapacity x step seconds, twice: L = leadMs / step (the
 * replay's policies plan as far ahead as their units take to arrive: the
 * live pool's planning horizon, but units that arrive a lead late) and
 * L = 0 (units at once, as a db connection opens within a step, but a
 * plan one step ahead). The live pool plans a lead ahead and gets its
 * units at once, so it should do at least as well as either.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { NatsConnection } from 'nats';
import { runLoadgen } from '../cli/index.ts';
import { replayCommand } from '../cli/replay.ts';
import type { LoadgenResult } from '../cli/index.ts';
import { parseTrace } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import { compileNatsConnect, natsAuthFromEnv } from '../services/index.ts';
import type { PoolOverview } from '../services/pools/index.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import {
  client,
  putRuleEverywhere,
  request,
  settle,
  startNodeProcess,
} from '../test/helpers/node-process.ts';

const { values } = parseArgs({
  options: {
    trace: { type: 'string' },
    format: { type: 'string', default: 'auto' },
    'bucket-seconds': { type: 'string', default: '1' },
    'time-scale': { type: 'string', default: '3' },
    policies: { type: 'string', default: 'quantile,reactive' },
    'unit-capacity': { type: 'string', default: '10' },
    'min-units': { type: 'string', default: '1' },
    'max-units': { type: 'string', default: '12' },
    'lead-ms': { type: 'string', default: '5000' },
    'rule-rate': { type: 'string', default: '20' },
    quantile: { type: 'string', default: '0.9' },
    from: { type: 'string' },
    to: { type: 'string' },
    'demand-scale': { type: 'string', default: '1' },
    'step-as-second': { type: 'boolean', default: false },
    'step-ms': { type: 'string' },
    'season-ms': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

/** A positive number option, or exit with what was wrong. */
function positive(name: string, integer = false): number {
  const raw = values[name as keyof typeof values] as string;
  const n = Number(raw);
  if (!(Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n))))
    throw new Error(
      `--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`,
    );
  return n;
}
const SCALE = positive('time-scale');
const UNIT = positive('unit-capacity');
const MIN_UNITS = positive('min-units', true);
const MAX_UNITS = positive('max-units', true);
const LEAD_MS = positive('lead-ms');
const RULE_RATE = positive('rule-rate');
const QUANTILE = positive('quantile');
const DEMAND_SCALE = positive('demand-scale');
const POOL_STEP_MS = values['step-ms'] === undefined ? undefined : positive('step-ms');
const SEASON_MS = values['season-ms'] === undefined ? undefined : positive('season-ms');
const POLICIES = values.policies.split(',').map((p) => p.trim());
for (const p of POLICIES)
  if (!['quantile', 'reactive', 'static', 'rl'].includes(p))
    throw new Error(`--policies lists quantile, reactive, static or rl, got ${JSON.stringify(p)}`);
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };
/** The replay scores the trace after this fraction (sim/setup.ts warmupFraction); the live figures too. */
const WARMUP_FRACTION = 0.1;

/**
 * The played trace as a series CSV: the first token of `t` between `--from`
 * and `--to` (ISO times, inclusive start), each value times
 * `--demand-scale` and rounded, and with `--step-as-second` each step one
 * second (a day of minutes played as 1,440 s, as the live forecasters work
 * on 1 s slots: test/integration/time-scale-worldcup.test.ts does the same).
 * Live and replay both read this file.
 */
function played(t: Trace): string {
  const from = values.from === undefined ? -Infinity : Date.parse(values.from);
  const to = values.to === undefined ? Infinity : Date.parse(values.to);
  if (Number.isNaN(from) || Number.isNaN(to)) throw new Error(`--from/--to must be ISO times`);
  const stepMs = values['step-as-second'] ? 1000 : t.intervalMs;
  const rows: string[] = [];
  let first: number | undefined;
  for (let i = 0; i < t.timestamps.length; i++) {
    const at = t.timestamps[i]!;
    if (at < from || at >= to) continue;
    first ??= at;
    const ms = values['step-as-second'] ? first + rows.length * stepMs : at;
    rows.push(`${new Date(ms).toISOString()},${+(t.values[0]![i]! * DEMAND_SCALE).toFixed(4)}`);
  }
  if (rows.length < 10) throw new Error(`the played trace has ${rows.length} steps: widen --from/--to`);
  return `timestamp,value\n${rows.join('\n')}\n`;
}

/** Issue 12's ramp as a per-second series CSV. */
function rampCsv(): string {
  const rate = (s: number): number => {
    if (s < 60 || s >= 150) return 5;
    if (s >= 90) return 100;
    return 5 + (95 * (s - 60 + 1)) / 30;
  };
  const rows = Array.from({ length: 180 }, (_, s) => {
    const at = new Date(Date.UTC(2024, 0, 1, 0, 0, s)).toISOString();
    return `${at},${Math.round(rate(s))}`;
  });
  return `timestamp,value\n${rows.join('\n')}\n`;
}

interface LiveFigures {
  sent: number;
  denied: number;
  /** Denials in steps whose checks fit the units ready then (see the file's comment). */
  deniedWithinCapacity: number;
  errors: number;
  throttledFraction: number;
  unitSeconds: number;
  readyUnitSeconds: number;
  lagMs: number;
}

interface ReplayFigures {
  requests: number;
  throttled: number;
  throttledFraction: number;
  unitSeconds: number;
}

/** Plays `trace` against a fresh node with the pool under `policy`; figures over the scored part. */
async function live(dir: string, trace: Trace, policy: string): Promise<LiveFigures> {
  const stepMs = trace.intervalMs;
  const nats = await startNatsServer();
  const poolsFile = join(dir, `${policy}-pools.json`);
  await writeFile(
    poolsFile,
    JSON.stringify({
      pools: [
        {
          name: 'db',
          rules: ['per-user'],
          kind: 'db',
          unitCapacity: UNIT,
          minUnits: MIN_UNITS,
          maxUnits: MAX_UNITS,
          stepMs: POOL_STEP_MS ?? stepMs,
          leadMs: LEAD_MS,
          seasonMs: SEASON_MS ?? null,
          policy,
          ...(policy === 'quantile' ? { quantile: QUANTILE } : {}),
          db: { ...PG, applicationName: `headroom-live-allocation-${process.pid}-${policy}` },
        },
      ],
    }),
  );
  let nc: NatsConnection | undefined;
  const node = await startNodeProcess({
    nodeId: `alloc-${policy}`,
    args: [
      ...['--nats', nats.url, '--data-dir', join(dir, policy), '--pools-file', poolsFile],
      ...['--time-scale', String(SCALE), '--trainer', 'false', '--store', 'none'],
    ],
  }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  try {
    nc = await client(nats.url);
    await settle(nc, [node.id]);
    await putRuleEverywhere(nc, { id: 'per-user', key: ['user'], rate: RULE_RATE, period: '1s' });
    const samples: Array<{ s: number; pool: PoolOverview | undefined }> = [];
    const startMs = Date.now();
    let playing = true;
    const statusNc = nc;
    const sampler = (async () => {
      while (playing) {
        const s = ((Date.now() - startMs) * SCALE) / 1000;
        const status = await request<{ pools?: PoolOverview[] }>(
          statusNc,
          'headroom.v1.status',
          {},
          2000,
        ).catch(() => ({}) as { pools?: PoolOverview[] });
        samples.push({ s, pool: status.pools?.find((p) => p.name === 'db') });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let load: LoadgenResult;
    try {
      load = await runLoadgen({
        trace,
        target: { kind: 'nats', spec: compileNatsConnect(nats.url, natsAuthFromEnv({})) },
        params: { user: 'u1' },
        speedup: SCALE,
        concurrency: 256,
      });
    } finally {
      playing = false;
      await sampler;
    }
    const stepS = stepMs / 1000;
    const totalS = trace.values[0]!.length * stepS;
    const fromS = Math.floor(WARMUP_FRACTION * trace.values[0]!.length) * stepS;
    const scored = load.steps.filter((x) => x.t >= fromS);
    // Unit-seconds: each sample's units held until the next sample, within [fromS, totalS).
    let unitSeconds = 0;
    let readyUnitSeconds = 0;
    for (let i = 0; i < samples.length; i++) {
      const a = Math.max(fromS, samples[i]!.s);
      const b = Math.min(totalS, samples[i + 1]?.s ?? totalS);
      const p = samples[i]!.pool;
      if (b <= a || p === undefined) continue;
      unitSeconds += (p.units ?? 0) * (b - a);
      readyUnitSeconds += (p.readyUnits ?? 0) * (b - a);
    }
    // Each scored step against the units ready at its middle (the last sample before it).
    let deniedWithinCapacity = 0;
    let at = 0;
    for (const x of scored) {
      const mid = x.t + stepS / 2;
      while (at + 1 < samples.length && samples[at + 1]!.s <= mid) at++;
      const ready = samples[at]?.pool?.readyUnits ?? 0;
      if (x.sent <= ready * UNIT * stepS) deniedWithinCapacity += x.denied;
    }
    const sent = scored.reduce((n, x) => n + x.sent, 0);
    const denied = scored.reduce((n, x) => n + x.denied, 0);
    const errors = scored.reduce((n, x) => n + x.errors, 0);
    return {
      sent,
      denied,
      deniedWithinCapacity,
      errors,
      throttledFraction: sent === 0 ? 0 : denied / sent,
      unitSeconds,
      readyUnitSeconds,
      lagMs: load.lagMs,
    };
  } finally {
    await nc?.close().catch(() => undefined);
    await node.stop('SIGTERM');
    await nats.stop();
  }
}

/** `headroom replay` on the same trace, policy and resource model. */
async function replay(
  tracePath: string,
  trace: Trace,
  policy: string,
  leadSteps: number,
): Promise<ReplayFigures> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  const stepS = trace.intervalMs / 1000;
  const code = await replayCommand(
    [
      ...['--trace', tracePath, '--format', values.format, '--bucket-seconds', values['bucket-seconds']],
      ...['--policy', policy, '--unit-capacity', String(UNIT * stepS)],
      ...['--lead-time', String(leadSteps), '--json'],
      ...(policy === 'quantile' ? ['--quantile', String(QUANTILE)] : []),
    ],
    { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) },
  );
  if (code !== 0) throw new Error(`headroom replay exited ${code}: ${err}`);
  const r = JSON.parse(out) as ReplayFigures | ReplayFigures[];
  return Array.isArray(r) ? r[0]! : r;
}

const dir = await mkdtemp(join(tmpdir(), 'headroom-live-allocation-'));
try {
  const tracePath = join(dir, 'played.csv');
  await writeFile(
    tracePath,
    values.trace === undefined
      ? rampCsv()
      : played(
          parseTrace(await readFile(values.trace, 'utf8'), {
            format: values.format as 'auto',
            bucketSeconds: Number(values['bucket-seconds']),
          }),
        ),
  );
  const trace = parseTrace(await readFile(tracePath, 'utf8'), { format: 'series' });
  const rows: Array<{ policy: string; live: LiveFigures; replay: ReplayFigures; replayNow: ReplayFigures }> =
    [];
  const leadSteps = Math.round(LEAD_MS / trace.intervalMs);
  for (const policy of POLICIES) {
    const l = await live(dir, trace, policy);
    const r = await replay(tracePath, trace, policy, leadSteps);
    const now = await replay(tracePath, trace, policy, 0);
    rows.push({ policy, live: l, replay: r, replayNow: now });
  }
  if (values.json) console.log(JSON.stringify(rows));
  else {
    console.log(
      `live allocation vs replay: ${values.trace ?? "issue 12's ramp"}, step ${trace.intervalMs / 1000} s, time scale ${SCALE}, ` +
        `unit ${UNIT}/s, units ${MIN_UNITS}-${MAX_UNITS}, lead ${LEAD_MS} ms, rule ${RULE_RATE}/s; scored after the first ${WARMUP_FRACTION * 100} %`,
    );
    const pct = (f: number): string => `${(100 * f).toFixed(2)} %`;
    console.log(
      `policy | live: throttled (within ready capacity), unit-s (ready), checks (errors, lag ms) | replay, units a lead (${leadSteps} steps) late: throttled, unit-s | replay, units at once: throttled, unit-s`,
    );
    for (const { policy, live: l, replay: r, replayNow: n } of rows) {
      console.log(
        `${policy} | ${pct(l.throttledFraction)} (${pct(l.sent === 0 ? 0 : l.deniedWithinCapacity / l.sent)}), ` +
          `${l.unitSeconds.toFixed(0)} (${l.readyUnitSeconds.toFixed(0)}), ` +
          `${l.sent} (${l.errors}, ${l.lagMs.toFixed(0)}) | ${pct(r.throttledFraction)}, ${r.unitSeconds.toFixed(0)} | ` +
          `${pct(n.throttledFraction)}, ${n.unitSeconds.toFixed(0)}`,
      );
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
