/**
 * Follows an events file (JSON lines or CSV, see lib/events.ts) the way
 * `tail -F` does: new complete lines are published as they are appended; a
 * rotated file (new inode at the path) is read to its end before the new
 * one is opened; a truncated file is read again from its start. The offset
 * is kept in the data folder, so a restart goes on where it stopped (and
 * event ids make a re-read line harmless). A bad line is logged by line
 * number and error code (never its content) and skipped.
 */
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  HeadroomError,
  compileOptionsObject,
  optPositiveMs,
  optString,
  parseEventLine,
} from '../../lib/index.ts';
import type { Clock, EventInput, OptionSchema, TimerHandle } from '../../lib/index.ts';

/** What the feed calls. */
export interface EventsFeedDeps {
  clock: Clock;
  publish: (e: EventInput) => Promise<unknown>;
  logger: { warn(...args: unknown[]): void; info(...args: unknown[]): void };
}

/** Options of an {@link EventsFeed}. */
export interface EventsFeedOptions {
  /** The events file to follow. Required. */
  path: string;
  /** Where the offset is kept. Required. */
  stateFile: string;
  /** How often the file is read for new lines. @default 500 */
  pollMs: number;
}

/** The defaults of {@link EventsFeedOptions}, as a fresh object (without the two required paths). */
export function defaultEventsFeedOptions(): Omit<EventsFeedOptions, 'path' | 'stateFile'> {
  return { pollMs: 500 };
}

const SCHEMA: OptionSchema<EventsFeedOptions> = {
  path: optString,
  stateFile: optString,
  pollMs: optPositiveMs,
};

/**
 * Compiles feed options over the defaults: unknown keys, missing paths and
 * bad values are one InputError (code InvalidOptions) naming each; `path`
 * is made absolute. The result is frozen.
 */
export function compileEventsFeedOptions(
  input: Partial<EventsFeedOptions> & Pick<EventsFeedOptions, 'path' | 'stateFile'>,
): Readonly<EventsFeedOptions> {
  const o = compileOptionsObject('eventsFeed', SCHEMA, defaultEventsFeedOptions(), input, [
    'path',
    'stateFile',
  ]);
  return Object.freeze({ ...o, path: resolve(o.path) });
}

interface FeedState {
  path: string;
  ino: number;
  offset: number;
  line: number;
}

/** Counters since start. */
export interface EventsFeedStats {
  events: number;
  badLines: number;
  rotations: number;
  truncations: number;
}

/** Largest read per poll; more waits for the next poll. */
const CHUNK = 1 << 20;

export class EventsFeed {
  readonly #d: EventsFeedDeps;
  readonly #o: Readonly<EventsFeedOptions>;
  #state: FeedState;
  #fh: FileHandle | undefined;
  #timer: TimerHandle | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #stats: EventsFeedStats = { events: 0, badLines: 0, rotations: 0, truncations: 0 };

  /** @throws InputError (code InvalidOptions) for an unknown option, a missing path or a bad value, naming each */
  constructor(
    deps: EventsFeedDeps,
    options: Partial<EventsFeedOptions> & Pick<EventsFeedOptions, 'path' | 'stateFile'>,
  ) {
    this.#d = deps;
    this.#o = compileEventsFeedOptions(options);
    this.#state = { path: this.#o.path, ino: -1, offset: 0, line: 0 };
  }

  /** Loads the saved offset and starts polling. */
  async start(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(this.#o.stateFile, 'utf8')) as FeedState;
      if (saved.path === this.#o.path) this.#state = saved;
    } catch {
      // No saved state: start at the beginning of the file.
    }
    this.#schedule(0);
  }

  /** Reads whatever is new now (also what the timer runs). */
  poll(): Promise<void> {
    this.#running = this.#running
      .then(() => this.#poll())
      .catch((err: unknown) => {
        this.#d.logger.warn(`events feed ${this.#o.path}: ${(err as Error).message}`);
      });
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    await this.#running;
    await this.#fh?.close();
    this.#fh = undefined;
  }

  stats(): EventsFeedStats {
    return { ...this.#stats };
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#d.clock.setTimeout(() => {
      void this.poll().then(() => this.#schedule(this.#o.pollMs));
    }, ms);
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    let pathIno: number | undefined;
    try {
      pathIno = (await stat(this.#o.path)).ino;
    } catch {
      pathIno = undefined; // not there (yet, or between rotation steps)
    }
    if (this.#fh === undefined) {
      if (pathIno === undefined) return;
      this.#fh = await open(this.#o.path, 'r');
      const ino = (await this.#fh.stat()).ino;
      if (ino !== this.#state.ino) {
        if (this.#state.ino !== -1) this.#stats.rotations++;
        this.#state = { path: this.#o.path, ino, offset: 0, line: 0 };
      }
    }
    await this.#drain();
    // Rotated: the old file was read to its end above; go on with the new one.
    if (pathIno !== undefined && pathIno !== this.#state.ino) {
      await this.#fh.close();
      this.#fh = undefined;
      await this.#poll();
    }
  }

  /** Publishes every complete line past the offset of the open file. */
  async #drain(): Promise<void> {
    const fh = this.#fh!;
    for (;;) {
      const size = (await fh.stat()).size;
      if (size < this.#state.offset) {
        this.#stats.truncations++;
        this.#state.offset = 0;
        this.#state.line = 0;
      }
      if (size === this.#state.offset) return;
      const buf = Buffer.alloc(Math.min(CHUNK, size - this.#state.offset));
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.#state.offset);
      const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (end < 0) return; // no complete line yet
      const text = buf.subarray(0, end).toString('utf8');
      for (const line of text.split('\n')) {
        this.#state.line++;
        await this.#line(line.replace(/\r$/, ''), this.#state.line);
      }
      this.#state.offset += end + 1;
      await this.#save();
      if (bytesRead < CHUNK) return;
    }
  }

  async #line(text: string, lineNo: number): Promise<void> {
    let event: EventInput | undefined;
    try {
      event = parseEventLine(text, lineNo, this.#d.clock.now());
      if (event === undefined) return;
      await this.#d.publish(event);
      this.#stats.events++;
    } catch (err) {
      this.#stats.badLines++;
      const e = err as HeadroomError;
      // Code and field only: a line may carry token keys, which never go to a log.
      const what = err instanceof HeadroomError ? `${e.code} (${e.field ?? 'line'})` : 'error';
      this.#d.logger.warn(`events feed ${this.#o.path} line ${lineNo} refused: ${what}`);
    }
  }

  async #save(): Promise<void> {
    const tmp = `${this.#o.stateFile}.tmp`;
    await writeFile(tmp, JSON.stringify(this.#state));
    await rename(tmp, this.#o.stateFile);
  }
}
