/**
 * Carries plans out; never decides. Each action runs through a table of
 * action functions keyed by type (the DPE's real one, or the simulator's),
 * after the actions it waits for, at most once at a time per id, under a
 * timeout. Results become observations inside the action functions; the
 * executor only says when something ended, so the next pass can look again.
 *
 * A new plan replaces the actions not yet started, except those waiting on
 * an action still running that the new plan does not touch: a plan made
 * while a service restarts cannot know to restart its dependants after it.
 */
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Action, ActionType, InFlightAction, Plan } from '../pe/index.js';

export interface ActionResult {
  readonly ok: boolean;
  readonly detail: string;
}

export interface ActionContext {
  readonly startedAt: number;
  /** False once the executor has given up on the action: a late outcome must not be recorded. */
  readonly live: () => boolean;
  readonly log: Logger;
}

export interface ActionHandler {
  run(action: Action, ctx: ActionContext): Promise<ActionResult>;
  /** Records what an action that timed out leaves behind (a state now unknown). */
  timedOut?(action: Action): void;
}

export type ExecutableType = Exclude<ActionType, 'blocked'>;
export type ActionTable = Readonly<Record<ExecutableType, ActionHandler>>;

export type ActionPhase = 'started' | 'finished' | 'failed';

export interface ExecutorOptions {
  readonly table: ActionTable;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timeoutOf: (action: Action) => number;
  readonly onPhase?: (phase: ActionPhase, action: Action, detail: string, ms: number) => void;
  /** An action ended (or timed out): the state changed, look again. */
  readonly onSettled?: () => void;
}

interface Running {
  readonly action: Action;
  readonly startedAt: number;
  readonly timer: Timer;
}

/**
 * Types whose ids name their incident (a failure time, an epoch, a missed
 * beat): the same id again is the same cause, already dealt with. start,
 * stop and move ids name only what and where, and may rightly come back.
 */
const INCIDENT_IDS: ReadonlySet<ActionType> = new Set([
  'restart',
  'probe',
  'recover-assembly',
  'fence-assembly',
  'escalate',
  'notify',
]);

/** Ids remembered as finished: dependencies, and incidents not to act on twice. */
const REMEMBERED = 4096;

export class Executor {
  readonly #o: ExecutorOptions;
  readonly #running = new Map<string, Running>();
  #pending = new Map<string, Action>();
  readonly #done = new Map<string, boolean>();
  #blocked: readonly Action[] = [];
  #closed = false;

  constructor(options: ExecutorOptions) {
    this.#o = options;
  }

  /** Takes the latest plan: starts what is ready, holds what waits. */
  submit(plan: Plan): void {
    if (this.#closed) return;
    this.#blocked = plan.actions.filter((a) => a.type === 'blocked');
    const next = new Map<string, Action>();
    const touched = new Set<string>();
    for (const a of plan.actions) {
      if (a.type === 'blocked') continue;
      touched.add(keyOf(a));
      if (this.#running.has(a.id)) continue;
      if (INCIDENT_IDS.has(a.type) && this.#done.get(a.id) === true) continue; // done once

      next.set(a.id, a);
    }
    for (const old of this.#pending.values()) {
      if (next.has(old.id) || touched.has(keyOf(old))) continue;
      if (old.after.some((d) => this.#running.has(d) || next.has(d))) next.set(old.id, old);
    }
    this.#pending = next;
    this.#startReady();
  }

  /** What runs now, as the planner reads it. */
  inFlight(): InFlightAction[] {
    return [...this.#running.values()]
      .map(({ action: a, startedAt }) => {
        const assembly = a.assembly ?? a.from; // a move is in flight on the assembly it leaves
        return {
          id: a.id,
          type: a.type,
          ...(a.service === undefined ? {} : { service: a.service }),
          ...(assembly === undefined ? {} : { assembly }),
          ...(a.to === undefined ? {} : { to: a.to }),
          startedAt,
        };
      })
      .sort((x, y) => (x.id < y.id ? -1 : 1));
  }

  running(): readonly Action[] {
    return [...this.#running.values()].map((r) => r.action);
  }

  pending(): readonly Action[] {
    return [...this.#pending.values()];
  }

  blocked(): readonly Action[] {
    return this.#blocked;
  }

  /** Nothing running and nothing waiting. */
  get idle(): boolean {
    return this.#running.size === 0 && this.#pending.size === 0;
  }

  /** Running actions' late outcomes are ignored from now on. */
  close(): void {
    this.#closed = true;
    for (const r of this.#running.values()) r.timer.cancel();
    this.#running.clear();
    this.#pending.clear();
  }

  #startReady(): void {
    for (let progress = true; progress && !this.#closed;) {
      progress = false;
      for (const a of [...this.#pending.values()]) {
        const state = this.#dependencies(a);
        if (state === 'wait') continue;
        this.#pending.delete(a.id);
        progress = true;
        if (state === 'failed') {
          this.#o.log.info('action dropped: what it waited for failed', { action: a.id });
          continue;
        }
        this.#start(a);
      }
    }
  }

  #dependencies(a: Action): 'ready' | 'wait' | 'failed' {
    for (const d of a.after) {
      if (this.#running.has(d) || this.#pending.has(d)) return 'wait';
      if (this.#done.get(d) === false) return 'failed';
    }
    return 'ready';
  }

  #start(action: Action): void {
    const { clock } = this.#o;
    const startedAt = clock.now();
    const timeoutMs = this.#o.timeoutOf(action);
    const log = this.#o.log.child({ action: action.id });
    const timer = clock.setTimeout(() => this.#timeout(action.id, timeoutMs), timeoutMs);
    this.#running.set(action.id, { action, startedAt, timer });
    this.#o.onPhase?.('started', action, action.reason, 0);
    const live = (): boolean => this.#running.get(action.id)?.timer === timer;
    let outcome: Promise<ActionResult>;
    try {
      outcome = this.#o.table[action.type as ExecutableType].run(action, { startedAt, live, log });
    } catch (err) {
      outcome = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    outcome.then(
      (result) => this.#finish(action.id, timer, result),
      (err: unknown) => this.#finish(action.id, timer, { ok: false, detail: errorMessage(err) }),
    );
  }

  #finish(id: string, timer: Timer, result: ActionResult): void {
    const r = this.#running.get(id);
    if (!r || r.timer !== timer) return; // timed out already, or closed
    timer.cancel();
    this.#settle(r, result);
  }

  #timeout(id: string, timeoutMs: number): void {
    const r = this.#running.get(id);
    if (!r) return;
    this.#o.table[r.action.type as ExecutableType].timedOut?.(r.action);
    this.#settle(r, { ok: false, detail: `timed out after ${timeoutMs} ms` });
  }

  #settle(r: Running, result: ActionResult): void {
    this.#running.delete(r.action.id);
    this.#remember(r.action.id, result.ok);
    const ms = this.#o.clock.now() - r.startedAt;
    this.#o.onPhase?.(result.ok ? 'finished' : 'failed', r.action, result.detail, ms);
    this.#startReady();
    this.#o.onSettled?.();
  }

  #remember(id: string, ok: boolean): void {
    this.#done.delete(id);
    this.#done.set(id, ok);
    if (this.#done.size > REMEMBERED) {
      const oldest = this.#done.keys().next().value;
      if (oldest !== undefined) this.#done.delete(oldest);
    }
  }
}

/** What two actions must not both do: act on one service, or on one assembly as a whole. */
function keyOf(a: Action): string {
  return a.service !== undefined ? `s:${a.service}` : `a:${a.assembly ?? ''}:${a.type}`;
}
