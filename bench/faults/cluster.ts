/**
 * The processes of one fault run: a nats-server that can be killed and
 * started again on the same port with the same store (so JetStream's rules
 * survive), `headroom start` nodes, and a registry that stops every one of
 * them, also on Ctrl-C and on errors.
 *
 * The nats-server pings every client each second and drops one that leaves
 * 2 pings unanswered (`ping_interval: "1s"`, `ping_max: 2`; the default
 * interval is 2 min): a SIGSTOPped node is then cut off after ~3 s, its queue
 * group subscriptions with it, instead of getting its share of the checks
 * (which time out) for minutes.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/nats-server.ts';
import { startNodeProcess } from '../../test/helpers/node-process.ts';
import type { NodeProcess } from '../../test/helpers/node-process.ts';

const NATS_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

/** Temporary dirs this bench made and has not yet removed. */
const dirs = new Set<string>();

/** A fresh temporary dir, removed by {@link removeTempDir} or, on Ctrl-C or exit, by {@link killAll}. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Every child this bench started and has not yet seen exit, by pid. */
const live = new Map<number, ChildProcess>();

function track(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  live.set(pid, child);
  child.once('exit', () => live.delete(pid));
}

/**
 * This process's live children that are a nats-server or a headroom node,
 * from /proc: also those whose start failed half-way (startNodeProcess
 * rejects without killing a node that never became ready). Empty once a run
 * has stopped everything it started.
 */
export function strayChildren(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (
        Number(parent) === process.pid &&
        state !== 'Z' &&
        (cmdline.includes('nats-server') || cmdline.includes('headroom.js'))
      ) {
        out.push(Number(name));
      }
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/**
 * Kills (SIGCONT first, for a node a fault left stopped, then SIGKILL) every
 * child still running and removes the temporary dirs. Synchronous, so it also works from an exit handler.
 */
export function killAll(): void {
  const pids = new Set([...live.keys(), ...strayChildren()]);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

/** Ctrl-C, SIGTERM and process exit kill every child this bench started. */
export function installCleanup(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.once('exit', killAll);
}

/** The server's config: fast stale-connection detection (see the header). */
const NATS_CONF = 'ping_interval: "1s"\nping_max: 2\n';

/** A nats-server with JetStream on a fixed loopback port and store dir. */
export class RestartableNats {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #conf: string;
  #child: ChildProcess | null = null;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#conf = join(dir, 'nats.conf');
  }

  static async start(): Promise<RestartableNats> {
    const nats = new RestartableNats(await freePort(), await tempDir('headroom-faults-nats-'));
    await writeFile(nats.#conf, NATS_CONF);
    await nats.up();
    return nats;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server (again) on the same port and store dir; resolves once it is ready. */
  async up(): Promise<void> {
    const args = ['-c', this.#conf, '-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.#dir];
    const child = spawn(NATS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    track(child);
    this.#child = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server not ready in 10 s:\n${log}`)), 10_000);
      child.stderr?.on('data', (b: Buffer) => {
        log += b.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
    });
  }

  /** Kills the server (SIGKILL: a crash, nothing flushed) and waits for its exit. */
  async crash(): Promise<void> {
    await stopChild(this.#child, 'SIGKILL');
    this.#child = null;
  }

  /** Stops the server and removes its store dir. */
  async stop(): Promise<void> {
    await stopChild(this.#child, 'SIGTERM');
    this.#child = null;
    await removeTempDir(this.#dir);
  }
}

async function stopChild(child: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/**
 * How long a node may take to say it is ready: loading the sources through
 * tsx takes ~10 s here, and three nodes starting at once on a 2-core machine
 * under other load went past the helper's 30 s.
 */
const READY_TIMEOUT_MS = 90_000;

/** Starts `headroom start` on `nats` with a data dir of its own under `dataRoot`. */
export async function startNode(
  id: string,
  nats: RestartableNats,
  dataRoot: string,
  nodeArgs: readonly string[],
): Promise<NodeProcess> {
  const node = await startNodeProcess({
    nodeId: id,
    args: ['--nats', nats.url, '--data-dir', join(dataRoot, id), '--log-level', 'error', ...nodeArgs],
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  track(node.child);
  return node;
}

/**
 * Stops a node gracefully (SIGCONT first, in case a fault left it stopped),
 * and kills it when it has not left within `graceMs`.
 */
export async function stopNode(node: NodeProcess, graceMs = 15_000): Promise<void> {
  const { child } = node;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await node.stop('SIGTERM');
  clearTimeout(timer);
}

/**
 * Samples the peak resident set of processes: VmHWM from /proc/<pid>/status
 * (the kernel's high-water mark over the process's life), read every
 * `everyMs` and once more on demand, e.g. just before a SIGKILL.
 */
export class RssSampler {
  readonly #peakKb = new Map<number, number>();
  readonly #pids = new Set<number>();
  readonly #timer: NodeJS.Timeout;

  constructor(everyMs = 250) {
    this.#timer = setInterval(() => void this.sample(), everyMs);
  }

  watch(pid: number | undefined): void {
    if (pid !== undefined) this.#pids.add(pid);
  }

  async sample(): Promise<void> {
    await Promise.all([...this.#pids].map(async (pid) => this.#read(pid)));
  }

  async #read(pid: number): Promise<void> {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const m = /^VmHWM:\s+(\d+) kB/m.exec(status) ?? /^VmRSS:\s+(\d+) kB/m.exec(status);
      if (m?.[1] !== undefined) this.#peakKb.set(pid, Math.max(this.#peakKb.get(pid) ?? 0, Number(m[1])));
    } catch {
      // Exited between samples: its last reading stands.
    }
  }

  /** The largest resident set now (VmRSS) of the watched processes still running, in MB. */
  async currentMb(): Promise<number> {
    const kb = await Promise.all(
      [...this.#pids].map(async (pid) => {
        try {
          const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
          return m?.[1] === undefined ? 0 : Number(m[1]);
        } catch {
          return 0; // exited
        }
      }),
    );
    return Math.max(0, ...kb) / 1024;
  }

  /** The highest peak of any one watched process, in MB. */
  peakMb(): number {
    return Math.max(0, ...this.#peakKb.values()) / 1024;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
