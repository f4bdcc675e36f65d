/**
 * Level-triggered: anything that happens only says "look at deployable X";
 * a pass reads the stored desired state and the supervisor's view, then
 * starts or stops the DPE. Passes for one name never overlap. A DPE that
 * keeps dying is restarted with exponential backoff (1 s doubling to 60 s,
 * counted over the last 10 minutes), so a broken DPE cannot spin the host.
 */
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { Decision } from './cluster.js';
import { StartLimit } from './start-limit.js';
import type { DeployableStore } from './store.js';
import { isUp, type DpeSupervisor } from './supervisor.js';

export interface RestartPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  baseMs: 1000,
  maxMs: 60_000,
  windowMs: 600_000,
};

/** How long systemd gets to restart a failed DPE before the CPE does (RestartSec=1s). */
export const SYSTEMD_GRACE_MS = 5000;

export interface ReconcilerOptions {
  readonly policy?: RestartPolicy;
  readonly clock?: Clock;
  /** The generation a running DPE last reported, and from which pid (its heartbeats). */
  readonly reported?: (
    name: string,
  ) => { readonly generation: number; readonly pid: number } | undefined;
  /** In a cluster: whether this CPE runs the deployable (cluster.ts). */
  readonly ownership?: Ownership;
  /** At most this many DPEs starting at once (start-limit.ts); default: no limit. */
  readonly maxStarting?: number;
}

/** A start slot is given back after this even if the DPE never beats. */
const START_HOLD_MS = 10_000;

/** Which deployables this CPE runs: all of them on one host; its share in a cluster. */
export interface Ownership {
  decide(name: string, exists: boolean): Promise<Decision>;
  /** Gives `name` up, once its DPE here is stopped. */
  release(name: string): Promise<void>;
  /** Whether this CPE holds `name` now (checked again right before a start). */
  owns(name: string): boolean;
}

/** A DPE told to reload that still reports an older generation is told again after this. */
const RELOAD_AGAIN_MS = 15_000;

/** What a pass reads of the store. */
export type DesiredStates = Pick<DeployableStore, 'get' | 'list'>;

export class Reconciler {
  readonly #store: DesiredStates;
  readonly #supervisor: DpeSupervisor;
  readonly #log: Logger;
  readonly #policy: RestartPolicy;
  readonly #starts = new Map<string, number[]>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #timers = new Map<string, Timer>();
  readonly #clock: Clock;
  readonly #failedAt = new Map<string, number>();
  /** The generation each DPE was last told to load, and when. */
  readonly #reloaded = new Map<string, { generation: number; at: number }>();
  readonly #reported: NonNullable<ReconcilerOptions['reported']>;
  readonly #ownership: Ownership | undefined;
  readonly #limit: StartLimit | undefined;
  #closed = false;

  constructor(
    store: DesiredStates,
    supervisor: DpeSupervisor,
    log: Logger,
    {
      policy = DEFAULT_RESTART_POLICY,
      clock = systemClock,
      reported = () => undefined,
      ownership,
      maxStarting,
    }: ReconcilerOptions = {},
  ) {
    this.#ownership = ownership;
    this.#limit = maxStarting ? new StartLimit(maxStarting, clock, START_HOLD_MS) : undefined;
    this.#reported = reported;
    this.#store = store;
    this.#supervisor = supervisor;
    this.#log = log;
    this.#policy = policy;
    this.#clock = clock;
  }

  /** Looks at `name` soon; resolves when a pass that saw this request has finished. */
  enqueue(name: string): Promise<void> {
    const current = this.#running.get(name);
    if (current) {
      this.#again.add(name);
      return current.then(() => this.#running.get(name));
    }
    const pass = this.#pass(name).finally(() => {
      this.#running.delete(name);
      if (this.#again.delete(name)) void this.enqueue(name);
    });
    this.#running.set(name, pass);
    return pass;
  }

  /** The DPE of `name` beat for the first time: the next one may start. */
  started(name: string): void {
    this.#limit?.started(name);
  }

  /** Every stored deployable and every running DPE: the periodic safety net. */
  /** When a full resync last finished (Date.now()), or null before the first. */
  lastResyncAt: number | null = null;

  async resync(): Promise<void> {
    let stored: string[];
    try {
      stored = (await this.#store.list()).map((r) => r.name);
    } catch (err) {
      // A cluster's etcd without quorum: what runs keeps running; the next round tries again.
      this.#log.warn('resync: cannot read the deployables', { error: (err as Error).message });
      return;
    }
    const names = new Set([...stored, ...(await this.#supervisor.running())]);
    await Promise.all([...names].map((n) => this.enqueue(n)));
    this.lastResyncAt = Date.now();
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  async #pass(name: string): Promise<void> {
    if (this.#closed) return;
    const log = this.#log.child({ deployable: name });
    try {
      const record = await this.#store.get(name);
      const decision = (await this.#ownership?.decide(name, record !== null)) ?? 'run';
      const state = this.#supervisor.state(name);
      const want = record?.desired === 'running' && decision === 'run';
      if (want && !isUp(state) && state !== 'deactivating') {
        // systemd restarts a crashed DPE itself (Restart=on-failure): give it the
        // time to, and step in only when it has given up.
        if (this.#supervisor.kind === 'systemd' && state === 'failed') {
          const now = this.#clock.now();
          const since = this.#failedAt.get(name) ?? now;
          this.#failedAt.set(name, since);
          if (now - since < SYSTEMD_GRACE_MS) {
            this.#later(name, since + SYSTEMD_GRACE_MS - now);
            return;
          }
        }
        this.#failedAt.delete(name);
        const wait = this.#backoff(name);
        if (wait > 0) {
          this.#later(name, wait);
          log.info('DPE restart delayed (it keeps stopping)', { delay_ms: wait });
          return;
        }
        await this.#limit?.acquire(name);
        // A fence may have come while this pass awaited: never start after it.
        if (this.#closed || (this.#ownership && !this.#ownership.owns(name))) {
          this.#limit?.release(name);
          return;
        }
        this.#starts.get(name)!.push(this.#clock.now());
        log.info('starting the DPE', { generation: record.generation });
        await this.#supervisor.start(name).catch((err: unknown) => {
          this.#limit?.release(name);
          throw err;
        });
      } else if (isUp(state)) {
        this.#failedAt.delete(name);
        if (want) await this.#catchUp(name, record.generation, log);
      }
      if (!want && (isUp(state) || (await this.#supervisor.running()).includes(name))) {
        const reason =
          decision !== 'run' ? 'another CPE runs it' : record ? 'stopped' : 'destroyed';
        log.info('stopping the DPE', { reason });
        await this.#supervisor.stop(name);
        this.#starts.delete(name);
      }
      if (decision === 'release') await this.#ownership!.release(name);
    } catch (err) {
      log.error('reconcile failed; retrying', { error: (err as Error).message });
      this.#later(name, this.#policy.baseMs * 5);
    }
  }

  /**
   * Level-triggered on generation: a running DPE that reports an older
   * generation than the store's is told to reload — whatever happened
   * between storing an update and telling the DPE (a crash of the CPE).
   */
  async #catchUp(name: string, stored: number, log: Logger): Promise<void> {
    const report = this.#reported(name);
    const pid = this.#supervisor.pid(name);
    if (!report || report.generation >= stored || (pid !== undefined && report.pid !== pid)) {
      if (report && report.generation >= stored) this.#reloaded.delete(name);
      return;
    }
    const now = this.#clock.now();
    const last = this.#reloaded.get(name);
    if (last && last.generation === stored && now - last.at < RELOAD_AGAIN_MS) {
      this.#later(name, last.at + RELOAD_AGAIN_MS - now);
      return;
    }
    this.#reloaded.set(name, { generation: stored, at: now });
    log.info('the DPE runs an older generation: reloading it', {
      generation: stored,
      dpe_generation: report.generation,
    });
    await this.#supervisor.reload(name);
  }

  /** How long to wait before the next start: 0 for the first in the window. */
  #backoff(name: string): number {
    const now = this.#clock.now();
    const recent = (this.#starts.get(name) ?? []).filter((t) => now - t < this.#policy.windowMs);
    this.#starts.set(name, recent);
    if (recent.length === 0) return 0;
    const delay = Math.min(this.#policy.maxMs, this.#policy.baseMs * 2 ** (recent.length - 1));
    return Math.max(0, recent.at(-1)! + delay - now);
  }

  #later(name: string, ms: number): void {
    if (this.#closed || this.#timers.has(name)) return;
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(name);
      void this.enqueue(name);
    }, ms);
    this.#timers.set(name, timer);
  }
}
