/**
 * Time as daemons use it: the current time and timers. Injected, so that
 * tests can run restart backoff and grace periods on a clock they advance.
 */
import { Heap } from './heap.js';

export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): Timer;
}

export interface Timer {
  cancel(): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * A time as Date.prototype.toISOString writes it, from the UTC fields. V8
 * 11.3 (Node 20) looks up the local time zone's display name on every
 * toISOString, though an ISO time never shows it, and the first lookup
 * brings ICU's time zone names into the process: ~1 MB of every daemon's
 * RSS, from its first log line (measured in a DPE, issue #13). The daemons
 * write their times with this.
 */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  // Six-digit and negative years (and an invalid time's RangeError) as V8 has them.
  if (!(year >= 0 && year <= 9999)) return d.toISOString();
  return `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time for the simulator: nothing happens until `step()` fires the
 * earliest timer, which moves `now` to it. Ties fire in the order they were
 * set, so a run is the same every time.
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Heap<Scheduled>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const entry: Scheduled = {
      at: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    this.#timers.push(entry);
    return { cancel: () => (entry.cancelled = true) };
  }

  /** When the next timer fires, or null if none is set. */
  nextAt(): number | null {
    this.#dropCancelled();
    return this.#timers.peek()?.at ?? null;
  }

  /** Fires the earliest timer (moving time to it); false when there is none. */
  step(): boolean {
    this.#dropCancelled();
    const next = this.#timers.pop();
    if (!next) return false;
    this.#now = Math.max(this.#now, next.at);
    next.fn();
    return true;
  }

  #dropCancelled(): void {
    while (this.#timers.peek()?.cancelled) this.#timers.pop();
  }
}
