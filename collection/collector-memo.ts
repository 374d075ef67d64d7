/**
 * The collector's per-second memo of anonymisations: a trie of Maps keyed by
 * the token and then by the raw value of each parameter anonymisation reads.
 * Map keys keep types apart (`1` and `'1'`, absent and `''`), so no encoding
 * can make two inputs collide, and the lookup hashes strings the request
 * already holds instead of building (and hashing) a key string per request.
 */
import type { Params, ParamValue } from '../lib/index.ts';

type Level<T> = Map<ParamValue | undefined, Level<T> | T>;

export class AnonymisationMemo<T> {
  readonly #names: readonly string[];
  readonly #max: number;
  readonly #root = new Map<string, Level<T> | T>();
  #size = 0;

  /**
   * @param names the parameters whose values, with the token, decide the result
   * @param max most entries held; beyond, `set` does nothing
   */
  constructor(names: readonly string[], max: number) {
    this.#names = names;
    this.#max = max;
  }

  get size(): number {
    return this.#size;
  }

  get(token: string, params: Params): T | undefined {
    let node = this.#root.get(token);
    for (const name of this.#names) {
      if (node === undefined) return undefined;
      node = (node as Level<T>).get(params[name]);
    }
    return node as T | undefined;
  }

  set(token: string, params: Params, value: T): void {
    if (this.#size >= this.#max) return;
    const names = this.#names;
    if (names.length === 0) {
      if (!this.#root.has(token)) this.#size++;
      this.#root.set(token, value);
      return;
    }
    let level = this.#root.get(token) as Level<T> | undefined;
    if (level === undefined) this.#root.set(token, (level = new Map()));
    for (let i = 0; i < names.length - 1; i++) {
      const v = params[names[i]!];
      let next = level.get(v) as Level<T> | undefined;
      if (next === undefined) level.set(v, (next = new Map()));
      level = next;
    }
    const last = params[names[names.length - 1]!];
    if (!level.has(last)) this.#size++;
    level.set(last, value);
  }

  clear(): void {
    this.#root.clear();
    this.#size = 0;
  }
}
