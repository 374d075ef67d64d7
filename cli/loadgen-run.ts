/**
 * The core of `headroom loadgen`: plays a demand trace against a running
 * node or cluster as live checks. One step of the trace lasts
 * `intervalMs / speedup` real milliseconds; the step's count (times `scale`)
 * is spread evenly over it, open loop (a request starts on time whatever the
 * earlier ones answered), with at most `concurrency` in flight: when the
 * cluster cannot keep up the requests start late, never dropped, and
 * `lagMs` says how late. Used in-process by tests and benches through
 * {@link runLoadgen}; the command line is loadgen.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCode, InputError, parseParams, show } from '../lib/index.ts';
import type { Params, Trace } from '../lib/index.ts';
import { API_PREFIX, connectNats } from '../services/index.ts';
import type { NatsConnectSpec } from '../services/index.ts';

/** Where the checks go: `headroom.v1.check` over NATS, or `POST /v1/check` over HTTP. */
export type LoadgenTarget =
  | { kind: 'nats'; spec: NatsConnectSpec }
  | { kind: 'http'; url: string; /** Bearer token (a secured HTTP API). */ token?: string | null };

export interface LoadgenInput {
  trace: Trace;
  target: LoadgenTarget;
  /** Which of the trace's tokens to play. @default the first */
  token?: string;
  /** The checked request's parameters. @default {"user":"loadgen"} */
  params?: Params;
  /** Trace steps per real step. @default 1 */
  speedup?: number;
  /** Multiplies every step's count (a fraction scales a big trace down). @default 1 */
  scale?: number;
  /** First step played (index into the trace). @default 0 */
  from?: number;
  /** Steps played. @default the rest of the trace */
  steps?: number;
  /** Requests in flight at most. @default 256 */
  concurrency?: number;
  /** Per-request timeout. @default 5000 */
  timeoutMs?: number;
}

/** Counts of one trace step (or of the whole run). */
export interface LoadgenCounts {
  sent: number;
  allowed: number;
  denied: number;
  /** Requests unanswered in time, failed, or answered with an error. */
  errors: number;
}

export interface LoadgenStep extends LoadgenCounts {
  /** The step's start, seconds of trace time since the trace's first slot. */
  t: number;
}

export interface LoadgenResult extends LoadgenCounts {
  steps: LoadgenStep[];
  /** Real seconds the run took. */
  seconds: number;
  /** How far behind its schedule the latest request started, ms (the target or this process could not keep up). */
  lagMs: number;
}

type Outcome = 'allowed' | 'denied' | 'errors';
type Send = () => Promise<Outcome>;

/** `field must be <expected>, got <value>` (code InvalidOptions); fields are named as the flags. */
function bad(field: string, expected: string, value: unknown): InputError {
  return new InputError(ErrorCode.InvalidOptions, `${field} must be ${expected}, got ${show(value)}`, {
    field,
    value,
  });
}

function check(field: string, value: number, ok: boolean, expected: string): number {
  if (!Number.isFinite(value) || !ok) throw bad(field, expected, value);
  return value;
}

/** Requests per played step: the scaled counts, rounded so that their sum is round(total x scale). */
export function stepCounts(values: ArrayLike<number>, scale: number): number[] {
  const counts: number[] = [];
  let cumulative = 0;
  let sent = 0;
  for (let i = 0; i < values.length; i++) {
    cumulative += Math.max(0, values[i] ?? 0) * scale;
    const upTo = Math.round(cumulative);
    counts.push(upTo - sent);
    sent = upTo;
  }
  return counts;
}

/** Checks `input` (every problem names its flag) and fills the defaults. */
function compile(input: LoadgenInput) {
  const { trace } = input;
  const tokenIndex = input.token === undefined ? 0 : trace.tokens.indexOf(input.token);
  if (tokenIndex < 0)
    throw bad('--token', `one of the trace's tokens (${trace.tokens.join(', ')})`, input.token);
  const slots = trace.timestamps.length;
  const from = check(
    '--from',
    input.from ?? 0,
    Number.isInteger(input.from ?? 0) && (input.from ?? 0) >= 0 && (input.from ?? 0) < slots,
    `a step index from 0 to ${slots - 1}`,
  );
  const steps = input.steps ?? slots - from;
  check(
    '--steps',
    steps,
    Number.isInteger(steps) && steps >= 1 && from + steps <= slots,
    `an integer from 1 to ${slots - from} (the steps after --from)`,
  );
  const speedup = input.speedup ?? 1;
  check('--speedup', speedup, speedup > 0, 'a positive number');
  const scale = input.scale ?? 1;
  check('--scale', scale, scale > 0, 'a positive number');
  const concurrency = input.concurrency ?? 256;
  check(
    '--concurrency',
    concurrency,
    Number.isInteger(concurrency) && concurrency >= 1,
    'a positive integer',
  );
  const timeoutMs = input.timeoutMs ?? 5000;
  check('--timeout', timeoutMs, timeoutMs > 0, 'a positive duration');
  const values = trace.values[tokenIndex]!.subarray(from, from + steps);
  return {
    counts: stepCounts(values, scale),
    stepMs: trace.intervalMs / speedup,
    firstT: (from * trace.intervalMs) / 1000,
    intervalS: trace.intervalMs / 1000,
    body: JSON.stringify({ params: parseParams(input.params ?? { user: 'loadgen' }, '--params') }),
    concurrency,
    timeoutMs,
  };
}

/** What a reply body says: an allow flag, or (an `{error}`, anything else) an error. */
function outcomeOf(text: string): Outcome {
  try {
    const reply = JSON.parse(text) as { allow?: unknown };
    return reply.allow === true ? 'allowed' : reply.allow === false ? 'denied' : 'errors';
  } catch {
    return 'errors';
  }
}

/** Opens the target; `close` releases it. A send never rejects: a failure is an error outcome. */
async function openTarget(
  target: LoadgenTarget,
  body: string,
  timeoutMs: number,
): Promise<{ send: Send; close: () => Promise<void> }> {
  if (target.kind === 'http') {
    const url = `${target.url.replace(/\/+$/, '')}/v1/check`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (target.token != null) headers['authorization'] = `Bearer ${target.token}`;
    const send: Send = async () => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          body,
          headers,
          signal: AbortSignal.timeout(timeoutMs),
        });
        return outcomeOf(await res.text());
      } catch {
        return 'errors';
      }
    };
    return { send, close: async () => {} };
  }
  // The default `_INBOX` prefix: that is what the `client` role may read (as `headroom call`).
  const nc = await connectNats(target.spec, {
    name: 'headroom-loadgen',
    reconnect: false,
    timeout: timeoutMs,
  });
  const subject = `${API_PREFIX}.check`;
  const send: Send = async () => {
    try {
      return outcomeOf((await nc.request(subject, body, { timeout: timeoutMs })).string());
    } catch {
      return 'errors';
    }
  };
  return { send, close: () => nc.close() };
}

/**
 * Plays the trace (see the file's comment) and resolves the counts, in
 * total and per step. An abort stops sending; the requests in flight are
 * still counted and the steps begun are returned.
 * @throws InputError naming the flag of a bad option; a coded error when NATS cannot be reached.
 */
export async function runLoadgen(
  input: LoadgenInput,
  deps: { signal?: AbortSignal } = {},
): Promise<LoadgenResult> {
  const plan = compile(input);
  const aborted = (): boolean => deps.signal?.aborted === true;
  const { send, close } = await openTarget(input.target, plan.body, plan.timeoutMs);
  const steps: LoadgenStep[] = [];
  let inFlight = 0;
  let lagMs = 0;
  const slotWaiters: Array<() => void> = [];
  let drained: (() => void) | undefined;
  const start = performance.now();
  try {
    for (let k = 0; k < plan.counts.length && !aborted(); k++) {
      const step: LoadgenStep = {
        t: plan.firstT + k * plan.intervalS,
        sent: 0,
        allowed: 0,
        denied: 0,
        errors: 0,
      };
      steps.push(step);
      const n = plan.counts[k]!;
      const stepStart = start + k * plan.stepMs;
      for (let i = 0; i < n && !aborted(); i++) {
        const due = stepStart + (i * plan.stepMs) / n;
        const wait = due - performance.now();
        if (wait >= 1) await delay(wait, undefined, { signal: deps.signal }).catch(() => {});
        if (inFlight >= plan.concurrency) await new Promise<void>((r) => slotWaiters.push(r));
        if (aborted()) break;
        lagMs = Math.max(lagMs, performance.now() - due);
        inFlight++;
        step.sent++;
        void send().then((outcome) => {
          step[outcome]++;
          inFlight--;
          slotWaiters.shift()?.();
          if (inFlight === 0) drained?.();
        });
      }
    }
    // The last step lasts its full length, so that a run takes the trace's time (speeded up).
    const end = start + plan.counts.length * plan.stepMs - performance.now();
    if (end >= 1 && !aborted()) await delay(end, undefined, { signal: deps.signal }).catch(() => {});
    if (inFlight > 0) await new Promise<void>((r) => (drained = r));
  } finally {
    await close();
  }
  const total = (key: keyof LoadgenCounts): number => steps.reduce((s, x) => s + x[key], 0);
  return {
    sent: total('sent'),
    allowed: total('allowed'),
    denied: total('denied'),
    errors: total('errors'),
    steps,
    seconds: (performance.now() - start) / 1000,
    lagMs: Math.round(lagMs),
  };
}
