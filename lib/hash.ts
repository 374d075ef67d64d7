// Fast, non-cryptographic 32-bit hashing for placement and bucketing. Never use
// these where an adversary must not find collisions (privacy uses keyed HMAC).

/** FNV-1a (Fowler-Noll-Vo) over the UTF-16 code units of `s`, as an unsigned 32-bit integer. */
export function fnv1a32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * MurmurHash3's 32-bit finaliser (Appleby, "fmix32"): a bijection on 32-bit
 * integers with full avalanche, used to repair FNV-1a's weak high bits.
 */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A well-mixed 32-bit hash of a string: FNV-1a, then the murmur3 finaliser. */
export function hash32(s: string): number {
  return fmix32(fnv1a32(s));
}
