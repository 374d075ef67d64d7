/**
 * Cluster-wide rules in a NATS JetStream KV bucket. Every node watches the
 * bucket, so a put on one node reaches the others in milliseconds; the
 * bucket is stored by JetStream, so rules survive a restart of every node.
 * The bucket keeps each key's last {@link RULE_HISTORY} revisions: the audit
 * trail that `rules.history` reads.
 */
import { Empty, headers } from 'nats';
import type { KV, NatsConnection, QueuedIterator, KvEntry } from 'nats';
import { ErrorCode, StateError, parseStoredRule } from '../../lib/index.ts';
import type { RuleSpec } from '../../lib/index.ts';
import { RULE_HISTORY } from './rule-store.ts';
import type { RuleChange, RuleRevision, RuleStore } from './rule-store.ts';

/** JetStream's "wrong last sequence": another writer changed the key since we read it. */
const WRONG_LAST_SEQUENCE = 10071;
/** Compare-and-set attempts before a write under heavy contention gives up (retryable). */
const MAX_ATTEMPTS = 16;

/** KV keys allow `[-/_=.a-zA-Z0-9]`; rule ids may hold other characters, so escape them. */
export const kvKeyOf = (id: string): string =>
  id.replace(/[^A-Za-z0-9_-]/g, (c) => `=${c.codePointAt(0)!.toString(16).padStart(2, '0')}`);

export interface KvRuleStoreLog {
  info(msg: string): void;
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
    // `history` applies when the bucket is created; an older bucket (history 1 or 5) is raised below.
    this.#kv = await this.#nc.jetstream().views.kv(this.#bucket, { history: RULE_HISTORY });
    const status = await this.#kv.status();
    if (status.history < RULE_HISTORY) {
      const jsm = await this.#nc.jetstreamManager();
      await jsm.streams.update(status.streamInfo.config.name, { max_msgs_per_subject: RULE_HISTORY });
      this.#log.info(
        `rules bucket ${this.#bucket}: history raised from ${status.history} to ${RULE_HISTORY}`,
      );
    }
    let initialised!: () => void;
    const ready = new Promise<void>((r) => (initialised = r));
    this.#watch = await this.#kv.watch({ initializedFn: () => initialised() });
    const watch = this.#watch;
    this.#pump = (async () => {
      for await (const e of watch) {
        if (e.operation === 'PUT') {
          try {
            const spec = parseStoredRule(e.json<unknown>(), `kv ${this.#bucket}/${e.key}`);
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

  async put(spec: RuleSpec): Promise<RuleChange & { rule: RuleSpec }> {
    const kv = this.#bucketOrThrow();
    const key = kvKeyOf(spec.id);
    const value = JSON.stringify(spec);
    // Compare-and-set on the key's last revision, so `previousRevision` is exactly the one replaced.
    const change = await this.#casLoop(spec.id, async () => {
      const current = await kv.get(key);
      const previousRevision = current?.revision ?? null;
      const revision = await kv.put(key, value, { previousSeq: previousRevision ?? 0 });
      return { revision, previousRevision };
    });
    // Make the caller's own node see its write at once (the watch confirms it).
    this.#rules.set(spec.id, spec);
    this.#onChange(this.list());
    return { rule: spec, ...change };
  }

  async delete(id: string): Promise<RuleChange | null> {
    const kv = this.#bucketOrThrow();
    const key = kvKeyOf(id);
    const change = await this.#casLoop(id, async () => {
      const current = await kv.get(key);
      if (current === null || current.operation !== 'PUT') return null;
      // What kv.delete publishes, sent here so the ack's sequence (the delete's revision) comes back.
      const h = headers();
      h.set('KV-Operation', 'DEL');
      const ack = await this.#nc.jetstream().publish(`$KV.${this.#bucket}.${key}`, Empty, {
        headers: h,
        expect: { lastSubjectSequence: current.revision },
      });
      return { revision: ack.seq, previousRevision: current.revision };
    });
    if (change === null) return null;
    this.#rules.delete(id);
    this.#onChange(this.list());
    return change;
  }

  async history(id: string): Promise<RuleRevision[]> {
    const kv = this.#bucketOrThrow();
    const out: RuleRevision[] = [];
    const entries = await kv.history({ key: kvKeyOf(id) });
    for await (const e of entries) {
      const at = e.created.toISOString();
      if (e.operation !== 'PUT') {
        out.push({ revision: e.revision, op: 'delete', at });
        continue;
      }
      let rule: RuleSpec | undefined;
      try {
        rule = parseStoredRule(e.json<unknown>(), `kv ${this.#bucket}/${e.key}`);
      } catch (err) {
        // Written behind our back (see the watch): listed, without a rule to show.
        this.#log.warn(
          `history of ${e.key}: invalid rule at revision ${e.revision}: ${(err as Error).message}`,
        );
      }
      out.push({ revision: e.revision, op: 'put', at, ...(rule === undefined ? {} : { rule }) });
    }
    return out.sort((a, b) => a.revision - b.revision);
  }

  async stop(): Promise<void> {
    this.#watch?.stop();
    await this.#pump;
  }

  /** Runs `attempt` until its compare-and-set holds (another node may write the same key). */
  async #casLoop<T>(id: string, attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        const code = (err as { api_error?: { err_code?: number } }).api_error?.err_code;
        if (code !== WRONG_LAST_SEQUENCE) throw err;
        if (i >= MAX_ATTEMPTS) {
          throw new StateError(
            ErrorCode.Unavailable,
            `rule ${JSON.stringify(id)} kept changing under ${MAX_ATTEMPTS} writes in a row; try again`,
            { field: 'id', value: id, cause: err },
          );
        }
      }
    }
  }

  #bucketOrThrow(): KV {
    if (this.#kv === undefined) throw new StateError(ErrorCode.Unavailable, 'rule store is not started');
    return this.#kv;
  }
}
