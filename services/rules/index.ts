// Entry file of services/rules: where a node's rules live. RuleStore is the
// interface (put, get, list, delete, watch, history); FileRuleStore keeps them
// in a local file (embedded nodes), KvRuleStore in NATS JetStream KV (the
// cluster: watchable, compare-and-set, its history the audit trail); RuleAges
// remembers when the node first saw each rule (ownership fences). Runs in
// the node's process. Depends on lib/ only. Values first, then types.
export { RULE_HISTORY } from './rule-store.ts';
export { FileRuleStore } from './file-rule-store.ts';
export { KvRuleStore, kvKeyOf } from './kv-rule-store.ts';
export { RuleAges } from './rule-ages.ts';

export type { RuleChange, RuleRevision, RuleStore } from './rule-store.ts';
export type { KvRuleStoreLog } from './kv-rule-store.ts';
