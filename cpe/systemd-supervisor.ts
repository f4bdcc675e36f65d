/**
 * DPEs as instances of the `dpe@.service` template, started, stopped and
 * reloaded over D-Bus. Completion comes from JobRemoved, state from
 * PropertiesChanged (systemd restarts a crashed DPE itself, Restart=on-failure;
 * the CPE hears of it and restarts a DPE systemd gave up on).
 */
import { constants } from 'node:os';
import { CpeError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { instanceOf, templateInstance } from '../lib/systemd/escape.js';
import type { UnitManager } from '../lib/systemd/manager.js';
import {
  isUp,
  type DpeChange,
  type DpeState,
  type DpeSupervisor,
  type PrepareDpe,
} from './supervisor.js';

const TEMPLATE = 'dpe';
const STATES = new Set<string>([
  'active',
  'activating',
  'reloading',
  'deactivating',
  'inactive',
  'failed',
]);
/** Signal numbers to names, the first name where there are aliases (ABRT, not IOT). */
const SIGNALS = new Map<number, string>();
for (const [k, v] of Object.entries(constants.signals))
  if (!SIGNALS.has(v)) SIGNALS.set(v, k.slice(3));

function toState(activeState: string): DpeState {
  return (STATES.has(activeState) ? activeState : 'inactive') as DpeState;
}

/** What the service's last process did, as the process supervisor says it: "signal KILL", "exit-code 3". */
export function describeExit(service: Record<string, unknown>): string | undefined {
  const result = typeof service.Result === 'string' ? service.Result : '';
  if (result === '' || result === 'success') return undefined;
  const status = Number(service.ExecMainStatus ?? 0);
  const sig = SIGNALS.get(status) ?? String(status);
  const how = { 1: `exit-code ${status}`, 2: `signal ${sig}`, 3: `core-dump ${sig}` }[
    Number(service.ExecMainCode ?? 0)
  ];
  if (!how) return result;
  return how.startsWith(`${result} `) ? how : `${result} (${how})`;
}

interface Unit {
  state: DpeState;
  pid?: number;
  /** The service's last Result, ExecMainCode, ExecMainStatus. */
  service: Record<string, unknown>;
  /** Seen in auto-restart: systemd has a restart of its own under way. */
  restarting: boolean;
}

export class SystemdSupervisor implements DpeSupervisor {
  readonly kind = 'systemd';
  readonly #manager: UnitManager;
  readonly #log: Logger;
  readonly #units = new Map<string, Unit>();
  readonly #listeners: ((c: DpeChange) => void)[] = [];

  readonly #prepare: PrepareDpe | undefined;

  private constructor(manager: UnitManager, log: Logger, prepare?: PrepareDpe) {
    this.#manager = manager;
    this.#log = log;
    this.#prepare = prepare;
    manager.onPropertiesChanged((unit, iface, changed) => {
      const name = instanceOf(TEMPLATE, unit);
      if (name === undefined) return;
      if (iface === 'service') this.#serviceChanged(name, changed);
      else if (typeof changed.ActiveState === 'string') this.#unitChanged(name, changed);
    });
  }

  static async create(
    manager: UnitManager,
    log: Logger,
    prepare?: PrepareDpe,
  ): Promise<SystemdSupervisor> {
    const supervisor = new SystemdSupervisor(manager, log, prepare);
    for (const u of await manager.listUnits([`${TEMPLATE}@*.service`])) {
      const name = instanceOf(TEMPLATE, u.unit);
      if (name === undefined) continue;
      const unit = supervisor.#unit(name);
      unit.state = toState(u.activeState);
      // Adopted DPEs: their pids, so that status can tell them from impostors.
      if (isUp(unit.state)) unit.pid = (await manager.unitDetails(u.unit))?.mainPid || undefined;
    }
    return supervisor;
  }

  #unit(name: string): Unit {
    let u = this.#units.get(name);
    if (!u) this.#units.set(name, (u = { state: 'inactive', service: {}, restarting: false }));
    return u;
  }

  #serviceChanged(name: string, changed: Record<string, unknown>): void {
    const u = this.#unit(name);
    Object.assign(u.service, changed);
    if (typeof changed.MainPID === 'number') u.pid = changed.MainPID || undefined;
  }

  #unitChanged(name: string, changed: Record<string, unknown>): void {
    const u = this.#unit(name);
    const sub = changed.SubState;
    const job = Array.isArray(changed.Job) ? Number(changed.Job[0]) : 0;
    let state = toState(changed.ActiveState as string);
    // A crashed DPE reads failed, then auto-restart, then (briefly) inactive with
    // systemd's own start job queued: systemd is on it, so the CPE must not start it too.
    if (sub === 'auto-restart') {
      u.restarting = true;
      state = 'activating';
    } else if (u.restarting && !isUp(state) && job !== 0) state = 'activating';
    else u.restarting = false;
    if (u.state !== state) {
      u.state = state;
      const stopped = state === 'failed' || state === 'inactive' || sub === 'auto-restart';
      const exit = stopped ? describeExit(u.service) : undefined;
      const detail = exit && state === 'activating' ? `${exit}, systemd restarts it` : exit;
      const change: DpeChange = { name, state, detail, pid: u.pid };
      for (const l of this.#listeners) l(change);
    }
    // Names come and go for months: an inactive unit is the default, not kept.
    if (state === 'inactive') this.#units.delete(name);
  }

  async start(name: string): Promise<void> {
    const unit = templateInstance(TEMPLATE, name);
    // The unit reads its password with LoadCredential= (dpe@.service).
    this.#prepare?.(name);
    if (this.state(name) === 'failed') await this.#manager.resetFailedUnit(unit);
    const result = await this.#manager.startUnit(unit);
    if (result !== 'done')
      throw new CpeError('SUPERVISOR_FAILED', `systemd could not start ${unit}: job ${result}`);
    this.#unit(name).state = 'active';
  }

  async stop(name: string): Promise<void> {
    const unit = templateInstance(TEMPLATE, name);
    const result = await this.#manager.stopUnit(unit);
    if (result !== 'done' && result !== 'canceled')
      throw new CpeError('SUPERVISOR_FAILED', `systemd could not stop ${unit}: job ${result}`);
    this.#units.delete(name);
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
    return this.#units.get(name)?.state ?? 'inactive';
  }

  pid(name: string): number | undefined {
    return this.#units.get(name)?.pid;
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
      this.#unit(name).state = toState(u.activeState);
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
