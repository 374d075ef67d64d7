/**
 * The embedded default: rules in `<dataDir>/rules.json`, written atomically
 * (write a temporary file, fsync, rename), so a crash mid-write leaves the
 * old file or the new one, never half of one.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, InputError, parseRule } from '../../lib/index.ts';
import type { RuleSpec } from '../../lib/index.ts';
import type { RuleStore } from './rule-store.ts';

interface RulesFile {
  version: 1;
  rules: RuleSpec[];
}

export class FileRuleStore implements RuleStore {
  readonly path: string;
  #rules = new Map<string, RuleSpec>();
  #onChange: (rules: readonly RuleSpec[]) => void = () => {};
  /** Writes run one after another, in call order. */
  #writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.path = join(dataDir, 'rules.json');
  }

  async start(onChange: (rules: readonly RuleSpec[]) => void): Promise<void> {
    this.#onChange = onChange;
    let text: string | undefined;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new InputError(ErrorCode.InvalidOptions, `rules file ${this.path} is not valid JSON`, {
          field: 'dataDir',
          cause: err,
        });
      }
      const list = (parsed as Partial<RulesFile>).rules;
      if (!Array.isArray(list)) {
        throw new InputError(ErrorCode.InvalidOptions, `rules file ${this.path} has no "rules" array`, {
          field: 'dataDir',
        });
      }
      for (const [i, raw] of list.entries()) {
        const spec = parseRule(raw, `${this.path}: rules[${i}]`);
        this.#rules.set(spec.id, spec);
      }
    }
    this.#onChange(this.list());
  }

  list(): readonly RuleSpec[] {
    return [...this.#rules.values()];
  }

  get(id: string): RuleSpec | undefined {
    return this.#rules.get(id);
  }

  async put(spec: RuleSpec): Promise<RuleSpec> {
    const next = new Map(this.#rules).set(spec.id, spec);
    await this.#commit(next);
    return spec;
  }

  async delete(id: string): Promise<boolean> {
    if (!this.#rules.has(id)) return false;
    const next = new Map(this.#rules);
    next.delete(id);
    await this.#commit(next);
    return true;
  }

  async stop(): Promise<void> {
    await this.#writing;
  }

  /** Persists `next`, then makes it current: a failed write changes nothing. */
  async #commit(next: Map<string, RuleSpec>): Promise<void> {
    const write = this.#writing.then(() => this.#write([...next.values()]));
    this.#writing = write.catch(() => {});
    await write;
    this.#rules = next;
    this.#onChange(this.list());
  }

  async #write(rules: RuleSpec[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const body: RulesFile = { version: 1, rules };
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
