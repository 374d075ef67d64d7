/**
 * Event-loop delay of one forecast round (issue 11: status within 1 s under
 * a million one-off users). Builds `--tokens` token actors on a simulated
 * clock, `--active` of them with a request in the round's window, and runs
 * one ForecastCadence round whose `predict` is the real live zoo (statistical
 * members, no LSTM), measuring the longest event-loop stall with
 * perf_hooks.monitorEventLoopDelay. With `--cadence` it loads another
 * cadence module (e.g. an older copy) for a before/after in one run. With
 * `--hub`, `predict` is a node's ForecastHub (the pretrained LSTM among the
 * members, a round forecast in slices of `--slice-ms`), and `--history`
 * seconds of one request a second precede the round for the active tokens
 * (the LSTM needs 16): issue 15's round, 333 active tokens of a node.
 *   npx tsx bench/forecast-round.ts --tokens 200000 --active 50000
 *   npx tsx bench/forecast-round.ts --tokens 1000 --active 333 --hub --history 60
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { ActorHost, TokenActor } from '../actors/index.ts';
import { SimulatedClock, compileRule, parseRule, tokenKeyOf } from '../lib/index.ts';
import type { TokenKey } from '../lib/index.ts';
import { LiveZoo } from '../models/index.ts';
import type * as cadenceModule from '../services/forecasting/forecast-cadence.ts';
import { ForecastHub } from '../services/index.ts';
import type { PredictParams, PredictReply } from '../services/index.ts';

const { values: o } = parseArgs({
  options: {
    tokens: { type: 'string', default: '200000' },
    active: { type: 'string', default: '50000' },
    batch: { type: 'string' },
    cadence: { type: 'string' },
    hub: { type: 'boolean', default: false },
    history: { type: 'string', default: '0' },
    'slice-ms': { type: 'string' },
  },
});
const history = Number(o.history);
const tokens = Number(o.tokens);
const active = Number(o.active);
const T0 = 1_764_000_000_000;
const rule = compileRule(parseRule({ id: 'per-user', key: ['user'], rate: 1000, period: '1s', burst: 1000 }));
const clock = new SimulatedClock(T0);
const host = new ActorHost<TokenKey, TokenActor>((k) => new TokenActor(k, rule, clock), { clock });
const user = (i: number): TokenKey => tokenKeyOf(rule, { user: `u${i}` });
for (let i = 0; i < tokens; i++) await host.ask(user(i), (a) => a.check(1));
// History before the round: one request a second for the active tokens.
for (let s = 0; s < history; s++) {
  clock.advance(1000);
  for (let i = 0; i < active; i++) await host.ask(user(i), (a) => a.check(1));
}
const registryDir = mkdtempSync(join(tmpdir(), 'headroom-forecast-round-'));
const hub = o.hub
  ? new ForecastHub(
      {
        horizonsMs: [5000, 30_000, 300_000],
        stepMs: 1000,
        backend: 'wasm',
        registryDir,
        ...(o['slice-ms'] ? { sliceMs: Number(o['slice-ms']) } : {}),
      },
      clock,
    )
  : undefined;
const zoo = hub?.zoo ?? new LiveZoo({ horizons: [1, 5, 30], stepMs: 1000 });
const predict = (p: PredictParams): Promise<PredictReply> => {
  if (hub !== undefined) return hub.predict(p);
  const inputs = p.items.map((it) => ({ ...it, stepMs: 1000 }));
  return Promise.resolve({
    version: null,
    madeMs: clock.now(),
    horizonsMs: [1000, 5000, 30000],
    forecasts: zoo.predict(inputs, undefined),
  });
};
if (hub !== undefined) await hub.serving(); // the model loads before the measured round, as in a node after its first round
const mod = (await import(
  o.cadence ? pathToFileURL(resolve(o.cadence)).href : '../services/forecasting/forecast-cadence.ts'
)) as typeof cadenceModule;
const cadence = new mod.ForecastCadence({
  host,
  clock,
  everyMs: 5000,
  activeMs: 5000,
  predict,
  retain: (live) => void zoo.retain(live),
  ...(o.batch ? { batchTokens: Number(o.batch) } : {}),
});
// A first round sees everyone; the measured one sees the `active` tokens asked since.
clock.advance(5000);
await cadence.tick();
clock.advance(1000);
for (let i = 0; i < active; i++) await host.ask(user(i), (a) => a.check(1));
clock.advance(2000);
const h = monitorEventLoopDelay({ resolution: 5 });
await new Promise((r) => setTimeout(r, 50));
h.enable();
// The longest gap between ticks of a 1 ms timer: the longest stretch a check waited. On a
// loaded machine the gap holds time the thread was not scheduled; the thread's CPU time
// between two ticks (process.threadCpuUsage) does not: the longest stretch of work.
let gap = 0;
let cpuGap = 0;
let last = performance.now();
let lastCpu = process.threadCpuUsage();
const ticker = setInterval(() => {
  const now = performance.now();
  const cpu = process.threadCpuUsage();
  gap = Math.max(gap, now - last);
  cpuGap = Math.max(cpuGap, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000);
  last = now;
  lastCpu = cpu;
}, 1);
const t0 = performance.now();
const n = await cadence.tick();
const ms = performance.now() - t0;
await new Promise((r) => setTimeout(r, 5));
clearInterval(ticker);
await new Promise((r) => setTimeout(r, 20));
h.disable();
console.log(
  `${o.cadence ?? 'current'} batch=${o.batch ?? 'default'}${hub ? ` hub (pretrained LSTM) slice=${hub.config.sliceMs ?? 'default'}` : ''}: ` +
    `resident=${host.size} forecast=${n} round=${ms.toFixed(0)} ms ` +
    `loop-delay max=${(h.max / 1e6).toFixed(1)} ms p99=${(h.percentile(99) / 1e6).toFixed(1)} ms, longest gap of a 1 ms timer ${gap.toFixed(1)} ms (${cpuGap.toFixed(1)} ms of CPU)`,
);
await hub?.close();
rmSync(registryDir, { recursive: true, force: true });
