/**
 * The anonymisation pipeline: raw observation in, storable fields out. The
 * token key becomes a keyed hash (with rotation links), each parameter and
 * profile attribute goes through its policy (none: dropped), the profile's
 * quasi-identifiers are made k-anonymous, and an IP address only ever
 * becomes a region through the prefix table. No raw user id, e-mail or IP
 * address comes out.
 */
import { DAY_MS, HOUR_MS } from '../duration.ts';
import { ErrorCode, InputError, show } from '../errors.ts';
import { IpRegionTable, type IpRegionEntry } from './ip.ts';
import { KAnonymiser } from './k-anonymity.ts';
import { Keyring, type HashKey, type TokenLink } from './keyring.ts';
import { applyPolicy, parsePolicies, type FieldPolicy, type FieldPolicyInput } from './policies.ts';

/** Options of {@link PrivacyPipeline}. */
export interface PrivacyOptions {
  /** Hash keys (see Keyring). Required. */
  keys: HashKey[];
  /** How long the previous key stays known after a rotation. @default 7 days */
  overlapMs: number;
  /** Policy per request parameter. @default {} (all dropped) */
  params: Record<string, FieldPolicyInput>;
  /** Policy per profile attribute. @default {} (all dropped) */
  profile: Record<string, FieldPolicyInput>;
  /** Profile attributes (after their policies) that together could identify someone. @default [] */
  quasiIdentifiers: string[];
  /** @default 5 */
  k: number;
  /** Window over which k distinct tokens are counted. @default 1 hour */
  kWindowMs: number;
  /** IP prefix -> region. @default [] */
  ipRegions: IpRegionEntry[];
}

export function defaultPrivacyOptions(): Omit<PrivacyOptions, 'keys'> {
  return {
    overlapMs: 7 * DAY_MS,
    params: {},
    profile: {},
    quasiIdentifiers: [],
    k: 5,
    kWindowMs: HOUR_MS,
    ipRegions: [],
  };
}

/** What the caller knows about one request, before anonymisation. */
export interface RawObservation {
  /** The token key (e.g. `user=alice@example.com|op=read`): only its hash leaves. */
  tokenKey: string;
  params?: Record<string, unknown>;
  profile?: Record<string, unknown>;
  /** Client address: only used to look up a region. */
  ip?: string;
  /** Region the caller already knows (kept unless it looks personal). */
  region?: string;
}

export interface AnonymisedObservation {
  token: string;
  params: Record<string, string>;
  profile: Record<string, string>;
  region?: string;
  /** Rotation links to store (at most one, the first time a token is seen in an overlap). */
  links: TokenLink[];
}

/** Counters since construction. */
export interface PrivacyStats {
  observed: number;
  /** Kept or generalised values replaced because they looked like an e-mail or IP. */
  redacted: number;
  /** Profiles whose quasi-identifiers k-anonymity generalised. */
  kGeneralised: number;
  links: number;
}

const KNOWN = ['keys', 'overlapMs', 'params', 'profile', 'quasiIdentifiers', 'k', 'kWindowMs', 'ipRegions'];

export class PrivacyPipeline {
  readonly #keyring: Keyring;
  readonly #params: Record<string, FieldPolicy>;
  readonly #profile: Record<string, FieldPolicy>;
  readonly #k: KAnonymiser;
  readonly #regions: IpRegionTable;
  readonly #stats: PrivacyStats = { observed: 0, redacted: 0, kGeneralised: 0, links: 0 };

  /** Validates every option; all problems in one InputError (InvalidOptions). */
  constructor(options: Partial<PrivacyOptions>) {
    // An option given as undefined takes its default, as if absent.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const o = { ...defaultPrivacyOptions(), ...given } as PrivacyOptions;
    const problems: string[] = [];
    let field: string | undefined;
    const check = (f: string, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        field ??= f;
        problems.push(err instanceof Error ? err.message : String(err));
      }
    };
    for (const key of Object.keys(given)) {
      if (!KNOWN.includes(key))
        check(`privacy.${key}`, () => {
          throw new Error(`privacy.${key} is not a known option (known: ${KNOWN.join(', ')})`);
        });
    }
    const int = (f: string, v: unknown, min: number): void =>
      check(f, () => {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
          throw new Error(`${f} must be an integer >= ${min}, got ${show(v)}`);
      });
    int('privacy.overlapMs', o.overlapMs, 0);
    int('privacy.k', o.k, 1);
    int('privacy.kWindowMs', o.kWindowMs, 1);
    check('privacy.quasiIdentifiers', () => {
      if (!Array.isArray(o.quasiIdentifiers) || o.quasiIdentifiers.some((q) => typeof q !== 'string')) {
        throw new Error(
          `privacy.quasiIdentifiers must be an array of attribute names, got ${show(o.quasiIdentifiers)}`,
        );
      }
    });
    let keyring: Keyring | undefined;
    let params: Record<string, FieldPolicy> = {};
    let profile: Record<string, FieldPolicy> = {};
    let regions: IpRegionTable | undefined;
    check('privacy.keys', () => (keyring = new Keyring(o.keys ?? [], o.overlapMs)));
    check('privacy.params', () => (params = parsePolicies('privacy.params', o.params)));
    check('privacy.profile', () => (profile = parsePolicies('privacy.profile', o.profile)));
    check('privacy.ipRegions', () => {
      if (!Array.isArray(o.ipRegions))
        throw new Error(`privacy.ipRegions must be an array, got ${show(o.ipRegions)}`);
      regions = new IpRegionTable(o.ipRegions);
    });
    if (problems.length > 0 || keyring === undefined || regions === undefined) {
      throw new InputError(ErrorCode.InvalidOptions, problems.join('; '), { field: field ?? 'privacy' });
    }
    this.#keyring = keyring;
    this.#params = params;
    this.#profile = profile;
    this.#regions = regions;
    this.#k = new KAnonymiser(o.quasiIdentifiers, o.k, o.kWindowMs);
  }

  /** Anonymises one observation at `nowMs` (the key current then hashes). */
  anonymise(raw: RawObservation, nowMs: number): AnonymisedObservation {
    if (typeof raw?.tokenKey !== 'string' || raw.tokenKey === '') {
      throw new InputError(
        ErrorCode.InvalidField,
        `tokenKey must be a non-empty string, got ${typeof raw?.tokenKey}`,
        { field: 'tokenKey' },
      );
    }
    this.#stats.observed++;
    const hash = (s: string): string => this.#keyring.hash(s, nowMs);
    const pseudonym = this.#keyring.pseudonym(raw.tokenKey, nowMs);
    const params = this.#fields(raw.params, this.#params, hash);
    const policed = this.#fields(raw.profile, this.#profile, hash);
    const k = this.#k.apply(pseudonym.token, policed, nowMs);
    if (k.generalised) this.#stats.kGeneralised++;
    const out: AnonymisedObservation = { token: pseudonym.token, params, profile: k.profile, links: [] };
    if (pseudonym.link !== undefined) {
      out.links.push(pseudonym.link);
      this.#stats.links++;
    }
    const region = raw.region !== undefined ? applyPolicy({ kind: 'keep' }, raw.region, hash) : undefined;
    if (region?.redacted === true) this.#stats.redacted++;
    const fromIp = raw.ip !== undefined ? this.#regions.lookup(raw.ip) : undefined;
    const r = region?.value ?? fromIp;
    if (r !== undefined) out.region = r;
    return out;
  }

  /**
   * The request parameters that `anonymise` reads (those with a policy); any
   * other parameter is dropped unread, so it cannot change the output.
   */
  get paramNames(): readonly string[] {
    return Object.keys(this.#params);
  }

  /** Keyed hash of any value under the key current at `nowMs` (for ids that must stay linkable). */
  hash(value: string, nowMs: number): string {
    return this.#keyring.hash(value, nowMs);
  }

  stats(): PrivacyStats {
    return { ...this.#stats };
  }

  #fields(
    input: Record<string, unknown> | undefined,
    policies: Record<string, FieldPolicy>,
    hash: (s: string) => string,
  ): Record<string, string> {
    const out: Record<string, string> = {};
    if (input === undefined || input === null || typeof input !== 'object') return out;
    for (const [name, value] of Object.entries(input)) {
      if (!Object.hasOwn(policies, name)) continue;
      const r = applyPolicy(policies[name], value, hash);
      if (r.redacted) this.#stats.redacted++;
      if (r.value !== undefined) out[name] = r.value;
    }
    return out;
  }
}
