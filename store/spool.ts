/**
 * The disk spool: an append-only file of batches that the store could not
 * take, one JSON line each (`{seq, kind, ids, rows, sum}`, `sum` a SHA-256
 * of kind and rows), fsynced before the append returns. A separate offset
 * file (written to a temp file, fsynced, renamed) records how far replay has
 * gone; when replay reaches the end both files are removed. A crash between
 * an insert and the offset write replays that batch again, which the store's
 * idempotent keys absorb.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  fsyncSync,
} from 'node:fs';
import { open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, StateError } from '../lib/index.ts';
import { rowKey } from './shared.ts';
import type { RowKind, RowOf } from './types.ts';

export interface SpoolBatch {
  kind: RowKind;
  rows: object[];
}

export interface SpoolEntry extends SpoolBatch {
  seq: number;
  /** The rows' keys, as written (for a person reading the file). */
  ids: string[];
}

/** One line read back: the entry, or `undefined` when the line was corrupt (bad JSON or checksum). */
export interface SpoolRead {
  entry: SpoolEntry | undefined;
  /** Byte offset just past this line. */
  end: number;
}

const checksum = (kind: string, rows: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify([kind, rows]))
    .digest('hex');

export class Spool {
  readonly file: string;
  readonly #offsetFile: string;
  readonly #maxBytes: number;
  #size = 0;
  #offset = 0;
  #seq = 0;
  /** Lines between the replay offset and the end of the file. */
  #batches = 0;
  #fd: FileHandle | undefined;

  constructor(dir: string, maxBytes: number) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'spool.jsonl');
    this.#offsetFile = join(dir, 'spool.offset');
    this.#maxBytes = maxBytes;
    try {
      this.#size = statSync(this.file).size;
    } catch {
      this.#size = 0;
    }
    try {
      this.#offset = Math.min(this.#size, Number(readFileSync(this.#offsetFile, 'utf8').trim()) || 0);
    } catch {
      this.#offset = 0;
    }
    if (this.#size > 0) this.#repairTail();
    if (this.pending) this.#batches = this.#countLines();
  }

  /** Lines left to replay in a spool found on open (one pass over the rest of the file). */
  #countLines(): number {
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      let lines = 0;
      for (let pos = this.#offset; pos < this.#size;) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, this.#size - pos), pos);
        if (n === 0) break;
        for (let i = buf.indexOf(0x0a); i >= 0 && i < n; i = buf.indexOf(0x0a, i + 1)) lines++;
        pos += n;
      }
      return lines;
    } finally {
      closeSync(fd);
    }
  }

  /** A crash mid-append can leave a line without its newline; end it so the next append starts clean. */
  #repairTail(): void {
    const fd = openSync(this.file, 'r+');
    try {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, fstatSync(fd).size - 1);
      if (last[0] !== 0x0a) {
        writeSync(fd, '\n', fstatSync(fd).size);
        fsyncSync(fd);
        this.#size += 1;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Bytes the spool file holds on disk. */
  get bytes(): number {
    return this.#size;
  }

  /** Batches (lines, corrupt ones included) waiting to be replayed. */
  get batches(): number {
    return this.#batches;
  }

  /** Whether batches wait to be replayed. */
  get pending(): boolean {
    return this.#offset < this.#size;
  }

  /**
   * Appends a batch and fsyncs it. Throws StateError SpoolFull when the line
   * would take the file past its bound (unless `force`, used at close so that
   * nothing held in memory is lost).
   */
  async append(batch: SpoolBatch, force = false): Promise<number> {
    // Keys are computed here, not per flush: most batches never reach the spool.
    const ids = batch.rows.map((r) => rowKey(batch.kind, r as RowOf[RowKind]));
    const line = `${JSON.stringify({ seq: ++this.#seq, kind: batch.kind, ids, rows: batch.rows, sum: checksum(batch.kind, batch.rows) })}\n`;
    const bytes = Buffer.byteLength(line);
    if (!force && this.#size + bytes > this.#maxBytes) {
      this.#seq--;
      throw new StateError(
        ErrorCode.SpoolFull,
        `spool ${this.file} is full: ${this.#size} + ${bytes} bytes would pass spoolMaxBytes ${this.#maxBytes}`,
      );
    }
    this.#fd ??= await open(this.file, 'a');
    await this.#fd.write(line);
    await this.#fd.datasync();
    this.#size += bytes;
    this.#batches++;
    return bytes;
  }

  /** Reads the line at the replay offset, or `undefined` when none is left. */
  async next(): Promise<SpoolRead | undefined> {
    if (!this.pending) return undefined;
    const fh = await open(this.file, 'r');
    try {
      let chunk = Buffer.alloc(0);
      let pos = this.#offset;
      for (;;) {
        const buf = Buffer.alloc(Math.max(65_536, chunk.length));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        chunk = Buffer.concat([chunk, buf.subarray(0, bytesRead)]);
        pos += bytesRead;
        if (chunk.includes(0x0a)) break;
      }
      const nl = chunk.indexOf(0x0a);
      const lineLen = nl < 0 ? chunk.length : nl;
      const end = this.#offset + lineLen + (nl < 0 ? 0 : 1);
      return { entry: parseLine(chunk.subarray(0, lineLen).toString('utf8')), end };
    } finally {
      await fh.close();
    }
  }

  /** Records that everything before `end` is in the store; removes the files once all is. */
  async commit(end: number): Promise<void> {
    this.#offset = end;
    this.#batches = Math.max(0, this.#batches - 1);
    if (this.#offset >= this.#size) {
      this.#batches = 0;
      await this.#fd?.close();
      this.#fd = undefined;
      await rm(this.file, { force: true });
      await rm(this.#offsetFile, { force: true });
      this.#size = 0;
      this.#offset = 0;
      return;
    }
    const tmp = `${this.#offsetFile}.tmp`;
    await writeFile(tmp, String(end), { flush: true });
    await rename(tmp, this.#offsetFile);
  }

  async close(): Promise<void> {
    await this.#fd?.close();
    this.#fd = undefined;
  }
}

function parseLine(text: string): SpoolEntry | undefined {
  try {
    const o = JSON.parse(text) as Partial<SpoolEntry> & { sum?: string };
    if (typeof o.kind !== 'string' || !Array.isArray(o.rows) || o.sum !== checksum(o.kind, o.rows))
      return undefined;
    return { seq: Number(o.seq), kind: o.kind, rows: o.rows, ids: Array.isArray(o.ids) ? o.ids : [] };
  } catch {
    return undefined;
  }
}
