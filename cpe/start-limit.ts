/**
 * At most N DPEs starting at once. A DPE's start is mostly Node.js loading
 * modules, some 0.3 s of CPU; a hundred at once (a cluster member taking
 * over a dead one's share) starve everything else on the host for half a
 * minute, the CPE's lease renewals and etcd included. A slot is held from
 * the start until the DPE first beats (started), or at most holdMs.
 */
import type { Clock, Timer } from '../lib/clock.js';

export class StartLimit {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  readonly #held = new Map<string, Timer>();

  constructor(
    max: number,
    private readonly clock: Clock,
    private readonly holdMs: number,
  ) {
    this.#free = max;
  }

  /** Resolves once `name` may start; its slot is held until started(name), release(name) or holdMs. */
  async acquire(name: string): Promise<void> {
    this.release(name);
    if (this.#free > 0) this.#free -= 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#held.set(
      name,
      this.clock.setTimeout(() => this.release(name), this.holdMs),
    );
  }

  /** The DPE of `name` beat for the first time: its slot goes to the next. */
  started(name: string): void {
    this.release(name);
  }

  /** Gives the slot of `name` back (it did not start, or it is up). */
  release(name: string): void {
    const timer = this.#held.get(name);
    if (!timer) return;
    timer.cancel();
    this.#held.delete(name);
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free += 1;
  }

  get waiting(): number {
    return this.#waiting.length;
  }
}
