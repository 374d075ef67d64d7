/**
 * The embedded default: rules in `<dataDir>/rules.json`, written atomically
 * (write a temporary file, fsync, rename), so a crash mid-write leaves the
 * old file or the new one, never half of one. The same file keeps each
 * rule's last {@link RULE_HISTORY} revisions (a per-rule counter, deleted
 * rules included) for the audit trail and `rules.history`.
 */
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, InputError, SystemClock, parseStoredRule } from '../../lib/index.ts';
import type { Clock, RuleSpec } from '../../lib/index.ts';
import { RULE_HISTORY } from './rule-store.ts';
import type { RuleChange, RuleRevision, RuleStore } from './rule-store.ts';

/**
 * Version 1 held `rules` only; version 2 adds `history`. A version 1 file is
 * read as if each rule had one revision, stored at the file's last write.
 */
interface RulesFile {
  version: 2;
  rules: RuleSpec[];
  /** Rule id -> its last revisions, oldest first. */
  history: Record<string, RuleRevision[]>;
}

export class FileRuleStore implements RuleStore {
  readonly path: string;
  readonly #clock: Clock;
  #rules = new Map<string, RuleSpec>();
  #history = new Map<string, readonly RuleRevision[]>();
  #onChange: (rules: readonly RuleSpec[]) => void = () => {};
  /** Changes run one after another, in call order, each on the state the one before left. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string, clock: Clock = new SystemClock()) {
    this.path = join(dataDir, 'rules.json');
    this.#clock = clock;
  }

  async start(onChange: (rules: readonly RuleSpec[]) => void): Promise<void> {
    this.#onChange = onChange;
    let text: string | undefined;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) await this.#load(text);
    this.#onChange(this.list());
  }

  list(): readonly RuleSpec[] {
    return [...this.#rules.values()];
  }

  get(id: string): RuleSpec | undefined {
    return this.#rules.get(id);
  }

  async put(spec: RuleSpec): Promise<RuleChange & { rule: RuleSpec }> {
    return await this.#serial(async () => {
      const rules = new Map(this.#rules).set(spec.id, spec);
      const change = await this.#commit(rules, spec.id, 'put', spec);
      return { rule: spec, ...change };
    });
  }

  async delete(id: string): Promise<RuleChange | null> {
    return await this.#serial(async () => {
      if (!this.#rules.has(id)) return null;
      const rules = new Map(this.#rules);
      rules.delete(id);
      return await this.#commit(rules, id, 'delete', undefined);
    });
  }

  async history(id: string): Promise<RuleRevision[]> {
    // Wait for changes already asked for, so a caller reads its own writes.
    await this.#tail;
    return (this.#history.get(id) ?? []).map((r) => ({ ...r }));
  }

  async stop(): Promise<void> {
    await this.#tail;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Persists the change, then makes it current: a failed write changes nothing. */
  async #commit(
    rules: Map<string, RuleSpec>,
    id: string,
    op: RuleRevision['op'],
    rule: RuleSpec | undefined,
  ): Promise<RuleChange> {
    const past = this.#history.get(id) ?? [];
    const previousRevision = past.at(-1)?.revision ?? null;
    const entry: RuleRevision = {
      revision: (previousRevision ?? 0) + 1,
      op,
      at: new Date(this.#clock.now()).toISOString(),
      ...(rule === undefined ? {} : { rule }),
    };
    const history = new Map(this.#history).set(id, [...past, entry].slice(-RULE_HISTORY));
    await this.#write(rules, history);
    this.#rules = rules;
    this.#history = history;
    this.#onChange(this.list());
    return { revision: entry.revision, previousRevision };
  }

  async #load(text: string): Promise<void> {
    const bad = (what: string, cause?: unknown): InputError =>
      new InputError(ErrorCode.InvalidOptions, `rules file ${this.path} ${what}`, {
        field: 'dataDir',
        ...(cause === undefined ? {} : { cause }),
      });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw bad('is not valid JSON', err);
    }
    const file = parsed as Partial<RulesFile> & { version?: unknown };
    const list = file.rules;
    if (!Array.isArray(list)) throw bad('has no "rules" array');
    for (const [i, raw] of list.entries()) {
      const spec = parseStoredRule(raw, `${this.path}: rules[${i}]`);
      this.#rules.set(spec.id, spec);
    }
    const history = file.history ?? {};
    if (typeof history !== 'object' || history === null || Array.isArray(history)) {
      throw bad('has a "history" that is not an object');
    }
    for (const [id, raw] of Object.entries(history)) {
      this.#history.set(id, this.#parseRevisions(id, raw, bad));
    }
    // A rule without history (a version 1 file, or one edited by hand): one revision, at the last write.
    const missing = [...this.#rules.values()].filter((r) => !this.#history.has(r.id));
    if (missing.length > 0) {
      const at = (await stat(this.path)).mtime.toISOString();
      for (const rule of missing) this.#history.set(rule.id, [{ revision: 1, op: 'put', at, rule }]);
    }
  }

  #parseRevisions(id: string, raw: unknown, bad: (what: string) => InputError): RuleRevision[] {
    if (!Array.isArray(raw)) throw bad(`has a history of ${JSON.stringify(id)} that is not an array`);
    return raw.map((e: unknown, i): RuleRevision => {
      const where = `history[${JSON.stringify(id)}][${i}]`;
      const r = e as Partial<RuleRevision> | null;
      if (
        r === null ||
        typeof r !== 'object' ||
        !Number.isSafeInteger(r.revision) ||
        (r.op !== 'put' && r.op !== 'delete') ||
        typeof r.at !== 'string'
      ) {
        throw bad(`has a malformed ${where} (revision, op, at)`);
      }
      return {
        revision: r.revision!,
        op: r.op,
        at: r.at,
        ...(r.op === 'put' ? { rule: parseStoredRule(r.rule, `${this.path}: ${where}.rule`) } : {}),
      };
    });
  }

  async #write(rules: Map<string, RuleSpec>, history: Map<string, readonly RuleRevision[]>): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const body: RulesFile = {
      version: 2,
      rules: [...rules.values()],
      history: Object.fromEntries([...history].map(([id, revs]) => [id, [...revs]])),
    };
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify(body, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
  }
}
