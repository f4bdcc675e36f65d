/**
 * DPEs as instances of the `dpe@.service` template, started, stopped and
 * reloaded over D-Bus. Completion comes from JobRemoved, state from
 * PropertiesChanged (systemd restarts a crashed DPE itself, Restart=on-failure;
 * the CPE hears of it and restarts a DPE systemd gave up on).
 */
import { CpeError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { instanceOf, templateInstance } from '../lib/systemd/escape.js';
import type { SystemdManager } from '../lib/systemd/manager.js';
import { isUp, type DpeChange, type DpeState, type DpeSupervisor } from './supervisor.js';

const TEMPLATE = 'dpe';
const STATES = new Set<string>([
  'active',
  'activating',
  'reloading',
  'deactivating',
  'inactive',
  'failed',
]);

function toState(activeState: string): DpeState {
  return (STATES.has(activeState) ? activeState : 'inactive') as DpeState;
}

export class SystemdSupervisor implements DpeSupervisor {
  readonly kind = 'systemd';
  readonly #manager: SystemdManager;
  readonly #log: Logger;
  readonly #states = new Map<string, DpeState>();
  readonly #pids = new Map<string, number>();
  readonly #listeners: ((c: DpeChange) => void)[] = [];

  private constructor(manager: SystemdManager, log: Logger) {
    this.#manager = manager;
    this.#log = log;
    manager.onPropertiesChanged((unit, changed) => {
      const name = instanceOf(TEMPLATE, unit);
      if (name === undefined || typeof changed.ActiveState !== 'string') return;
      // Between a crash and systemd's own restart the unit reads failed/auto-restart:
      // systemd is on it, so the CPE must not start it a second time.
      const state =
        changed.SubState === 'auto-restart' ? 'activating' : toState(changed.ActiveState);
      if (this.#states.get(name) === state) return;
      this.#states.set(name, state);
      void this.#announce(name, unit, state);
    });
  }

  static async create(manager: SystemdManager, log: Logger): Promise<SystemdSupervisor> {
    const supervisor = new SystemdSupervisor(manager, log);
    for (const u of await manager.listUnits([`${TEMPLATE}@*.service`])) {
      const name = instanceOf(TEMPLATE, u.unit);
      if (name !== undefined) supervisor.#states.set(name, toState(u.activeState));
    }
    return supervisor;
  }

  /** Details (pid, why it stopped) are fetched after the state change, then announced. */
  async #announce(name: string, unit: string, state: DpeState): Promise<void> {
    let detail: string | undefined;
    try {
      const d = await this.#manager.unitDetails(unit);
      if (d?.mainPid) this.#pids.set(name, d.mainPid);
      else this.#pids.delete(name);
      if (d && (state === 'failed' || state === 'inactive' || d.subState === 'auto-restart'))
        detail = `${d.result}${d.subState === 'auto-restart' ? ', systemd restarts it' : ''}`;
    } catch (err) {
      this.#log.debug('unit details unavailable', { unit, error: (err as Error).message });
    }
    const change: DpeChange = { name, state, detail, pid: this.#pids.get(name) };
    for (const l of this.#listeners) l(change);
  }

  async start(name: string): Promise<void> {
    const unit = templateInstance(TEMPLATE, name);
    if (this.#states.get(name) === 'failed') await this.#manager.resetFailedUnit(unit);
    const result = await this.#manager.startUnit(unit);
    if (result !== 'done')
      throw new CpeError('SUPERVISOR_FAILED', `systemd could not start ${unit}: job ${result}`);
    this.#states.set(name, 'active');
  }

  async stop(name: string): Promise<void> {
    const unit = templateInstance(TEMPLATE, name);
    const result = await this.#manager.stopUnit(unit);
    if (result !== 'done' && result !== 'canceled')
      throw new CpeError('SUPERVISOR_FAILED', `systemd could not stop ${unit}: job ${result}`);
    this.#states.set(name, 'inactive');
    // A failed instance would stay listed; the deployable is gone, so is its unit.
    await this.#manager.resetFailedUnit(unit);
  }

  async reload(name: string): Promise<void> {
    if (!isUp(this.state(name))) return;
    const result = await this.#manager.reloadUnit(templateInstance(TEMPLATE, name));
    if (result !== 'done')
      this.#log.warn('reload job did not finish', { deployable: name, result });
  }

  state(name: string): DpeState {
    return this.#states.get(name) ?? 'inactive';
  }

  pid(name: string): number | undefined {
    return this.#pids.get(name);
  }

  async running(): Promise<string[]> {
    const units = await this.#manager.listUnits(
      [`${TEMPLATE}@*.service`],
      ['active', 'activating', 'reloading'],
    );
    const names: string[] = [];
    for (const u of units) {
      const name = instanceOf(TEMPLATE, u.unit);
      if (name === undefined) continue;
      this.#states.set(name, toState(u.activeState));
      names.push(name);
    }
    return names;
  }

  onChange(listener: (change: DpeChange) => void): void {
    this.#listeners.push(listener);
  }

  close(): Promise<void> {
    this.#listeners.length = 0;
    this.#manager.close();
    return Promise.resolve();
  }
}
