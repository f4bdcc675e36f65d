/**
 * A simulated assembly: an agent that "runs" services in memory, beats, and
 * takes faults. Pure state and answers; whoever drives it decides how time
 * passes (real timers in `cpe-agent --simulate`, a virtual clock in
 * `cpectl simulate --run`), so both behave the same way.
 */
import { OCF, type Inventory, type ServiceOp } from '../agent/protocol.js';

type SimState = 'running' | 'stopped' | 'failed';

interface SimService {
  state: SimState;
  /** once: the next monitor finds it crashed; always: it fails every start and monitor. */
  fail: 'once' | 'always' | null;
  hang: boolean;
  /** Starts asked of it: a test can tell "kept running" from "started again". */
  starts: number;
}

/** An answer, or no answer at all (a hung monitor, a partitioned agent). */
export type SimAnswer =
  | {
      readonly kind: 'answer';
      readonly rc: number;
      readonly text: string;
      readonly delayMs: number;
    }
  | { readonly kind: 'hang' };

export interface SimServiceState {
  readonly resource: string;
  readonly state: SimState;
  readonly fault: string | null;
  readonly starts: number;
}

export interface SimOptions {
  /** A new session id at every (re)start: epochs must differ, and may be deterministic. */
  readonly newEpoch: () => string;
  /** How long each operation takes, before any slow-down. */
  readonly opMs?: Readonly<Partial<Record<ServiceOp, number>>>;
}

const DEFAULT_OP_MS: Readonly<Record<ServiceOp, number>> = { start: 0, stop: 0, monitor: 0 };

export class SimAssembly {
  readonly #services = new Map<string, SimService>();
  readonly #newEpoch: () => string;
  readonly #opMs: Readonly<Record<ServiceOp, number>>;
  #epoch: string;
  #sequence = 0;
  heartbeating = true;
  partitioned = false;
  /** Powered off (fenced): silent, answers nothing, runs nothing. */
  off = false;
  delayMs = 0;

  constructor(
    readonly name: string,
    options: SimOptions,
  ) {
    this.#newEpoch = options.newEpoch;
    this.#opMs = { ...DEFAULT_OP_MS, ...options.opMs };
    this.#epoch = this.#newEpoch();
  }

  get epoch(): string {
    return this.#epoch;
  }

  /** The next heartbeat's sequence, or null when it would not reach anyone. */
  beat(): number | null {
    if (!this.heartbeating || this.partitioned || this.off) return null;
    this.#sequence += 1;
    return this.#sequence;
  }

  get reachable(): boolean {
    return !this.partitioned && !this.off;
  }

  /** Marks a service as running here already (a simulation's starting state). */
  seed(resource: string, state: SimState): void {
    this.#service(resource).state = state;
  }

  op(op: ServiceOp, resource: string): SimAnswer {
    if (!this.reachable) return { kind: 'hang' };
    const s = this.#service(resource);
    const answer = (rc: number, text: string): SimAnswer => ({
      kind: 'answer',
      rc,
      text,
      delayMs: this.#opMs[op] + this.delayMs,
    });
    switch (op) {
      case 'start':
        s.starts += 1;
        if (s.fail === 'always') {
          s.state = 'failed';
          return answer(OCF.errGeneric, 'simulated start failure (fails for good)');
        }
        s.state = 'running';
        return answer(OCF.success, 'started');
      case 'stop':
        s.state = 'stopped';
        return answer(OCF.success, 'stopped');
      case 'monitor':
        if (s.hang) return { kind: 'hang' };
        if (s.state === 'running' && s.fail === 'once') {
          s.fail = null;
          s.state = 'stopped';
          return answer(OCF.notRunning, 'not running (simulated crash)');
        }
        if (s.state === 'running' && s.fail === 'always') {
          s.state = 'failed';
          return answer(OCF.errGeneric, 'simulated failure (fails for good)');
        }
        return s.state === 'running'
          ? answer(OCF.success, 'running')
          : s.state === 'stopped'
            ? answer(OCF.notRunning, 'not running')
            : answer(OCF.errGeneric, 'failed');
    }
  }

  /** What it manages, each with its monitor result; hung monitors are left out of the wait. */
  inventory(): Inventory | null {
    if (!this.reachable) return null;
    return {
      epoch: this.#epoch,
      services: [...this.#services]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([resource, s]) => ({
          resource,
          rc:
            s.state === 'running'
              ? OCF.success
              : s.state === 'stopped'
                ? OCF.notRunning
                : OCF.errGeneric,
        })),
    };
  }

  get inventoryDelayMs(): number {
    return this.#opMs.monitor + this.delayMs;
  }

  // --- faults ------------------------------------------------------------------------

  fail(resource: string, mode: 'once' | 'always' | 'clear'): void {
    this.#service(resource).fail = mode === 'clear' ? null : mode;
  }

  hang(resource: string, enabled: boolean): void {
    this.#service(resource).hang = enabled;
  }

  /** The agent restarts: a new session; services keep running (as units survive their agent). */
  restart(): void {
    this.#epoch = this.#newEpoch();
    this.#sequence = 0;
  }

  /** Fenced: powered off; everything it ran is stopped. */
  powerOff(): void {
    this.off = true;
    for (const s of this.#services.values()) s.state = 'stopped';
  }

  /** Recovered: booted afresh, a new session, nothing running, faults cleared. */
  reboot(): void {
    this.off = false;
    this.partitioned = false;
    this.heartbeating = true;
    this.delayMs = 0;
    for (const s of this.#services.values()) {
      s.state = 'stopped';
      s.hang = false;
      if (s.fail === 'once') s.fail = null;
    }
    this.restart();
  }

  services(): SimServiceState[] {
    return [...this.#services]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([resource, s]) => ({
        resource,
        state: s.state,
        fault:
          [s.fail === null ? '' : `fail ${s.fail}`, s.hang ? 'monitor hangs' : '']
            .filter(Boolean)
            .join(', ') || null,
        starts: s.starts,
      }));
  }

  #service(resource: string): SimService {
    let s = this.#services.get(resource);
    if (!s) {
      s = { state: 'stopped', fail: null, hang: false, starts: 0 };
      this.#services.set(resource, s);
    }
    return s;
  }
}
