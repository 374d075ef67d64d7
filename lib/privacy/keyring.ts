/**
 * Keyed hashing (HMAC-SHA-256, RFC 2104) with named keys that rotate.
 *
 * Rotation keeps a token's series continuous: a new key becomes current at
 * its `activeFromMs`; for `overlapMs` after that the previous key is still
 * known, and the first time a token is hashed in that window the keyring
 * also returns a link `{fromToken: hash under the old key, toToken: hash
 * under the new key}`. The store writes links and reads a token's history
 * under every hash linked to it. After the overlap the old key is forgotten,
 * so old hashes can no longer be recomputed from raw keys. A token not seen
 * during the overlap starts a new series (nothing could link it without
 * the raw key), so the overlap should exceed the longest quiet period that
 * matters to the models.
 */
import { createHmac } from 'node:crypto';
import { ErrorCode, InputError, StateError, show } from '../errors.ts';

/** A hash key as configured. */
export interface HashKey {
  /** Short public name, stored in front of every hash it makes. */
  id: string;
  /** The secret: at least 16 bytes (a string is used as UTF-8). */
  secret: string;
  /** When the key becomes current. @default 0 */
  activeFromMs?: number;
}

/** A rotation link, as written to the store's `token_links` table. */
export interface TokenLink {
  fromToken: string;
  toToken: string;
  timeMs: number;
}

export interface Pseudonym {
  token: string;
  /** Present the first time a token is hashed during an overlap. */
  link?: TokenLink;
}

interface Key {
  id: string;
  secret: Buffer;
  activeFromMs: number;
}

/** Validates keys; every problem in one InputError (InvalidOptions). */
export function parseHashKeys(field: string, keys: unknown): Key[] {
  const problems: string[] = [];
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${field} must be a non-empty array of {id, secret, activeFromMs?}, got ${show(keys)}`,
      { field },
    );
  }
  const out: Key[] = [];
  keys.forEach((k: unknown, i) => {
    const f = `${field}[${i}]`;
    const o = (typeof k === 'object' && k !== null ? k : {}) as Record<string, unknown>;
    for (const name of Object.keys(o)) {
      if (!['id', 'secret', 'activeFromMs'].includes(name))
        problems.push(`${f}.${name} is not a known option`);
    }
    const { id, secret, activeFromMs = 0 } = o;
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,16}$/.test(id))
      problems.push(`${f}.id must be 1-16 of [A-Za-z0-9_-], got ${show(id)}`);
    // The secret itself never goes into a message.
    if (typeof secret !== 'string' || Buffer.byteLength(secret) < 16)
      problems.push(`${f}.secret must be a string of at least 16 bytes`);
    if (typeof activeFromMs !== 'number' || !Number.isSafeInteger(activeFromMs) || activeFromMs < 0) {
      problems.push(`${f}.activeFromMs must be a non-negative integer, got ${show(activeFromMs)}`);
    }
    if (problems.length === 0)
      out.push({
        id: id as string,
        secret: Buffer.from(secret as string),
        activeFromMs: activeFromMs as number,
      });
  });
  if (problems.length === 0 && new Set(out.map((k) => k.id)).size !== out.length)
    problems.push(`${field} ids must be unique`);
  if (problems.length > 0) throw new InputError(ErrorCode.InvalidOptions, problems.join('; '), { field });
  return out.sort((a, b) => a.activeFromMs - b.activeFromMs);
}

export class Keyring {
  readonly #keys: Key[];
  readonly #overlapMs: number;
  /** Raw keys already linked during the current overlap (by key id pair). */
  #linked = new Set<string>();
  #linkedFor = '';
  /** The key whose hashes `#cache` holds. */
  #cacheKey: Key | undefined;
  #cache = new Map<string, string>();

  constructor(keys: readonly HashKey[], overlapMs: number) {
    this.#keys = parseHashKeys('privacy.keys', keys);
    this.#overlapMs = overlapMs;
  }

  #current(nowMs: number): { cur: Key; prev: Key | undefined } {
    let i = -1;
    for (let j = 0; j < this.#keys.length; j++) if (this.#keys[j]!.activeFromMs <= nowMs) i = j;
    const cur = this.#keys[i];
    if (cur === undefined) {
      throw new StateError(
        ErrorCode.Unavailable,
        `no hash key is active at ${new Date(nowMs).toISOString()}`,
        {
          field: 'privacy.keys',
        },
      );
    }
    const prev = i > 0 && nowMs < cur.activeFromMs + this.#overlapMs ? this.#keys[i - 1] : undefined;
    return { cur, prev };
  }

  /**
   * HMAC under the current key, remembered: the same token or value always
   * hashes the same under one key, so a busy token costs one HMAC per key
   * rather than one per request. In memory only (the token keys are there
   * anyway) and dropped when the current key changes.
   */
  #hashCurrent(cur: Key, value: string): string {
    if (cur !== this.#cacheKey) {
      this.#cacheKey = cur;
      this.#cache = new Map();
    }
    let h = this.#cache.get(value);
    if (h === undefined) {
      if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
      this.#cache.set(value, (h = hmac(cur, value)));
    }
    return h;
  }

  /** Id of the key current at `nowMs`. */
  currentKeyId(nowMs: number): string {
    return this.#current(nowMs).cur.id;
  }

  /** HMAC-SHA-256 of `value` under the current key: `<keyId>.<32 hex>` (128 bits). */
  hash(value: string, nowMs: number): string {
    return this.#hashCurrent(this.#current(nowMs).cur, value);
  }

  /** The token's hash, with a rotation link the first time it is seen during an overlap. */
  pseudonym(value: string, nowMs: number): Pseudonym {
    const { cur, prev } = this.#current(nowMs);
    const token = this.#hashCurrent(cur, value);
    if (prev === undefined) return { token };
    const pair = `${prev.id}>${cur.id}`;
    if (pair !== this.#linkedFor) {
      this.#linked = new Set();
      this.#linkedFor = pair;
    }
    if (this.#linked.has(token)) return { token };
    this.#linked.add(token);
    return { token, link: { fromToken: hmac(prev, value), toToken: token, timeMs: nowMs } };
  }
}

/** Most hashes the keyring remembers; past it the cache starts over. */
const CACHE_MAX = 100_000;

function hmac(key: Key, value: string): string {
  return `${key.id}.${createHmac('sha256', key.secret).update(value).digest('hex').slice(0, 32)}`;
}
