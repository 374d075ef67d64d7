// Runs client processes of test/helpers/lease-client.ts and checks their allowed counts against
// a rule's GCRA bound plus one burst, per token: the integration test (client-leases) and the
// lease round of bench/client.ts share it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./lease-client.ts', import.meta.url));

/** One client process's result line. */
export interface LeaseClientResult {
  startAt: number;
  /** When its counted checks began: `startAt` plus its warm-up, or later if it was ready late. */
  began: number;
  endAt: number;
  bucketMs: number;
  /** Allowed checks per hot user, in `bucketMs` buckets from `startAt`. */
  allowed: Record<string, number[]>;
  /** Checks answered from `began`. */
  answered: number;
  denied: number;
  longestMs: number;
  failures: string[];
  stats: {
    local: number;
    asks: number;
    askMessages: number;
    refused: number;
    returned: number;
    routed: number;
    anyNode: number;
  };
}

/** A started client process: ready once connected; its result once it exits. */
export interface LeaseClient {
  /** The process's pid (its CPU time is read from /proc by the bench). */
  pid: number;
  ready: Promise<void>;
  result: Promise<LeaseClientResult>;
}

/** Starts lease-client.ts with `args` (its flags); `limitMs` bounds the whole run. */
export function runLeaseClient(args: string[], limitMs: number): LeaseClient {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lease client not ready in 30 s: ${err}`)), 30_000);
    const onData = (): void => {
      if (!out.includes('{"ready":true}')) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve();
    };
    child.stdout.on('data', onData);
  });
  const result = new Promise<LeaseClientResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lease client did not finish in ${limitMs} ms: ${err}`));
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{"startAt"'));
      if (code !== 0 || line === undefined) reject(new Error(`lease client exited ${code}: ${err}\n${out}`));
      else resolve(JSON.parse(line) as LeaseClientResult);
    });
  });
  return { pid: child.pid!, ready, result };
}

/** One token's allowed count across the clients against the GCRA bound plus one burst. */
export interface TokenBound {
  user: string;
  allowed: number;
  /** burst + rate x (run + one bucket) + burst. */
  wholeBound: number;
  /** Most allowed in any 1 s window (of whole buckets, so up to one bucket longer). */
  worstWindow: number;
  /** burst + rate x (1 s + one bucket) + burst. */
  windowBound: number;
  ok: boolean;
}

/** Per hot user: the clients' allowed counts summed, over the run and in the worst 1 s window. */
export function leaseBounds(
  results: readonly LeaseClientResult[],
  rate: number,
  burst: number,
): TokenBound[] {
  const first = results[0]!;
  const bucketS = first.bucketMs / 1000;
  const runS = (first.endAt - first.startAt) / 1000;
  return Object.keys(first.allowed).map((user) => {
    const counts = first.allowed[user]!.map((_, i) => results.reduce((s, r) => s + r.allowed[user]![i]!, 0));
    const allowed = counts.reduce((s, c) => s + c, 0);
    // A 1 s window lies within 1 s / bucket + 1 whole buckets.
    const span = Math.round(1 / bucketS) + 1;
    let worstWindow = 0;
    for (let i = 0; i < counts.length; i++) {
      let sum = 0;
      for (let j = i; j < Math.min(counts.length, i + span); j++) sum += counts[j]!;
      worstWindow = Math.max(worstWindow, sum);
    }
    const wholeBound = 2 * burst + rate * (runS + 2 * bucketS);
    const windowBound = 2 * burst + rate * (1 + 2 * bucketS);
    return {
      user,
      allowed,
      wholeBound,
      worstWindow,
      windowBound,
      ok: allowed <= wholeBound && worstWindow <= windowBound,
    };
  });
}
