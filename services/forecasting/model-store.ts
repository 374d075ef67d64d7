/**
 * The cluster's models, shared through JetStream: the elected trainer
 * publishes every version it puts in service to an Object Store bucket (one
 * object per file of the registry's version folder, `<version>/meta.json`,
 * `<version>/lstm.json`, `<version>/lstm.bin`, `<version>/bayes.json`) and
 * then names it in the KV key `current` of a bucket of the same name. Every
 * node watches `current`: it downloads the version into its own registry
 * folder (unless it holds that version already), makes it the registry's
 * current one and reloads its ForecastHub, so every node serves the same
 * version, and a node that starts later loads it at start. The store keeps
 * the last {@link KEEP_VERSIONS} versions.
 *
 * Both buckets are JetStream's: only the `node` role may read or write them
 * (ops/nats/secure.conf). A `current` value or a file name that does not
 * look like ours is refused (logged), never used as a path.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KV, NatsConnection, ObjectStore, QueuedIterator, KvEntry } from 'nats';
import { invalidField, isPlainObject } from '../../lib/index.ts';
import type { ModelVersionMeta } from '../../models/index.ts';
import { logEvent } from '../runtime/index.ts';
import type { EventLogger } from '../runtime/index.ts';
import type { ForecastHub } from './forecast-service.ts';

/** The KV key naming the version every node serves. */
export const CURRENT_KEY = 'current';
/** Versions kept in the object store (the current one always). */
export const KEEP_VERSIONS = 8;
/** Largest model file accepted from the store. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

const VERSION = /^v\d{6}$/;
/** File names of a version folder: no path separators, no hidden or temporary files. */
const FILE = /^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z]+$/;

/** The value of `current`. */
export interface CurrentModel {
  version: string;
  /** The version's creation time: tells a re-made version of the same name from the one held. */
  createdMs: number;
  reason: string;
  /** The files of the version folder, each stored as `<version>/<file>`. */
  files: string[];
  /** The node that published it. */
  by: string;
  publishedMs: number;
}

/** Deps of {@link SharedModels}. */
export interface SharedModelsDeps {
  nc: NatsConnection;
  nodeId: string;
  hub: ForecastHub;
  /** Name of the object store and of the KV bucket holding `current`. */
  bucket: string;
  log: EventLogger & { warn(...a: unknown[]): void };
  now: () => number;
}

/** Checks a `current` value read from the bucket. @throws InputError naming the bad field */
export function parseCurrentModel(raw: unknown): CurrentModel {
  if (!isPlainObject(raw)) throw invalidField('current', 'an object {version, createdMs, files, ...}', raw);
  const { version, createdMs, reason, files, by, publishedMs } = raw as Record<string, unknown>;
  if (typeof version !== 'string' || !VERSION.test(version))
    throw invalidField('current.version', 'a version like v000001', version);
  if (typeof createdMs !== 'number' || !Number.isFinite(createdMs))
    throw invalidField('current.createdMs', 'a time in ms', createdMs);
  if (
    !Array.isArray(files) ||
    !files.includes('meta.json') ||
    !files.every((f) => typeof f === 'string' && FILE.test(f))
  ) {
    throw invalidField('current.files', 'a list of file names including meta.json', files);
  }
  return {
    version,
    createdMs,
    reason: typeof reason === 'string' ? reason : '',
    files: files as string[],
    by: typeof by === 'string' ? by : '',
    publishedMs: typeof publishedMs === 'number' ? publishedMs : 0,
  };
}

/** One node's end of the shared models. */
export class SharedModels {
  readonly #d: SharedModelsDeps;
  #os: ObjectStore | undefined;
  #kv: KV | undefined;
  #watch: QueuedIterator<KvEntry> | undefined;
  #pump: Promise<void> | undefined;
  /** Loads run one at a time, latest value last. */
  #queue: Promise<void> = Promise.resolve();
  #latest: CurrentModel | undefined;

  constructor(deps: SharedModelsDeps) {
    this.#d = deps;
  }

  /** The version last named in `current`, as this node saw it. */
  get current(): CurrentModel | undefined {
    return this.#latest;
  }

  /** Opens the buckets and follows `current`; the version already named there starts loading now. */
  async start(): Promise<void> {
    const js = this.#d.nc.jetstream();
    this.#os = await js.views.os(this.#d.bucket);
    this.#kv = await js.views.kv(this.#d.bucket, { history: 1 });
    const watch = await this.#kv.watch({ key: CURRENT_KEY });
    this.#watch = watch;
    this.#pump = (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        let cur: CurrentModel;
        try {
          cur = parseCurrentModel(e.json<unknown>());
        } catch (err) {
          this.#d.log.warn(`ignoring ${this.#d.bucket}/${CURRENT_KEY}: ${(err as Error).message}`);
          continue;
        }
        this.#latest = cur;
        this.#queue = this.#queue.then(() => this.#load(cur));
      }
    })();
  }

  /** Makes `cur` this node's serving version, downloading it unless the registry holds it already. */
  async #load(cur: CurrentModel): Promise<void> {
    if (this.#latest !== cur) return; // a later version was named meanwhile
    try {
      const reg = await this.#d.hub.registry();
      const local = await reg.current();
      if (local?.version === cur.version && local.createdMs === cur.createdMs) {
        await this.#d.hub.reload(cur.version);
        return;
      }
      const held = await reg.meta(cur.version).catch(() => undefined);
      if (held?.createdMs !== cur.createdMs) await this.#download(reg.root, cur);
      await reg.promote(cur.version, cur.reason);
      await this.#d.hub.reload(cur.version);
      logEvent(
        this.#d.log,
        'model-loaded',
        { version: cur.version, by: cur.by, downloaded: held?.createdMs !== cur.createdMs },
        `model ${cur.version} (trained on ${cur.by}) now serving on ${this.#d.nodeId}`,
      );
    } catch (err) {
      this.#d.log.warn(`shared model ${cur.version} not loaded: ${(err as Error).message}`);
    }
  }

  /** Writes the version's files into a fresh folder, then puts it in place of any folder of that name. */
  async #download(root: string, cur: CurrentModel): Promise<void> {
    const os = this.#os!;
    const tmp = join(root, `.incoming-${cur.version}-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    try {
      for (const f of cur.files) {
        const data = await os.getBlob(`${cur.version}/${f}`);
        if (data === null) throw new Error(`${this.#d.bucket} has no ${cur.version}/${f}`);
        if (data.byteLength > MAX_FILE_BYTES) {
          throw new Error(`${cur.version}/${f} is ${data.byteLength} bytes, more than ${MAX_FILE_BYTES}`);
        }
        await writeFile(join(tmp, f), data);
      }
      const dir = join(root, cur.version);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Publishes a version this node put in service (files first, then `current`), and prunes old ones. */
  async publish(meta: ModelVersionMeta): Promise<void> {
    const os = this.#os;
    const kv = this.#kv;
    if (os === undefined || kv === undefined) throw new Error('shared models are not started');
    const reg = await this.#d.hub.registry();
    const dir = join(reg.root, meta.version);
    const files = (await readdir(dir)).filter((f) => FILE.test(f)).sort();
    for (const f of files) {
      await os.putBlob({ name: `${meta.version}/${f}` }, new Uint8Array(await readFile(join(dir, f))));
    }
    const cur: CurrentModel = {
      version: meta.version,
      createdMs: meta.createdMs,
      reason: meta.reason,
      files,
      by: this.#d.nodeId,
      publishedMs: this.#d.now(),
    };
    this.#latest = cur;
    await kv.put(CURRENT_KEY, JSON.stringify(cur));
    await this.#prune(meta.version).catch((err: unknown) =>
      this.#d.log.warn(`pruning ${this.#d.bucket} failed: ${(err as Error).message}`),
    );
  }

  /** Deletes the objects of all but the newest {@link KEEP_VERSIONS} versions (never `keep`). */
  async #prune(keep: string): Promise<void> {
    const os = this.#os!;
    const objects = (await os.list()).filter((o) => !o.deleted);
    const versions = [...new Set(objects.map((o) => o.name.split('/')[0]!))].filter((v) => VERSION.test(v));
    const drop = new Set(versions.sort().slice(0, Math.max(0, versions.length - KEEP_VERSIONS)));
    drop.delete(keep);
    for (const o of objects) if (drop.has(o.name.split('/')[0]!)) await os.delete(o.name);
  }

  /** Stops following `current` (a load in progress finishes). */
  async stop(): Promise<void> {
    this.#watch?.stop();
    await this.#pump;
    await this.#queue;
  }
}
