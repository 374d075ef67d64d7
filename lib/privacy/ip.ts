/**
 * IP addresses as numbers: parsing (IPv4, IPv6 with `::` and embedded IPv4),
 * truncation to a prefix, and a longest-prefix table mapping addresses to
 * regions. Only prefixes and regions leave this file, never an address.
 */
import { ErrorCode, InputError, show } from '../errors.ts';

export interface ParsedIp {
  version: 4 | 6;
  value: bigint;
}

export function parseIpv4(s: string): bigint | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return undefined;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIpv6(s: string): bigint | undefined {
  let text = s;
  const v4 = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4 !== null) {
    // An embedded IPv4 tail ("::ffff:1.2.3.4") is two hex groups.
    const n = parseIpv4(v4[1]!);
    if (n === undefined) return undefined;
    text = `${text.slice(0, v4.index + 1)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const group = (h: string): bigint[] | undefined => {
    if (h === '') return [];
    const out: bigint[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(BigInt(`0x${g}`));
    }
    return out;
  };
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  const known = head.length + rest.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined;
  const groups = [...head, ...Array<bigint>(8 - known).fill(0n), ...rest];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an address; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) counts as IPv4. */
export function parseIp(s: string): ParsedIp | undefined {
  const v4 = parseIpv4(s);
  if (v4 !== undefined) return { version: 4, value: v4 };
  const v6 = s.includes(':') ? parseIpv6(s.replace(/%.*$/, '')) : undefined;
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { version: 4, value: v6 & 0xffffffffn };
  return { version: 6, value: v6 };
}

const bitsOf = (v: 4 | 6): bigint => (v === 4 ? 32n : 128n);

function mask(ip: ParsedIp, prefix: number): bigint {
  const bits = bitsOf(ip.version);
  const host = bits - BigInt(prefix);
  return (ip.value >> host) << host;
}

function format(version: 4 | 6, value: bigint): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best[0]! < 0) return groups.join(':');
  const [at, len] = best as [number, number];
  return `${groups.slice(0, at).join(':')}::${groups.slice(at + len).join(':')}`;
}

/** The network prefix of an address: IPv4 to /24, IPv6 to /48 by default; `undefined` if not an IP. */
export function truncateIp(s: string, v4Prefix = 24, v6Prefix = 48): string | undefined {
  const ip = parseIp(s.trim());
  if (ip === undefined) return undefined;
  const prefix = ip.version === 4 ? v4Prefix : v6Prefix;
  return `${format(ip.version, mask(ip, prefix))}/${prefix}`;
}

/** One row of an IP-prefix table. */
export interface IpRegionEntry {
  /** CIDR, e.g. `10.1.0.0/16` or `2001:db8::/32`. */
  prefix: string;
  region: string;
}

interface CompiledEntry {
  version: 4 | 6;
  bits: number;
  net: bigint;
  region: string;
}

/** Maps an address to the region of its longest matching prefix. */
export class IpRegionTable {
  readonly #entries: CompiledEntry[];

  constructor(entries: readonly IpRegionEntry[], field = 'privacy.ipRegions') {
    const problems: string[] = [];
    this.#entries = [];
    entries.forEach((e, i) => {
      const m = typeof e?.prefix === 'string' ? /^(.+)\/(\d{1,3})$/.exec(e.prefix) : null;
      const ip = m === null ? undefined : parseIp(m[1]!);
      const bits = m === null ? NaN : Number(m[2]);
      if (ip === undefined || !(bits >= 0 && bits <= Number(bitsOf(ip.version)))) {
        problems.push(`${field}[${i}].prefix must be a CIDR prefix, got ${show(e?.prefix)}`);
      } else if (typeof e.region !== 'string' || e.region === '') {
        problems.push(`${field}[${i}].region must be a non-empty string, got ${show(e.region)}`);
      } else this.#entries.push({ version: ip.version, bits, net: mask(ip, bits), region: e.region });
    });
    if (problems.length > 0) throw new InputError(ErrorCode.InvalidOptions, problems.join('; '), { field });
    this.#entries.sort((a, b) => b.bits - a.bits);
  }

  /** The region of `address`, or `undefined` when no prefix matches or it is not an IP. */
  lookup(address: string): string | undefined {
    const ip = parseIp(address.trim());
    if (ip === undefined) return undefined;
    for (const e of this.#entries) {
      if (e.version === ip.version && mask(ip, e.bits) === e.net) return e.region;
    }
    return undefined;
  }
}
