/**
 * A small fake of systemd's manager (the UnitManager port) for unit tests:
 * jobs finish at once, and property changes are signalled in the order
 * systemd 252 sends them (the service's before the unit's; a crash under
 * Restart=on-failure as failed, auto-restart, inactive with the restart job
 * queued, active), as recorded from the real one in the sandbox.
 */
import type {
  PropertiesListener,
  UnitDetails,
  UnitManager,
  UnitStatus,
} from '../../lib/systemd/manager.js';

interface FakeUnit {
  active: string;
  sub: string;
  pid: number;
  result: string;
  nRestarts: number;
}

export class FakeSystemd implements UnitManager {
  readonly calls: string[] = [];
  readonly units = new Map<string, FakeUnit>();
  /** What the next jobs end with. */
  jobResult = 'done';
  #listeners: PropertiesListener[] = [];
  #pid = 100;
  #job = 1;

  /** A unit that runs already (started before the CPE came up). */
  running(unit: string): number {
    const pid = this.#pid++;
    this.units.set(unit, {
      active: 'active',
      sub: 'running',
      pid,
      result: 'success',
      nRestarts: 0,
    });
    return pid;
  }

  onPropertiesChanged(listener: PropertiesListener): void {
    this.#listeners.push(listener);
  }

  #signal(
    unit: string,
    active: string,
    sub: string,
    job: number,
    service?: Record<string, unknown>,
  ): void {
    const u = this.units.get(unit) ?? {
      active,
      sub,
      pid: 0,
      result: 'success',
      nRestarts: 0,
    };
    Object.assign(u, { active, sub });
    if (service) {
      if (typeof service.MainPID === 'number') u.pid = service.MainPID;
      if (typeof service.Result === 'string') u.result = service.Result;
      for (const l of this.#listeners) l(unit, 'service', service);
    }
    this.units.set(unit, u);
    const path = job ? `/org/freedesktop/systemd1/job/${job}` : '/';
    for (const l of this.#listeners)
      l(unit, 'unit', { ActiveState: active, SubState: sub, Job: [job, path] });
  }

  #up(unit: string, job: number): void {
    const pid = this.#pid++;
    this.#signal(unit, 'activating', 'start', job, {
      MainPID: pid,
      Result: 'success',
      ExecMainCode: 0,
      ExecMainStatus: 0,
    });
    this.#signal(unit, 'active', 'running', job);
    this.#signal(unit, 'active', 'running', 0);
  }

  startUnit(unit: string): Promise<string> {
    this.calls.push(`StartUnit ${unit}`);
    if (this.jobResult !== 'done') return Promise.resolve(this.jobResult);
    if (this.units.get(unit)?.active !== 'active') this.#up(unit, this.#job++);
    return Promise.resolve('done');
  }

  stopUnit(unit: string): Promise<string> {
    this.calls.push(`StopUnit ${unit}`);
    const job = this.#job++;
    if (this.units.get(unit)?.active === 'active') {
      this.#signal(unit, 'deactivating', 'stop-sigterm', job);
      this.#signal(unit, 'inactive', 'dead', job, { MainPID: 0, Result: 'success' });
      this.#signal(unit, 'inactive', 'dead', 0);
    }
    return Promise.resolve(this.jobResult);
  }

  reloadUnit(unit: string): Promise<string> {
    this.calls.push(`ReloadUnit ${unit}`);
    return Promise.resolve(this.jobResult);
  }

  resetFailedUnit(unit: string): Promise<void> {
    this.calls.push(`ResetFailedUnit ${unit}`);
    return Promise.resolve();
  }

  /** The main process dies of `signal` (a number); systemd restarts it unless `giveUp`. */
  crash(unit: string, signal = 9, giveUp = false): void {
    const died = { MainPID: 0, Result: 'signal', ExecMainCode: 2, ExecMainStatus: signal };
    this.#signal(unit, 'failed', 'failed', 0, died);
    if (giveUp) return;
    this.#signal(unit, 'activating', 'auto-restart', 0, died);
    const job = this.#job++;
    this.units.get(unit)!.nRestarts++;
    this.#signal(unit, 'activating', 'auto-restart', job, died);
    this.#signal(unit, 'inactive', 'dead', job, {
      MainPID: this.#pid,
      Result: 'success',
      ExecMainCode: 0,
      ExecMainStatus: 0,
    });
    this.#up(unit, job);
  }

  listUnits(patterns: readonly string[], states: readonly string[] = []): Promise<UnitStatus[]> {
    const globs = patterns.map(
      (p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`),
    );
    const out: UnitStatus[] = [];
    for (const [unit, u] of this.units)
      if (globs.some((g) => g.test(unit)) && (states.length === 0 || states.includes(u.active)))
        out.push({ unit, activeState: u.active, subState: u.sub });
    return Promise.resolve(out);
  }

  unitDetails(unit: string): Promise<UnitDetails | null> {
    const u = this.units.get(unit);
    return Promise.resolve(
      u
        ? {
            unit,
            activeState: u.active,
            subState: u.sub,
            mainPid: u.pid,
            result: u.result,
            nRestarts: u.nRestarts,
          }
        : null,
    );
  }

  close(): void {
    this.calls.push('close');
  }
}
