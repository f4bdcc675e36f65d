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
