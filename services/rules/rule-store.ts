import type { RuleSpec } from '../../lib/index.ts';

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
  put(spec: RuleSpec): Promise<RuleSpec>;
  /** True when a rule was deleted, false when there was none. */
  delete(id: string): Promise<boolean>;
  stop(): Promise<void>;
}
