import type { RuleSpec } from '../../lib/index.ts';

/** How many past revisions of each rule a store keeps (JetStream's own bound on KV history). */
export const RULE_HISTORY = 64;

/** What one put or delete changed, for the audit line. */
export interface RuleChange {
  /**
   * The rule's revision after the change: the KV revision (stream sequence)
   * in a cluster, a per-rule counter kept in the rules file when embedded.
   */
  revision: number;
  /** The revision it replaced (a delete's too), or null when the id had none. */
  previousRevision: number | null;
}

/** One kept revision of a rule, as `rules.history` returns it. */
export interface RuleRevision {
  revision: number;
  op: 'put' | 'delete';
  /** When the change was stored, ISO-8601 (the JetStream message time in a cluster). */
  at: string;
  /** The rule as put; absent on deletes. */
  rule?: RuleSpec;
}

/**
 * Where a node keeps the rules. Every node holds the full list in memory and
 * hears about changes through `onChange`, so the check path never waits on it.
 */
export interface RuleStore {
  /** Loads the rules and starts watching; `onChange` gets the whole list after every change. */
  start(onChange: (rules: readonly RuleSpec[]) => void): Promise<void>;
  list(): readonly RuleSpec[];
  get(id: string): RuleSpec | undefined;
  /** Stores `spec` (already validated), replacing a rule with the same id. */
  put(spec: RuleSpec): Promise<RuleChange & { rule: RuleSpec }>;
  /** The change when a rule was deleted, null when there was none. */
  delete(id: string): Promise<RuleChange | null>;
  /** The last {@link RULE_HISTORY} revisions of `id`, oldest first; empty when it never had one. */
  history(id: string): Promise<RuleRevision[]>;
  stop(): Promise<void>;
}
