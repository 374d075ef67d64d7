/**
 * A versioned model registry on disk. Each version is a folder under the
 * registry's root holding `meta.json` (kind, creation time, training range,
 * validation scores against the current model and the baselines, status),
 * the LSTM as `lstm.json` (settings and weight shapes) plus `lstm.bin` (the
 * weights, float32 little-endian) and the Bayesian network as `bayes.json`.
 * `registry.json` names the current version and the promotion history, so
 * that `rollback()` returns to the version promoted before it.
 */
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, InputError, StateError } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import { LstmForecaster } from './lstm/index.ts';
import type { LstmState } from './lstm/index.ts';
import { ModelSet, bayesFromJSON } from './serving.ts';
import type { BayesForecasterJson } from './serving.ts';
import type { ModelScore } from './training.ts';

/** Where a version stands. */
export const ModelStatus = {
  /** Recorded, not judged yet (or promoted by hand later). */
  Candidate: 'candidate',
  /** Serving now, or was before a later promotion. */
  Promoted: 'promoted',
  /** Lost validation: kept on record, never served. */
  Rejected: 'rejected',
  /** Undone by a rollback. */
  RolledBack: 'rolled-back',
} as const;
export type ModelStatus = (typeof ModelStatus)[keyof typeof ModelStatus];

/** The metadata of one version (`meta.json`). */
export interface ModelVersionMeta {
  version: string;
  /** What the payload holds, e.g. `lstm+bayes`. */
  kind: string;
  createdMs: number;
  trainFromMs: number;
  trainToMs: number;
  /** Horizons in grid steps, and the grid's step. */
  horizons: number[];
  stepMs: number;
  /** Validation scores by model: `candidate`, `current`, the baselines. */
  scores: Record<string, ModelScore>;
  status: ModelStatus;
  /** Why it was promoted or rejected. */
  reason: string;
  promotedMs?: number;
}

/** What {@link ModelRegistry.add} records. */
export interface NewModelVersion {
  trainFromMs: number;
  trainToMs: number;
  horizons: number[];
  stepMs: number;
  scores: Record<string, ModelScore>;
  status: typeof ModelStatus.Candidate | typeof ModelStatus.Rejected;
  reason: string;
  lstm?: { state: LstmState; weights: Float32Array };
  bayes?: BayesForecasterJson;
}

interface Head {
  current: string | null;
  /** Promotions, oldest first; the last is current. */
  history: string[];
  next: number;
}

const VERSION = /^v\d{6}$/;

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** The registry under `root` (normally `<dataDir>/models`). One writer at a time. */
export class ModelRegistry {
  readonly root: string;
  readonly #clock: Clock;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(root: string, clock: Clock) {
    this.root = root;
    this.#clock = clock;
  }

  /** Serialises writers: each mutation sees the previous one's result. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #head(): Promise<Head> {
    try {
      return JSON.parse(await readFile(join(this.root, 'registry.json'), 'utf8')) as Head;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, history: [], next: 1 };
      throw err;
    }
  }

  async #writeMeta(meta: ModelVersionMeta): Promise<void> {
    await writeAtomic(join(this.root, meta.version, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  }

  /** Records a new version (its payload and metadata); returns its metadata. */
  add(entry: NewModelVersion): Promise<ModelVersionMeta> {
    return this.#serial(async () => {
      await mkdir(this.root, { recursive: true });
      const head = await this.#head();
      // A version copied in from another node (the cluster's shared models) keeps its name: never reuse one.
      for (const n of await readdir(this.root)) {
        if (VERSION.test(n)) head.next = Math.max(head.next, Number(n.slice(1)) + 1);
      }
      const version = `v${String(head.next).padStart(6, '0')}`;
      const dir = join(this.root, version);
      await mkdir(dir, { recursive: true });
      const kind =
        [entry.lstm ? 'lstm' : '', entry.bayes ? 'bayes' : ''].filter(Boolean).join('+') || 'empty';
      if (entry.lstm) {
        await writeAtomic(join(dir, 'lstm.json'), JSON.stringify(entry.lstm.state));
        const w = entry.lstm.weights;
        await writeAtomic(join(dir, 'lstm.bin'), new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      }
      if (entry.bayes) await writeAtomic(join(dir, 'bayes.json'), JSON.stringify(entry.bayes));
      const meta: ModelVersionMeta = {
        version,
        kind,
        createdMs: this.#clock.now(),
        trainFromMs: entry.trainFromMs,
        trainToMs: entry.trainToMs,
        horizons: [...entry.horizons],
        stepMs: entry.stepMs,
        scores: entry.scores,
        status: entry.status,
        reason: entry.reason,
      };
      await this.#writeMeta(meta);
      head.next++;
      await writeAtomic(join(this.root, 'registry.json'), JSON.stringify(head));
      return meta;
    });
  }

  /** Every version's metadata, oldest first. */
  async list(): Promise<ModelVersionMeta[]> {
    let names: string[];
    try {
      names = (await readdir(this.root)).filter((n) => VERSION.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: ModelVersionMeta[] = [];
    for (const n of names) {
      try {
        out.push(await this.meta(n));
      } catch {
        // A version whose meta.json is not written yet (add in progress) is not listed.
      }
    }
    return out;
  }

  /** One version's metadata. @throws InputError (not found) for an unknown version. */
  async meta(version: string): Promise<ModelVersionMeta> {
    if (typeof version !== 'string' || !VERSION.test(version)) {
      throw new InputError(
        ErrorCode.InvalidField,
        `version must look like v000001, got ${JSON.stringify(version)}`,
        {
          field: 'version',
          value: version,
        },
      );
    }
    try {
      return JSON.parse(await readFile(join(this.root, version, 'meta.json'), 'utf8')) as ModelVersionMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new InputError(ErrorCode.NotFound, `version ${version} is not in the registry ${this.root}`, {
          field: 'version',
          value: version,
        });
      }
      throw err;
    }
  }

  /** The serving version's metadata, or undefined before the first promotion. */
  async current(): Promise<ModelVersionMeta | undefined> {
    const head = await this.#head();
    return head.current === null ? undefined : this.meta(head.current);
  }

  /** Loads a version's models (selects the TensorFlow.js backend when it holds an LSTM). */
  async load(version: string): Promise<ModelSet> {
    const meta = await this.meta(version);
    const dir = join(this.root, version);
    let lstm: LstmForecaster | undefined;
    if (meta.kind.includes('lstm')) {
      const state = JSON.parse(await readFile(join(dir, 'lstm.json'), 'utf8')) as LstmState;
      const bin = await readFile(join(dir, 'lstm.bin'));
      const weights = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
      lstm = await LstmForecaster.fromState(state, weights);
    }
    const bayes = meta.kind.includes('bayes')
      ? bayesFromJSON(JSON.parse(await readFile(join(dir, 'bayes.json'), 'utf8')) as BayesForecasterJson)
      : undefined;
    return new ModelSet({
      version,
      horizons: meta.horizons,
      ...(lstm ? { lstm } : {}),
      ...(bayes ? { bayes } : {}),
    });
  }

  /** The saved LSTM of a version, as the training worker takes it (to score the current model). */
  async lstmState(version: string): Promise<{ state: LstmState; weights: Float32Array } | undefined> {
    const meta = await this.meta(version);
    if (!meta.kind.includes('lstm')) return undefined;
    const dir = join(this.root, version);
    const state = JSON.parse(await readFile(join(dir, 'lstm.json'), 'utf8')) as LstmState;
    const bin = await readFile(join(dir, 'lstm.bin'));
    return {
      state,
      weights: new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength)),
    };
  }

  /** Makes `version` the serving one (a rejected version too, by hand). Returns its metadata. */
  promote(version: string, reason = 'promoted by hand'): Promise<ModelVersionMeta> {
    return this.#serial(async () => {
      const meta = await this.meta(version);
      const head = await this.#head();
      if (head.current === version) return meta;
      meta.status = ModelStatus.Promoted;
      meta.promotedMs = this.#clock.now();
      meta.reason = reason;
      await this.#writeMeta(meta);
      head.current = version;
      head.history.push(version);
      await writeAtomic(join(this.root, 'registry.json'), JSON.stringify(head));
      return meta;
    });
  }

  /**
   * Returns to the version promoted before the current one; the current one
   * is marked rolled back. @throws StateError when there is none to return to.
   */
  rollback(): Promise<ModelVersionMeta> {
    return this.#serial(async () => {
      const head = await this.#head();
      if (head.history.length < 2 || head.current === null) {
        throw new StateError(
          ErrorCode.NotFound,
          `no earlier promoted version to roll back to (current: ${head.current ?? 'none'})`,
        );
      }
      const undone = await this.meta(head.history.pop()!);
      undone.status = ModelStatus.RolledBack;
      undone.reason = 'rolled back';
      await this.#writeMeta(undone);
      head.current = head.history[head.history.length - 1]!;
      await writeAtomic(join(this.root, 'registry.json'), JSON.stringify(head));
      return this.meta(head.current);
    });
  }
}
