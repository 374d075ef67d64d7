// Runs `headroom start` as a real child process, as a user would, and stops
// exactly that process.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';

export const BIN = fileURLToPath(new URL('../../bin/headroom.js', import.meta.url));

export interface NodeProcess {
  id: string;
  child: ChildProcess;
  httpUrl: string | null;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  /** Sends `signal` and waits for the exit; resolves the exit code (null when killed). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface NodeProcessOptions {
  nodeId: string;
  args?: string[];
  env?: Record<string, string>;
  /**
   * How long to wait for the ready line (60 s: a node loading TensorFlow.js and
   * DuckDB on a 2-core machine under load took over 30 s); a node not ready by
   * then is killed.
   */
  readyTimeoutMs?: number;
}

export async function startNodeProcess(opts: NodeProcessOptions): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--node-id',
      opts.nodeId,
      '--log-level',
      'warn',
      '--log-format',
      'pretty',
      ...(opts.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = await new Promise<{ httpUrl: string | null }>((resolve, reject) => {
    const waitMs = opts.readyTimeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      // Not left running behind the failure: the caller never gets a handle to stop it.
      child.kill('SIGKILL');
      reject(new Error(`node ${opts.nodeId} not ready in ${waitMs / 1000} s:\n${out}`));
    }, waitMs);
    const onData = (): void => {
      const line = out.split('\n').find((l) => l.startsWith('{"ready":true'));
      if (line !== undefined) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(JSON.parse(line) as { httpUrl: string | null });
      }
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${opts.nodeId} exited with ${code} before ready:\n${out}`));
    });
  });
  return {
    id: opts.nodeId,
    child,
    httpUrl: ready.httpUrl,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return await exited;
    },
  };
}

/** A plain NATS client, as an application would use one. */
export async function client(url: string): Promise<NatsConnection> {
  return await connect({ servers: url, name: 'headroom-test-client' });
}

/** Sends one API request and decodes the JSON reply. */
export async function request<T = any>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs = 5000,
): Promise<T> {
  const data = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  const msg = await nc.request(subject, data, { timeout: timeoutMs });
  return JSON.parse(msg.string()) as T;
}

/** Polls `probe` until it returns true (a count-and-timeout latch, not a fixed sleep). */
export async function waitUntil(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Puts a rule over NATS and waits until `streak` answers in a row (so, very
 * likely, every node of the queue group) return it; resolves the stored rule.
 */
export async function putRuleEverywhere(
  nc: NatsConnection,
  rule: Record<string, unknown>,
  streak = 9,
): Promise<any> {
  const put = await request(nc, 'headroom.v1.rules.put', rule);
  if (put.error !== undefined) throw new Error(JSON.stringify(put.error));
  let inARow = 0;
  await waitUntil(
    async () => {
      const r = await request(nc, 'headroom.v1.rules.get', { id: rule['id'] });
      inARow = JSON.stringify(r.rule) === JSON.stringify(put.rule) ? inARow + 1 : 0;
      return inARow >= streak;
    },
    5000,
    `rule ${String(rule['id'])} on every node`,
  );
  return put.rule;
}

/** Waits until every answering node lists exactly `ids` as live. */
export async function settle(nc: NatsConnection, ids: string[]): Promise<void> {
  let streak = 0;
  await waitUntil(
    async () => {
      const r = await request<{
        nodes: Array<{
          id: string;
          actors: number | null;
          ownership?: { learningUntilMs: number | null; pendingHandoffs: number } | null;
        }>;
      }>(nc, 'headroom.v1.status', {}).catch(() => null);
      // A node that just printed ready may still be subscribing: "no responders" for a moment.
      if (r === null) {
        streak = 0;
        return false;
      }
      const seen = r.nodes.filter((n) => n.actors !== null).map((n) => n.id);
      // Settled also means no node is still learning after the last membership change or waiting
      // for a hand-off (services/cluster/ownership.ts): until then fresh tokens may start fenced.
      const quiet = r.nodes.every(
        (n) =>
          n.ownership == null || (n.ownership.learningUntilMs === null && n.ownership.pendingHandoffs === 0),
      );
      streak = quiet && seen.length === ids.length && ids.every((id) => seen.includes(id)) ? streak + 1 : 0;
      return streak >= 9; // several answers in a row, so (very likely) from every node
    },
    20_000,
    `nodes ${ids.join(',')} to see each other`,
  );
}

/** One live process as /proc lists it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

/**
 * Live processes whose command line contains `match` and, unless `ppid` is
 * null, whose parent is `ppid` (Linux /proc), e.g. the worker processes a
 * node's `process` pool spawned. Zombies are left out: they have exited.
 */
export async function childProcesses(ppid: number | null, match: string): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if ((ppid !== null && Number(parent) !== ppid) || state === 'Z') continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmdline.includes(match)) out.push({ pid: Number(name), ppid: Number(parent), cmdline });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/** Whether a process with `pid` is alive (signal 0; a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
