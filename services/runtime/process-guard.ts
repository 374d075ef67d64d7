/**
 * The node owns its process-level error handlers. `headroom start` installs
 * one {@link ProcessGuard} before anything else runs, and from then on it is
 * the only `unhandledRejection` and `uncaughtException` listener: one added
 * later by a library is removed as soon as it is added (TensorFlow.js's
 * emscripten runtime adds two that re-throw, when its wasm backend starts on
 * the first forecast, and with them any unhandled rejection killed the node
 * and printed 36 KB of minified source).
 *
 * Policy:
 * - An **unhandled rejection** is a bug that lost one promise, not the
 *   process: it is counted and the node keeps serving. The first rejection
 *   with a given message is logged as one short line (the message, at most
 *   300 characters, and the first 3 stack lines, never a source excerpt);
 *   later ones with that message are only counted.
 * - An **uncaught exception** may have left any state half-updated: it is
 *   logged the same way, counted, and the node leaves gracefully (hands its
 *   actors over within `--shutdown-timeout`) and exits with code 1
 *   ({@link ProcessGuardOptions.onUncaughtException}). Further ones while it
 *   leaves are logged and counted only.
 *
 * The counts are in the status reply, per node, as `unexpectedErrors`.
 * Runs in the process's main thread only; a worker thread has its own
 * `process` events (and dies with its error reported to its owner).
 */

import type { EventEmitter } from 'node:events';

/** How many unexpected errors a node has had since it started. */
export interface UnexpectedErrorCounts {
  rejections: number;
  exceptions: number;
}

/** Where the guard logs: a Moleculer logger, or stderr until there is one. */
export interface ProcessGuardLog {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

export interface ProcessGuardOptions {
  /** Called once, on the first uncaught exception: leave gracefully, then exit 1. */
  onUncaughtException: (err: unknown) => void;
  /** @default stderr */
  log?: ProcessGuardLog;
  /** Distinct messages logged at most; later new ones are counted only. @default 100 */
  maxDistinct?: number;
  /** The process to guard (a test passes a stand-in). @default process */
  target?: GuardedProcess;
}

/** The part of `process` the guard uses. */
export type GuardedProcess = Pick<
  EventEmitter,
  'on' | 'off' | 'prependListener' | 'listeners' | 'removeListener'
>;

const EVENTS = ['unhandledRejection', 'uncaughtException'] as const;
type GuardedEvent = (typeof EVENTS)[number];
const MAX_MESSAGE = 300;
const STACK_LINES = 3;
const MAX_STACK_LINE = 200;

const stderrLog: ProcessGuardLog = {
  error: (...args) => console.error(...args),
  warn: (...args) => console.error(...args),
};

export class ProcessGuard {
  readonly #target: GuardedProcess;
  readonly #onUncaught: (err: unknown) => void;
  readonly #maxDistinct: number;
  #log: ProcessGuardLog;
  readonly #seen = new Set<string>();
  #rejections = 0;
  #exceptions = 0;
  #installed = false;
  #removedForeign = 0;

  readonly #onRejection = (reason: unknown): void => {
    this.#rejections++;
    this.#report('unhandled rejection (the node keeps serving)', reason);
  };

  readonly #onException = (err: unknown): void => {
    this.#exceptions++;
    this.#report('uncaught exception (the node leaves and exits with code 1)', err);
    if (this.#exceptions === 1) {
      try {
        this.#onUncaught(err);
      } catch (inner) {
        this.#log.error(`process guard: leaving after an uncaught exception failed: ${short(inner)}`);
      }
    }
  };

  // Emitted before a listener is added: remove a foreign one right after.
  readonly #onNewListener = (event: string | symbol, listener: (...args: unknown[]) => void): void => {
    if (!isGuarded(event) || listener === this.#onRejection || listener === this.#onException) return;
    const from = addedBy(new Error().stack);
    queueMicrotask(() => {
      this.#target.removeListener(event, listener);
      this.#removedForeign++;
      this.#log.warn(`process guard: removed an ${event} listener added by ${from}; the node owns these`);
    });
  };

  constructor(options: ProcessGuardOptions) {
    this.#target = options.target ?? process;
    this.#onUncaught = options.onUncaughtException;
    this.#maxDistinct = options.maxDistinct ?? 100;
    this.#log = options.log ?? stderrLog;
  }

  /**
   * Takes ownership: removes the listeners already there (reported once),
   * adds the guard's, and removes any added later. Idempotent.
   */
  install(): this {
    if (this.#installed) return this;
    this.#installed = true;
    for (const event of EVENTS) {
      for (const l of this.#target.listeners(event)) {
        this.#target.removeListener(event, l as (...args: unknown[]) => void);
        this.#removedForeign++;
        this.#log.warn(`process guard: removed an ${event} listener installed before the node's own`);
      }
    }
    this.#target.on('unhandledRejection', this.#onRejection);
    this.#target.on('uncaughtException', this.#onException);
    this.#target.prependListener('newListener', this.#onNewListener);
    return this;
  }

  /** Gives the process its default behaviour back (tests; the CLI never uninstalls). */
  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    this.#target.off('newListener', this.#onNewListener);
    this.#target.off('unhandledRejection', this.#onRejection);
    this.#target.off('uncaughtException', this.#onException);
  }

  /** Logs through the node's logger from now on (stderr until then). */
  useLog(log: ProcessGuardLog): void {
    this.#log = log;
  }

  /** Counts since install, for the status reply. */
  get counts(): UnexpectedErrorCounts {
    return { rejections: this.#rejections, exceptions: this.#exceptions };
  }

  /** How many foreign listeners the guard removed. */
  get removedForeign(): number {
    return this.#removedForeign;
  }

  #report(what: string, err: unknown): void {
    const text = short(err);
    // Per kind: an exception is logged even after a rejection with the same message.
    const key = `${what}\u0000${text.split('\n', 1)[0] ?? ''}`;
    if (this.#seen.has(key)) return;
    if (this.#seen.size >= this.#maxDistinct) {
      if (this.#seen.size === this.#maxDistinct) {
        this.#seen.add('\u0000full');
        this.#log.error(
          `process guard: more than ${this.#maxDistinct} distinct errors; new ones are only counted`,
        );
      }
      return;
    }
    this.#seen.add(key);
    this.#log.error(`${what}; later ones with this message are only counted: ${text}`);
  }
}

// This file's frames, as stack traces name it.
const SELF = new URL(import.meta.url).pathname;

function isGuarded(event: string | symbol): event is GuardedEvent {
  return event === 'unhandledRejection' || event === 'uncaughtException';
}

/** `Name: message` (at most 300 characters) and the first stack lines, each at most 200. */
export function short(err: unknown): string {
  let head: string;
  let stack: string[] = [];
  if (err instanceof Error) {
    head = `${err.name}: ${err.message}`;
    stack = (err.stack ?? '')
      .split('\n')
      .filter((l) => /^\s+at /.test(l))
      .slice(0, STACK_LINES)
      .map((l) => clip(l.trim(), MAX_STACK_LINE));
  } else {
    let s: string;
    try {
      s = typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
    } catch {
      s = String(err);
    }
    head = `non-error ${typeof err}: ${s}`;
  }
  return [clip(head.replace(/\s+/g, ' '), MAX_MESSAGE), ...stack].join('\n    ');
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}

/** The first stack frame outside this file and Node's own events code: who called `process.on`. */
function addedBy(stack: string | undefined): string {
  const frames = (stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  const frame = frames.find(
    (l) => !l.includes(SELF) && !l.includes('node:events') && !l.includes('node:internal'),
  );
  const where =
    frame === undefined ? 'unknown code' : (/\(?([^()\s]+:\d+:\d+)\)?$/.exec(frame)?.[1] ?? frame);
  return clip(where.replace(/^file:\/\//, '').replace(/.*node_modules\//, ''), MAX_STACK_LINE);
}
