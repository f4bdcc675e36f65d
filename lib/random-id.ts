/**
 * Random (version 4) UUIDs from the kernel's generator, /dev/urandom, read a
 * pool at a time as node:crypto reads OpenSSL's: every daemon's ids (events,
 * epochs, instances). Not node:crypto's randomUUID: in the DPE and the
 * agent, loading node:crypto for their event ids and epochs alone was ~2 MB
 * of a bare node (its 16 modules and the pages of the binary they touch),
 * ~0.6 MB of a DPE's idle RSS (which shares some of those pages with what it
 * loads anyway). The daemons' bundles load
 * node:crypto only where one of its exports is used (scripts/postbuild.mjs),
 * as here when /dev/urandom cannot be read.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/** 128 ids a read, as node:crypto caches them. */
const POOL_BYTES = 16 * 128;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class IdPool {
  #pool: Buffer | null = null;
  #next = POOL_BYTES;
  /** False once the source could not be read: node:crypto serves from then on. */
  #readable = true;

  constructor(private readonly source = '/dev/urandom') {}

  next(): string {
    if (this.#next + 16 > POOL_BYTES && !(this.#readable &&= this.#refill())) return randomUUID();
    const b = this.#pool!;
    const o = this.#next;
    this.#next += 16;
    b[o + 6] = (b[o + 6]! & 0x0f) | 0x40; // version 4
    b[o + 8] = (b[o + 8]! & 0x3f) | 0x80; // variant 10
    const h = (i: number): string => HEX[b[o + i]!]!;
    return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
  }

  /** Fills the pool from the source; false where it cannot be read whole. */
  #refill(): boolean {
    const buf = (this.#pool ??= Buffer.allocUnsafeSlow(POOL_BYTES));
    try {
      const fd = openSync(this.source, 'r');
      try {
        for (let at = 0; at < POOL_BYTES;) {
          const n = readSync(fd, buf, at, POOL_BYTES - at, null);
          if (n <= 0) return false;
          at += n;
        }
      } finally {
        closeSync(fd);
      }
    } catch {
      return false;
    }
    this.#next = 0;
    return true;
  }
}

const shared = new IdPool();

export function randomId(): string {
  return shared.next();
}
