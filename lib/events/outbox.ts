/**
 * A DPE's events waiting for the CPE to acknowledge them. Each event is
 * appended to `outbox.jsonl` in the state directory before anything else
 * happens to it (a write(2) that returns survives kill -9; the file is also
 * fdatasynced shortly after, for a host that loses power), and an
 * acknowledgement appends how many of the oldest are done. When nothing is
 * pending the file is emptied; when it grows past a bound it is rewritten
 * with what is pending. Without a file it is only in memory.
 */
import {
  closeSync,
  fdatasync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import type { BusEvent, QmfMap, Severity } from '../bus/qmf.js';
import { errorMessage } from '../errors.js';
import { replaceFileDurably } from '../files.js';
import type { Logger } from '../log.js';
import { jsonValue } from './record.js';

/** Past this size a file with pending events is rewritten with only them. */
const COMPACT_BYTES = 4 * 1024 * 1024;

interface Line {
  readonly e?: { n: string; t: number; s: Severity; v: QmfMap };
  readonly ack?: number;
}

function eventLine(e: BusEvent): string {
  const line: Line = {
    e: { n: e.name, t: e.timestamp, s: e.severity, v: jsonValue(e.values) as QmfMap },
  };
  return `${JSON.stringify(line)}\n`;
}

export class Outbox {
  #pending: BusEvent[] = [];
  #fd: number | null = null;
  #bytes = 0;
  #dropped = 0;
  #syncing = false;
  #dirty = false;

  /**
   * @param file null: in memory only.
   * @param max events kept at most; past it the oldest are dropped (counted, logged).
   */
  constructor(
    private readonly file: string | null,
    private readonly max: number,
    private readonly log: Logger,
  ) {
    if (file === null) return;
    this.#load(file);
    this.#rewrite();
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Events dropped because the outbox was full, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The oldest `n` pending events, oldest first. */
  peek(n: number): BusEvent[] {
    return this.#pending.slice(0, n);
  }

  add(event: BusEvent): void {
    this.#pending.push(event);
    if (this.#pending.length > this.max) {
      // The oldest tenth at once: a rewrite per event would cost the whole file each time.
      const over = this.#pending.length - this.max + Math.floor(this.max / 10);
      this.#pending.splice(0, over);
      this.#dropped += over;
      this.log.error('event outbox full: the oldest events are dropped', {
        max: this.max,
        dropped: over,
        dropped_total: this.#dropped,
      });
      if (this.#fd !== null)
        try {
          this.#rewrite();
        } catch (err) {
          this.#lose(err);
        }
      return;
    }
    this.#append(eventLine(event));
  }

  /** The oldest `n` are acknowledged. */
  ack(n: number): void {
    if (n <= 0) return;
    this.#pending.splice(0, n);
    if (this.#fd === null) return;
    try {
      if (this.#pending.length === 0) {
        ftruncateSync(this.#fd, 0);
        this.#bytes = 0;
      } else if (this.#bytes > COMPACT_BYTES) {
        this.#rewrite();
      } else {
        this.#append(`${JSON.stringify({ ack: n } satisfies Line)}\n`);
      }
    } catch (err) {
      this.#lose(err);
    }
  }

  /**
   * The file failed (a full disk, say): what is pending stays in memory and
   * is still sent; only a crash before then would lose it. Said once.
   */
  #lose(err: unknown): void {
    this.log.error('event outbox file failed: events now wait in memory only', {
      file: this.file,
      error: errorMessage(err),
    });
    const fd = this.#fd;
    this.#fd = null;
    if (fd !== null)
      try {
        closeSync(fd);
      } catch {
        // already unusable
      }
  }

  close(): void {
    if (this.#fd === null) return;
    try {
      fsyncSync(this.#fd);
    } finally {
      closeSync(this.#fd);
      this.#fd = null;
    }
  }

  #load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const lines = text.split('\n');
    // A last line without its newline was torn by a crash mid-write: it was never acknowledged by anyone.
    lines.pop();
    let skipped = 0;
    for (const raw of lines) {
      if (raw === '') continue;
      try {
        const line = JSON.parse(raw) as Line;
        if (line.e) {
          const { n, t, s, v } = line.e;
          this.#pending.push({ name: n, timestamp: t, severity: s, values: v });
        } else if (typeof line.ack === 'number') this.#pending.splice(0, line.ack);
      } catch {
        skipped += 1;
      }
    }
    if (skipped > 0) this.log.error('event outbox: unreadable lines skipped', { file, skipped });
    if (this.#pending.length > 0)
      this.log.info('events from before the restart will be sent', { count: this.#pending.length });
  }

  #append(text: string): void {
    if (this.#fd === null) return;
    try {
      this.#bytes += writeSync(this.#fd, text);
    } catch (err) {
      this.#lose(err);
      return;
    }
    this.#syncSoon();
  }

  /** fdatasync after a burst, not per event: a crash of the process loses nothing written anyway. */
  #syncSoon(): void {
    this.#dirty = true;
    if (this.#syncing || this.#fd === null) return;
    this.#syncing = true;
    const fd = this.#fd;
    setTimeout(() => {
      this.#dirty = false;
      fdatasync(fd, (err) => {
        this.#syncing = false;
        if (err && this.#fd === fd)
          this.log.warn('event outbox: fdatasync failed', { error: errorMessage(err) });
        if (this.#dirty && this.#fd === fd) this.#syncSoon();
      });
    }, 100).unref();
  }

  /** Writes what is pending to a new file and renames it over the old one. */
  #rewrite(): void {
    const file = this.file!;
    const text = this.#pending.map(eventLine).join('');
    replaceFileDurably(file, text);
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = openSync(file, 'a', 0o640);
    this.#bytes = Buffer.byteLength(text);
  }
}
