/**
 * Level-triggered planning: every observation only marks the deployable
 * dirty; one pass at a time reads the whole state, plans, and hands the
 * plan to the executor. The next pass is set for `plan.nextCheckAt` (the
 * next heartbeat deadline), not polled. A plan computed while something it
 * depends on changed is thrown away and made again.
 */
import type { Clock, Timer } from '../lib/clock.js';
import type { DeployableConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { plan as planner, type PeInput, type Plan } from '../pe/index.js';
import type { Executor } from './executor.js';
import type { Observations } from './observations.js';

export interface ReconcileOptions {
  readonly config: () => DeployableConfig;
  readonly store: Observations;
  readonly executor: Executor;
  readonly clock: Clock;
  readonly log: Logger;
  /** Every plan, with the input it was made from, before the executor takes it (keep it quick). */
  readonly onPlan?: (input: PeInput, plan: Plan) => void;
  /** After every pass (the monitor schedule follows what runs). */
  readonly afterPass?: () => void;
}

export class ReconcileLoop {
  readonly #o: ReconcileOptions;
  #dirty = false;
  #running: Promise<void> | undefined;
  #timer: { at: number; timer: Timer } | undefined;
  #closed = false;
  #passes = 0;
  #last: Plan | undefined;

  constructor(options: ReconcileOptions) {
    this.#o = options;
  }

  get passes(): number {
    return this.#passes;
  }

  get lastPlan(): Plan | undefined {
    return this.#last;
  }

  /** Look again soon; passes never overlap. */
  markDirty(): void {
    if (this.#closed) return;
    this.#dirty = true;
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
  }

  /** Resolves when no pass is running or due. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  close(): void {
    this.#closed = true;
    this.#timer?.timer.cancel();
    this.#timer = undefined;
  }

  async #run(): Promise<void> {
    const { store, executor, clock, log } = this.#o;
    while (this.#dirty && !this.#closed) {
      this.#dirty = false;
      const version = store.version;
      const now = clock.now();
      const input = store.toPeInput(this.#o.config(), executor.inFlight());
      let plan: Plan;
      try {
        plan = (await planner(input, now)).plan;
      } catch (err) {
        // A planner bug must not stop the DPE watching: log it, and look again later.
        log.error('planning failed', { error: errorMessage(err) });
        this.#schedule(clock.now() + 5000);
        continue;
      }
      if (this.#closed) return;
      if (store.version !== version) {
        this.#dirty = true; // what it was made from has changed: plan again
        continue;
      }
      this.#passes += 1;
      this.#last = plan;
      store.setWatchful(plan.assemblies.filter((a) => a.health !== 'up').map((a) => a.name));
      this.#o.onPlan?.(input, plan);
      executor.submit(plan);
      this.#o.afterPass?.();
      if (plan.nextCheckAt !== null) this.#schedule(plan.nextCheckAt);
    }
  }

  #schedule(at: number): void {
    if (this.#timer?.at === at) return;
    this.#timer?.timer.cancel();
    const { clock } = this.#o;
    this.#timer = {
      at,
      timer: clock.setTimeout(
        () => {
          this.#timer = undefined;
          this.markDirty();
        },
        Math.max(0, at - clock.now()),
      ),
    };
  }
}
