/**
 * Training on the whole cluster's demand. Tokens are sharded over the nodes,
 * so the elected trainer (trainer-election.ts) sees only its own share in
 * its windows or its embedded store. Every node with forecasting answers the
 * node-only action `training.series` with its recent series; the leader
 * gathers them from every peer beside its own and trains on one grid.
 *
 * Series travel as base64 of little-endian Float32 (about 5.3 bytes a slot,
 * a third of JSON numbers), and a peer sends no more tokens than fit
 * {@link REPLY_BUDGET_BYTES}, well inside NATS's default 1 MiB payload. A peer
 * that does not answer within {@link PEER_TIMEOUT_MS}, or answers something
 * malformed, is left out of that run with a warning: the run goes on with the
 * rest.
 */
import { endianness } from 'node:os';
import type { ServiceBroker, ServiceSchema } from 'moleculer';
import { invalidField, isPlainObject } from '../../lib/index.ts';
import type { Guard } from '../wire/index.ts';
import { parseSeriesParams } from './forecasting-params.ts';
import { guardedAction } from '../wire/index.ts';
import type { TrainingData, TrainingSource } from './training-data.ts';

/** The Moleculer service answering `series`; nodes only (role `node`, ops/nats/secure.conf). */
export const TRAINING_SERVICE = 'training';
/** Bytes of series one peer sends in a reply. */
export const REPLY_BUDGET_BYTES = 600_000;
/** How long the leader waits for each peer. */
export const PEER_TIMEOUT_MS = 5000;

/** A node's series on the wire. */
export interface SeriesReply {
  startMs: number;
  stepMs: number;
  /** Slots per series. */
  n: number;
  /** One base64 Float32 little-endian string of `n` values per token. */
  series: string[];
}

const base64Bytes = (n: number): number => Math.ceil((n * 4) / 3) * 4;

const LITTLE_ENDIAN = endianness() === 'LE';

function encodeSeries(v: Float64Array): string {
  const f = new Float32Array(v);
  const bytes = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  // The wire is little-endian whatever the machine: a big-endian one swaps its bytes first.
  if (!LITTLE_ENDIAN) bytes.swap32();
  return bytes.toString('base64');
}

/** `data` on the wire, at most `maxTokens` series and {@link REPLY_BUDGET_BYTES}; null when there is none. */
export function encodeTrainingData(data: TrainingData | undefined, maxTokens: number): SeriesReply | null {
  if (data === undefined || data.series.length === 0) return null;
  const n = data.timestamps.length;
  const fit = Math.max(1, Math.floor(REPLY_BUDGET_BYTES / base64Bytes(n)));
  const series = data.series.slice(0, Math.min(maxTokens, fit)).map(encodeSeries);
  return { startMs: data.timestamps[0]!, stepMs: data.stepMs, n, series };
}

const isCount = (x: unknown, min: number): x is number => Number.isInteger(x) && (x as number) >= min;

/** A peer's reply back to series; throws an InputError naming the field when it is malformed. */
export function decodeSeriesReply(raw: unknown): TrainingData | undefined {
  if (raw === null) return undefined;
  if (!isPlainObject(raw)) throw invalidField('reply', 'an object or null', raw);
  const { startMs, stepMs, n, series } = raw as Record<string, unknown>;
  if (typeof startMs !== 'number' || !Number.isFinite(startMs))
    throw invalidField('reply.startMs', 'a time in ms', startMs);
  if (!isCount(stepMs, 1)) throw invalidField('reply.stepMs', 'a whole number of ms, at least 1', stepMs);
  if (!isCount(n, 1) || n > 1_000_000) throw invalidField('reply.n', 'a slot count from 1 to 1000000', n);
  if (!Array.isArray(series)) throw invalidField('reply.series', 'an array of base64 strings', series);
  const out: Float64Array[] = [];
  series.forEach((s: unknown, i) => {
    const field = `reply.series[${i}]`;
    if (typeof s !== 'string') throw invalidField(field, 'a base64 string', s);
    const bytes = Buffer.from(s, 'base64');
    if (bytes.byteLength !== n * 4)
      throw invalidField(field, `${n} Float32 values (${n * 4} bytes)`, `${bytes.byteLength} bytes`);
    // The leader decodes every peer's reply in one go (3 x 67 series of 3,600 slots with a
    // store): a Float32 view of an aligned copy, not one readFloatLE per value (issue 15).
    const f = LITTLE_ENDIAN
      ? new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4))
      : Float32Array.from({ length: n }, (_v, k) => bytes.readFloatLE(k * 4));
    const v = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const x = f[k]!;
      if (!(x >= 0 && x !== Number.POSITIVE_INFINITY))
        throw invalidField(field, 'finite counts, none negative', 'other values');
      v[k] = x;
    }
    out.push(v);
  });
  if (out.length === 0) return undefined;
  return {
    series: out,
    timestamps: Float64Array.from({ length: n }, (_v, k) => startMs + k * stepMs),
    stepMs,
  };
}

/**
 * Parts on one grid, from the earliest start to the latest end (each part
 * placed at its start rounded to the step, zeros where it has no slot);
 * parts on another step than the first are dropped. At most `maxTokens`
 * series, in the parts' order.
 */
export function mergeTrainingData(parts: TrainingData[], maxTokens: number): TrainingData | undefined {
  const first = parts[0];
  if (first === undefined) return undefined;
  const stepMs = first.stepMs;
  const same = parts.filter((p) => p.stepMs === stepMs && p.timestamps.length > 0);
  const startMs = Math.min(...same.map((p) => p.timestamps[0]!));
  const offset = (p: TrainingData): number => Math.round((p.timestamps[0]! - startMs) / stepMs);
  const n = Math.max(...same.map((p) => offset(p) + p.timestamps.length));
  const series: Float64Array[] = [];
  for (const p of same) {
    const at = offset(p);
    for (const v of p.series) {
      if (series.length >= maxTokens) break;
      const row = new Float64Array(n);
      row.set(v.subarray(0, n - at), at);
      series.push(row);
    }
  }
  if (series.length === 0) return undefined;
  return { series, timestamps: Float64Array.from({ length: n }, (_v, k) => startMs + k * stepMs), stepMs };
}

/**
 * The `training` service: `series {maxTokens}` answers this node's recent
 * series (nodes only); a call whose params fail their check is counted by
 * `guard` (the node's) and answered with its coded error.
 */
export function trainingSeriesService(local: TrainingSource, guard?: Guard): ServiceSchema {
  return {
    name: TRAINING_SERVICE,
    actions: {
      series: {
        handler: guardedAction(
          guard,
          `${TRAINING_SERVICE}.series`,
          parseSeriesParams,
          async ({ maxTokens }) => encodeTrainingData(await local(), maxTokens),
        ),
      },
    },
  };
}

/** What {@link clusterTrainingSource} needs. */
export interface ClusterTrainingDeps {
  /** This node's own series. */
  local: TrainingSource;
  /** The other nodes that answer `training.series` now. */
  peers: () => string[];
  /** Calls `training.series` on one peer. */
  fetch: (nodeID: string, maxTokens: number) => Promise<unknown>;
  maxTokens: number;
  log: { warn(msg: string): void };
}

/**
 * Every peer's series and this node's on one grid: each peer sends up to an
 * equal share of `maxTokens`, this node fills what they leave.
 */
export function clusterTrainingSource(deps: ClusterTrainingDeps): TrainingSource {
  return async () => {
    const peers = deps.peers();
    const share = Math.max(1, Math.ceil(deps.maxTokens / (peers.length + 1)));
    const remote = await Promise.all(
      peers.map(async (id) => {
        try {
          const raw = await deps.fetch(id, share);
          // Each peer's reply (~9 ms to decode on a 2-core machine) in a turn of its own.
          await new Promise((r) => setImmediate(r));
          return decodeSeriesReply(raw);
        } catch (err) {
          deps.log.warn(`training series from node ${id} left out of this run: ${(err as Error).message}`);
          return undefined;
        }
      }),
    );
    const own = await deps.local();
    const parts = [...remote, own].filter((p): p is TrainingData => p !== undefined);
    return mergeTrainingData(parts, deps.maxTokens);
  };
}

/** The peers of `broker` that run the `training` service. */
export function trainingPeers(broker: ServiceBroker): string[] {
  const ids = new Set<string>();
  for (const svc of broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as Array<{
    name: string;
    nodeID?: string;
  }>) {
    if (svc.name === TRAINING_SERVICE && svc.nodeID !== undefined && svc.nodeID !== broker.nodeID)
      ids.add(svc.nodeID);
  }
  return [...ids].sort();
}
