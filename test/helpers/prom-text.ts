// A strict parser of the Prometheus text exposition format 0.0.4, for tests
// that scrape `/metrics`: every line must be a HELP, a TYPE, a comment or a
// sample of a family declared by a TYPE line above it; label values are
// unescaped; anything else throws with the line number.

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  /** The sample's own name (`x_bucket`, `x_sum`, ... for histograms). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: PromType;
  help: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<PromType, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

function parseValue(s: string, line: number): number {
  // As Prometheus reads it (Go's ParseFloat): NaN and Inf in any case; prom-client writes `Nan`.
  const word = s.toLowerCase();
  if (word === 'nan') return Number.NaN;
  if (/^\+?inf(inity)?$/.test(word)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/.test(word)) return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${s}`);
  return Number(s);
}

/** Labels of `{a="x",b="y"}` from `text` at `i` (just past `{`); returns them and the index past `}`. */
function parseLabels(text: string, start: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label ${name} value not quoted`);
    let v = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] !== '\\') {
        v += text[j];
        continue;
      }
      const e = text[++j];
      if (e === 'n') v += '\n';
      else if (e === '\\' || e === '"') v += e;
      else throw new Error(`line ${line}: bad escape \\${e ?? ''}`);
    }
    if (j >= text.length) throw new Error(`line ${line}: unterminated label value`);
    labels[name] = v;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected "," or "}" after label ${name}`);
  }
}

/** Families by name. */
export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const help = new Map<string, string>();
  /** Sample name -> its family. */
  const owner = new Map<string, PromFamily>();
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('the text must end with a newline');
  lines.pop();
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === '') return;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      if (kind === 'HELP') {
        if (help.has(name)) throw new Error(`line ${line}: second HELP for ${name}`);
        help.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
        return;
      }
      if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
      if (families.has(name)) throw new Error(`line ${line}: second TYPE for ${name}`);
      const fam: PromFamily = { name, type: rest as PromType, help: '', samples: [] };
      families.set(name, fam);
      for (const s of SUFFIXES[fam.type]) {
        if (owner.has(name + s)) throw new Error(`line ${line}: ${name + s} claimed twice`);
        owner.set(name + s, fam);
      }
      return;
    }
    if (raw.startsWith('#')) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(raw);
    if (m === null) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`);
    const name = m[1]!;
    const fam = owner.get(name);
    if (fam === undefined) throw new Error(`line ${line}: sample ${name} of no declared family`);
    let labels: Record<string, string> = {};
    let i = name.length;
    if (m[2] !== undefined) [labels, i] = parseLabels(raw, i + 1, line);
    const tail = raw.slice(i);
    const parts = /^ (\S+)( -?\d+)?$/.exec(tail);
    if (parts === null) throw new Error(`line ${line}: bad sample tail ${JSON.stringify(tail)}`);
    fam.samples.push({ name, labels, value: parseValue(parts[1]!, line) });
  });
  for (const fam of families.values()) fam.help = help.get(fam.name) ?? '';
  for (const name of help.keys()) if (!families.has(name)) throw new Error(`HELP without TYPE: ${name}`);
  return families;
}

/** Samples of `family` (the family's own sample name unless `sample` is given) whose labels include `labels`. */
export function samplesOf(
  families: Map<string, PromFamily>,
  family: string,
  labels: Record<string, string> = {},
  sample = family,
): PromSample[] {
  const fam = families.get(family);
  if (fam === undefined) throw new Error(`no metric ${family}`);
  return fam.samples.filter(
    (s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}
