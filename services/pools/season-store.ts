/**
 * Where pools' seasonal checkpoints live across the cluster: a JetStream KV
 * bucket `<namespace>_pools`, one key per pool (`season.<pool>`), latest
 * value only. The pool's manager writes it every `seasonCheckpointMs` and
 * once more as it stops; the pool's next manager (on whichever node owns
 * the pool next) reads it as it starts (season-keeper.ts).
 *
 * Role: JetStream's, so only the `node` role may read or write it
 * (ops/nats/secure.conf: `$JS.>` and `$KV.>` are not in the admin's or the
 * client's lists). Readers still check every value (lib
 * `decodeSeasonCheckpoint`): it is input.
 */
import type { KV, NatsConnection } from 'nats';

/** Reads and writes pools' checkpoints (the KV bucket in a cluster; a map in tests of one process). */
export interface SeasonStore {
  /** The checkpoint text of `pool`; null when there is none. */
  read(pool: string): Promise<string | null>;
  write(pool: string, text: string): Promise<void>;
}

/** The bucket of a namespace (bucket names allow `A-Z a-z 0-9 _ -`). */
export function seasonBucket(namespace: string): string {
  return `${namespace.replace(/[^A-Za-z0-9_-]/g, '_')}_pools`;
}

/** The key of a pool's checkpoint (pool names are letters, digits, `-`, `_`: valid key characters). */
export const seasonKey = (pool: string): string => `season.${pool}`;

/** {@link SeasonStore} over a JetStream KV bucket. */
export class KvSeasonStore implements SeasonStore {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens (creating when missing) the namespace's bucket. */
  static async open(nc: NatsConnection, namespace: string, timeoutMs = 2000): Promise<KvSeasonStore> {
    const js = nc.jetstream({ timeout: timeoutMs });
    return new KvSeasonStore(await js.views.kv(seasonBucket(namespace), { history: 1 }));
  }

  async read(pool: string): Promise<string | null> {
    const e = await this.#kv.get(seasonKey(pool));
    if (e === null || e.operation !== 'PUT' || e.value.length === 0) return null;
    return e.string();
  }

  async write(pool: string, text: string): Promise<void> {
    await this.#kv.put(seasonKey(pool), text);
  }
}
