// Entry file of lib/privacy/: the anonymisation pipeline that every record
// passes before storage (field policies, keyed hashing with key rotation,
// IP truncation and region lookup, k-anonymity). Pure; node:crypto only.
// Values first, then types.
export { PrivacyPipeline, defaultPrivacyOptions } from './pipeline.ts';
export { Keyring, parseHashKeys } from './keyring.ts';
export {
  PolicyKind,
  OTHER,
  REDACTED,
  applyPolicy,
  parsePolicies,
  bandOf,
  looksPersonal,
} from './policies.ts';
export { KAnonymiser } from './k-anonymity.ts';
export { IpRegionTable, parseIp, truncateIp } from './ip.ts';

export type { PrivacyOptions, RawObservation, AnonymisedObservation, PrivacyStats } from './pipeline.ts';
export type { HashKey, TokenLink, Pseudonym } from './keyring.ts';
export type { FieldPolicy, FieldPolicyInput } from './policies.ts';
export type { IpRegionEntry, ParsedIp } from './ip.ts';
