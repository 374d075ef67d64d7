/**
 * Memory per token of BehaviourWindow (rings that grow on demand) beside the
 * old preallocated rings (a copy of that logic is kept below as the peer),
 * measured in the same run for three activity profiles:
 *
 * - one-off: one request (a million one-off users each make one window);
 * - sparse: 10 requests spread over a minute;
 * - medium: 1 request a second for 15 minutes;
 * - dense: busy every second for 24 h, simulated (one request a minute for
 *   23 h 45 min, then one a second for the last 15 min, which fills every
 *   bucket of both rings just as 86,400 requests would).
 *
 *   ops/run node --expose-gc --import tsx bench/window-memory.ts [--windows 20000]
 *
 * Typed arrays bigger than 64 bytes keep their contents outside the V8 heap,
 * so `heapUsed` alone under-counts both sides: the table shows heapUsed,
 * arrayBuffers (off-heap contents) and their sum, per window. Targets: sparse
 * under 2 KB in all; dense no more than the peer. It also times record() on a
 * fully grown window against the peer (steady state: no allocation).
 */
import { parseArgs } from 'node:util';
import { BehaviourWindow } from '../lib/index.ts';

const { values } = parseArgs({ options: { windows: { type: 'string', default: '20000' } } });
const N = Number(values.windows);
const T0 = 1_764_000_000_000;

/** The old preallocated ring (lib/window-ring.ts before rings grew on demand), record path only. */
class OldRing {
  readonly requests: Uint32Array;
  readonly allowed: Uint32Array;
  readonly cost: Float64Array;
  head = Number.NEGATIVE_INFINITY;
  constructor(
    readonly size: number,
    readonly stepMs: number,
  ) {
    this.requests = new Uint32Array(size);
    this.allowed = new Uint32Array(size);
    this.cost = new Float64Array(size);
  }
  slot(bucket: number): number {
    return ((bucket % this.size) + this.size) % this.size;
  }
  locate(ms: number): number {
    let b = Math.floor(ms / this.stepMs);
    if (this.head === Number.NEGATIVE_INFINITY) this.head = b;
    else if (b > this.head) {
      const n = Math.min(b - this.head, this.size);
      for (let i = 1; i <= n; i++) {
        const s = this.slot(this.head + i);
        this.requests[s] = 0;
        this.allowed[s] = 0;
        this.cost[s] = 0;
      }
      this.head = b;
    } else if (b <= this.head - this.size) b = this.head - this.size + 1;
    return this.slot(b);
  }
}

/** The old window's shape: two preallocated rings and the running totals. */
class OldWindow {
  readonly options = Object.freeze({ fineBuckets: 900, coarseBuckets: 1441 });
  readonly #rings = [new OldRing(900, 1_000), new OldRing(1441, 60_000)];
  #lastMs = Number.NEGATIVE_INFINITY;
  #requests = 0;
  #allowed = 0;
  #cost = 0;
  record(nowMs: number, allowed: boolean, cost: number): void {
    for (const ring of this.#rings) {
      const s = ring.locate(nowMs);
      ring.requests[s] = (ring.requests[s] as number) + 1;
      if (allowed) ring.allowed[s] = (ring.allowed[s] as number) + 1;
      ring.cost[s] = (ring.cost[s] as number) + cost;
    }
    this.#requests++;
    if (allowed) this.#allowed++;
    this.#cost += cost;
    if (nowMs > this.#lastMs) this.#lastMs = nowMs;
  }
  totals(): { requests: number; allowed: number; cost: number } {
    return { requests: this.#requests, allowed: this.#allowed, cost: this.#cost };
  }
}

interface Recorder {
  record(nowMs: number, allowed: boolean, cost: number): void;
}

type Profile = (w: Recorder, i: number) => void;

const profiles: Record<string, Profile> = {
  // One request, ever: a one-off user (issue 11). No ring is made at all.
  'one-off': (w, i) => w.record(T0 + (i % 60_000), true, 1),
  sparse: (w, i) => {
    for (let k = 0; k < 10; k++) w.record(T0 + k * 6_000 + ((i * 7 + k * 13) % 5_000), k % 4 !== 0, 1);
  },
  medium: (w) => {
    for (let s = 0; s < 900; s++) w.record(T0 + s * 1_000, true, 1);
  },
  dense: (w) => {
    const end = T0 + 86_400_000;
    for (let m = 0; m < 1425; m++) w.record(T0 + m * 60_000, true, 1);
    for (let ms = end - 900_000; ms < end; ms += 1_000) w.record(ms, true, 1);
  },
};

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

interface Usage {
  heap: number;
  buffers: number;
}

function usage(): Usage {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** Bytes per window of `n` windows made by `make` and fed by `feed`. */
function measure(make: () => Recorder, feed: Profile): Usage {
  const keep: (Recorder | null)[] = new Array<Recorder | null>(N).fill(null);
  const before = usage();
  for (let i = 0; i < N; i++) {
    const w = make();
    feed(w, i);
    keep[i] = w;
  }
  const after = usage();
  if (keep.length !== N) throw new Error('unreachable');
  return { heap: (after.heap - before.heap) / N, buffers: (after.buffers - before.buffers) / N };
}

const kb = (b: number): string => `${(b / 1024).toFixed(2)} KB`.padStart(10);
const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(22) : c)).join('  ');

console.log(`${N} windows each, default options (900 x 1 s, 1441 x 1 min); per window:`);
console.log(row(['profile / impl', '  heapUsed', 'arrayBufs', '     total', '  vs peer']));
for (const [name, feed] of Object.entries(profiles)) {
  const peer = measure(() => new OldWindow(), feed);
  const ours = measure(() => new BehaviourWindow(), feed);
  const total = (u: Usage): number => u.heap + u.buffers;
  for (const [impl, u] of [
    ['ours (on demand)', ours],
    ['peer (preallocated)', peer],
  ] as const) {
    const ratio = `${(total(u) / total(peer)).toFixed(3)}x`.padStart(9);
    console.log(row([`${name} / ${impl}`, kb(u.heap), kb(u.buffers), kb(total(u)), ratio]));
  }
}

/** ns per record() on a window already grown to full size (steady state), 1 request a second. */
function timeRecord(w: Recorder): number {
  profiles['dense']?.(w, 0);
  const start = T0 + 86_400_000;
  const n = 5_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) w.record(start + i * 250, (i & 3) !== 0, 1);
  return Number(process.hrtime.bigint() - t0) / n;
}
const peerNs = timeRecord(new OldWindow());
const oursNs = timeRecord(new BehaviourWindow());
console.log(`record() steady state: ours ${oursNs.toFixed(1)} ns, peer ${peerNs.toFixed(1)} ns`);
