/**
 * Cluster-wide rules in a NATS JetStream KV bucket. Every node watches the
 * bucket, so a put on one node reaches the others in milliseconds; the
 * bucket is stored by JetStream, so rules survive a restart of every node.
 */
import type { KV, NatsConnection, QueuedIterator, KvEntry } from 'nats';
import { ErrorCode, StateError, parseRule } from '../../lib/index.ts';
import type { RuleSpec } from '../../lib/index.ts';
import type { RuleStore } from './rule-store.ts';

/** KV keys allow `[-/_=.a-zA-Z0-9]`; rule ids may hold other characters, so escape them. */
export const kvKeyOf = (id: string): string =>
  id.replace(/[^A-Za-z0-9_-]/g, (c) => `=${c.codePointAt(0)!.toString(16).padStart(2, '0')}`);

export interface KvRuleStoreLog {
  warn(msg: string): void;
}

export class KvRuleStore implements RuleStore {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #log: KvRuleStoreLog;
  #kv: KV | undefined;
  #watch: QueuedIterator<KvEntry> | undefined;
  #pump: Promise<void> | undefined;
  #rules = new Map<string, RuleSpec>();
  #onChange: (rules: readonly RuleSpec[]) => void = () => {};

  constructor(nc: NatsConnection, bucket: string, log: KvRuleStoreLog) {
    this.#nc = nc;
    this.#bucket = bucket;
    this.#log = log;
  }

  async start(onChange: (rules: readonly RuleSpec[]) => void): Promise<void> {
    this.#onChange = onChange;
    // history 5 keeps a little audit trail of each rule's past versions.
    this.#kv = await this.#nc.jetstream().views.kv(this.#bucket, { history: 5 });
    let initialised!: () => void;
    const ready = new Promise<void>((r) => (initialised = r));
    this.#watch = await this.#kv.watch({ initializedFn: () => initialised() });
    const watch = this.#watch;
    this.#pump = (async () => {
      for await (const e of watch) {
        if (e.operation === 'PUT') {
          try {
            const spec = parseRule(e.json<unknown>(), `kv ${this.#bucket}/${e.key}`);
            this.#rules.set(spec.id, spec);
          } catch (err) {
            // Someone wrote the bucket behind our back; keep serving the others.
            this.#log.warn(`ignoring invalid rule at ${e.key}: ${(err as Error).message}`);
            continue;
          }
        } else {
          for (const [id] of this.#rules) if (kvKeyOf(id) === e.key) this.#rules.delete(id);
        }
        onChange(this.list());
      }
    })();
    await ready;
    onChange(this.list());
  }

  list(): readonly RuleSpec[] {
    return [...this.#rules.values()];
  }

  get(id: string): RuleSpec | undefined {
    return this.#rules.get(id);
  }

  async put(spec: RuleSpec): Promise<RuleSpec> {
    await this.#bucketOrThrow().put(kvKeyOf(spec.id), JSON.stringify(spec));
    // Make the caller's own node see its write at once (the watch confirms it).
    this.#rules.set(spec.id, spec);
    this.#onChange(this.list());
    return spec;
  }

  async delete(id: string): Promise<boolean> {
    const kv = this.#bucketOrThrow();
    const current = await kv.get(kvKeyOf(id));
    if (current === null || current.operation !== 'PUT') return false;
    await kv.delete(kvKeyOf(id));
    this.#rules.delete(id);
    this.#onChange(this.list());
    return true;
  }

  async stop(): Promise<void> {
    this.#watch?.stop();
    await this.#pump;
  }

  #bucketOrThrow(): KV {
    if (this.#kv === undefined) throw new StateError(ErrorCode.Unavailable, 'rule store is not started');
    return this.#kv;
  }
}
