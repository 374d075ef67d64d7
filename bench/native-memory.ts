/**
 * Where a process's resident memory lies, sampled over time (issue 11): run
 * beside bench/faults.ts (or any run of `headroom start`) to see which part
 * of a node's resident set grows.
 *
 *   npx tsx bench/native-memory.ts [--match headroom.js] [--every 5] [--seconds 600]
 *     [--malloc-every 0] [--out file.jsonl] [--parent pid]
 *
 * Every `every` seconds, for each process whose command line has `match`
 * (and, for the default, `start`; with `parent`, only that pid's children),
 * one line: VmRSS, VmHWM, RssAnon, threads and, from /proc/<pid>/smaps, the
 * resident memory by kind (MB): `file` (file-backed: code, libraries),
 * `brk` (glibc's main arena, [heap]), `arenas` (glibc's other arenas:
 * 64 MB-aligned heaps of at most 64 MB; with MALLOC_ARENA_MAX=2 one arena
 * that every thread but the first to allocate shares), `big` (other
 * anonymous mappings with 8 MB or more resident: V8's large objects,
 * DuckDB's own bundled jemalloc, glibc's mmapped chunks) and `small` (the
 * rest, V8's heap pages mostly). With `malloc-every` > 0, every that many
 * seconds glibc's own view too (gdb attaches for a moment, which stops the
 * process, and calls malloc_info): `mallocMb` held from the system,
 * `freeMb` of it free inside malloc (freed, not given back), `mmapMb` in
 * mmapped chunks.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    match: { type: 'string', default: 'headroom.js' },
    every: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '600' },
    'malloc-every': { type: 'string', default: '0' },
    out: { type: 'string' },
    /** Only processes whose parent has this pid (a bench's own nodes). */
    parent: { type: 'string' },
  },
});
const EVERY_MS = Number(values.every) * 1000;
const END = Date.now() + Number(values.seconds) * 1000;
const MALLOC_EVERY_MS = Number(values['malloc-every']) * 1000;
const ARENA = 64 * 1024 * 1024;

async function pids(): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (values.parent !== undefined) {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] !== values.parent) continue;
      }
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (
        cmd.some((a) => a.includes(values.match)) &&
        (values.match !== 'headroom.js' || cmd.includes('start'))
      )
        out.push(Number(name));
    } catch {
      // Gone.
    }
  }
  return out;
}

const kb = (s: string, key: string): number =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);

interface Breakdown {
  brk: number;
  arenas: number;
  big: number;
  small: number;
  file: number;
}

/** Resident anonymous memory by kind, MB (see the header). */
async function smaps(pid: number): Promise<Breakdown> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const b: Breakdown = { brk: 0, arenas: 0, big: 0, small: 0, file: 0 };
  let start = 0;
  let end = 0;
  let name = '';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head !== null) {
      start = parseInt(head[1]!, 16);
      end = parseInt(head[2]!, 16);
      name = head[3] ?? '';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss === null) continue;
    const mb = Number(rss[1]) / 1024;
    if (name === '[heap]') b.brk += mb;
    else if (name.startsWith('/')) b.file += mb;
    else if (name !== '') b.small += mb;
    else if (start % ARENA === 0 && end - start <= ARENA) b.arenas += mb;
    else if (mb >= 8) b.big += mb;
    else b.small += mb;
  }
  for (const k of Object.keys(b) as (keyof Breakdown)[]) b[k] = Math.round(b[k]);
  return b;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (_err, stdout) => resolve(String(stdout)));
  });
}

/** glibc's totals for the process (malloc_info through gdb), MB: held from the system, free inside malloc. */
async function mallocInfo(pid: number): Promise<{ mallocMb: number; freeMb: number; mmapMb: number } | null> {
  const file = `/tmp/malloc-info-${pid}-${Date.now()}.xml`;
  await run('gdb', [
    '-p',
    String(pid),
    '-batch',
    '-nx',
    '-ex',
    `call (void*)fopen("${file}", "w")`,
    '-ex',
    'call (int)malloc_info(0, $1)',
    '-ex',
    'call (int)fclose($1)',
  ]);
  try {
    const xml = await readFile(file, 'utf8');
    await rm(file, { force: true });
    // The totals are the last <total> lines, after every arena's own.
    const total = (type: string): number => {
      const all = [...xml.matchAll(new RegExp(`<total type="${type}" count="\\d+" size="(\\d+)"/>`, 'g'))];
      return Number(all.at(-1)?.[1] ?? 0);
    };
    const sys = [...xml.matchAll(/<system type="current" size="(\d+)"\/>/g)];
    const mb = (n: number): number => Math.round(n / 1048576);
    return {
      mallocMb: mb(Number(sys.at(-1)?.[1] ?? 0)),
      freeMb: mb(total('fast') + total('rest')),
      mmapMb: mb(total('mmap')),
    };
  } catch {
    return null;
  }
}

const t0 = Date.now();
let nextMalloc = MALLOC_EVERY_MS > 0 ? t0 + MALLOC_EVERY_MS : Number.POSITIVE_INFINITY;
while (Date.now() < END) {
  const doMalloc = Date.now() >= nextMalloc;
  if (doMalloc) nextMalloc += MALLOC_EVERY_MS;
  for (const pid of await pids()) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const line: Record<string, unknown> = {
        s: Math.round((Date.now() - t0) / 1000),
        pid,
        rss: Math.round(kb(status, 'VmRSS') / 1024),
        hwm: Math.round(kb(status, 'VmHWM') / 1024),
        anon: Math.round(kb(status, 'RssAnon') / 1024),
        threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
        ...(await smaps(pid)),
      };
      if (doMalloc) Object.assign(line, await mallocInfo(pid));
      const text = JSON.stringify(line);
      console.log(text);
      if (values.out !== undefined) await appendFile(values.out, text + '\n');
    } catch {
      // The process ended.
    }
  }
  await new Promise((r) => setTimeout(r, EVERY_MS));
}
if (values.out !== undefined) await writeFile(values.out + '.done', '');
