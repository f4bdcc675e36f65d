/**
 * Class `systemd`: units over D-Bus through lib/systemd/manager.ts — a
 * start or stop is a job whose end JobRemoved tells; a unit's state is its
 * ActiveState, read with GetAll and followed through PropertiesChanged
 * while it settles. The manager's two match rules are all this adds to the
 * bus, however many units come and go. The connection is made at the first
 * call and made again after it is lost (systemd restarted, dbus-daemon
 * restarted): an assembly that runs no systemd services needs no D-Bus.
 */
import { OCF } from '../lib/agent/protocol.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { SystemdError, SystemdManager } from '../lib/systemd/manager.js';
import type { ClassDriver, OpAnswer, OpRun } from './driver.js';
import { timedOutAnswer } from './driver.js';

export interface SystemdOptions {
  /** The system bus, unless this names another (a D-Bus address). */
  readonly busAddress?: string;
  /** Shell-style patterns of the units allowed (agent.units); empty: any service not refused below. */
  readonly allowed: readonly string[];
  readonly log: Logger;
}

/** Services only: a caller on the bus must not reach targets (poweroff.target) or mounts. */
const UNIT_NAME = /^[A-Za-z0-9_][A-Za-z0-9@._:+-]{0,200}\.service$/;
const OTHER_UNITS = /\.(target|socket|mount|automount|swap|timer|path|slice|scope|device)$/;
/**
 * Never through the bus, whatever the settings: systemd's and D-Bus's own
 * units (systemd-poweroff.service, …) and the engine's own daemons.
 */
const REFUSED = [
  'systemd-*',
  'dbus.service',
  'dbus-*',
  'cpe.service',
  'cpe-agent.service',
  'dpe@*',
];

/** A shell-style pattern (`*`, `?`) as a regular expression. */
export function globPattern(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** States a unit passes through; a monitor waits for what comes after. */
const SETTLING = new Set(['activating', 'deactivating', 'reloading', 'refreshing']);
const NO_SUCH_UNIT = ['org.freedesktop.systemd1.NoSuchUnit', 'org.freedesktop.systemd1.LoadFailed'];

/** `web` → `web.service`; `web.service` stays as it is. */
export function unitName(type: string): string | undefined {
  if (OTHER_UNITS.test(type)) return undefined;
  const unit = type.endsWith('.service') ? type : `${type}.service`;
  return UNIT_NAME.test(unit) && !unit.includes('..') ? unit : undefined;
}

export class SystemdDriver implements ClassDriver {
  readonly #o: SystemdOptions;
  #manager: Promise<SystemdManager> | undefined;
  /** ActiveState by unit, as PropertiesChanged last told it. */
  readonly #states = new Map<string, string>();
  readonly #waiters = new Set<() => void>();
  readonly #refused = REFUSED.map(globPattern);
  readonly #allowed: RegExp[];

  constructor(o: SystemdOptions) {
    this.#o = o;
    this.#allowed = o.allowed.map(globPattern);
  }

  async run(r: OpRun): Promise<OpAnswer> {
    const unit = unitName(r.spec.type);
    if (!unit) return { rc: OCF.errArgs, text: `type "${r.spec.type}" is not a service unit name` };
    if (this.#refused.some((p) => p.test(unit)))
      return { rc: OCF.errPerm, text: `${unit} is never managed through the bus` };
    if (this.#allowed.length > 0 && !this.#allowed.some((p) => p.test(unit)))
      return { rc: OCF.errPerm, text: `${unit} is not among this assembly's units (agent.units)` };
    const deadline = Date.now() + r.timeoutMs;
    let manager: SystemdManager;
    try {
      manager = await this.#connect();
    } catch (err) {
      return {
        rc: OCF.errInstalled,
        text: `systemd is not reachable over D-Bus: ${errorMessage(err)}`,
      };
    }
    const work = this.#op(manager, r, unit, deadline);
    const timer = new Promise<OpAnswer>((resolve) =>
      setTimeout(
        () => resolve(timedOutAnswer(`${r.op} of ${unit}`, r.timeoutMs)),
        r.timeoutMs,
      ).unref(),
    );
    try {
      return await Promise.race([work, timer]);
    } catch (err) {
      if (err instanceof SystemdError && NO_SUCH_UNIT.includes(err.code))
        return r.op === 'start'
          ? { rc: OCF.errInstalled, text: `${unit} is not installed: ${err.message}` }
          : { rc: OCF.notRunning, text: `${unit} is not installed: not running` };
      return { rc: OCF.errGeneric, text: `${r.op} of ${unit}: ${errorMessage(err)}` };
    }
  }

  async #op(m: SystemdManager, r: OpRun, unit: string, deadline: number): Promise<OpAnswer> {
    if (r.op === 'monitor') return this.#monitor(m, unit, deadline);
    if (r.op === 'start') {
      // A unit that hit its start limit refuses every start until reset.
      await m.resetFailedUnit(unit);
      const result = await m.startUnit(unit);
      const state = await this.#monitor(m, unit, deadline);
      if (result === 'done' && state.rc === OCF.success)
        return { rc: OCF.success, text: `${unit} started` };
      return { rc: OCF.errGeneric, text: `start of ${unit}: job ${result}; ${state.text}` };
    }
    const result = await m.stopUnit(unit);
    const state = await this.#monitor(m, unit, deadline);
    if (state.rc === OCF.notRunning) return { rc: OCF.success, text: `${unit} stopped` };
    return { rc: OCF.errGeneric, text: `stop of ${unit}: job ${result}; ${state.text}` };
  }

  /** 0 active, 7 inactive or failed; a unit on its way somewhere is waited for. */
  async #monitor(m: SystemdManager, unit: string, deadline: number): Promise<OpAnswer> {
    for (;;) {
      const d = await m.unitDetails(unit);
      if (!d) return { rc: OCF.notRunning, text: `${unit} is not loaded (inactive)` };
      this.#states.set(unit, d.activeState);
      const said = `${unit} is ${d.activeState} (${d.subState}${d.result && d.result !== 'success' ? `, result ${d.result}` : ''})`;
      if (d.activeState === 'active') return { rc: OCF.success, text: said };
      if (!SETTLING.has(d.activeState)) return { rc: OCF.notRunning, text: said };
      if (!(await this.#changeOf(unit, d.activeState, deadline)))
        return { rc: OCF.errGeneric, text: `${said} until the time limit`, timedOut: true };
    }
  }

  /** Resolves true when PropertiesChanged tells the unit's state moved on; false at the deadline. */
  #changeOf(unit: string, from: string, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#states.get(unit) === from) return;
        done(true);
      };
      const done = (moved: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(moved);
      };
      // A PropertiesChanged may be missed between GetAll and here: look again now and then.
      const timer = setTimeout(
        () => done(false),
        Math.max(0, Math.min(deadline - Date.now(), 1000)),
      );
      this.#waiters.add(check);
    }).then((moved) => moved || Date.now() < deadline) as Promise<boolean>;
  }

  #connect(): Promise<SystemdManager> {
    if (!this.#manager) {
      const attempt = SystemdManager.connect(this.#o.log, this.#o.busAddress).then((m) => {
        m.onPropertiesChanged((unit, iface, changed) => {
          // Every unit's changes arrive (one match rule for all): keep only the units asked about.
          if (iface !== 'unit' || typeof changed.ActiveState !== 'string') return;
          if (!this.#states.has(unit)) return;
          this.#states.set(unit, changed.ActiveState);
          for (const w of [...this.#waiters]) w();
        });
        m.onLost(() => {
          this.#manager = undefined;
        });
        return m;
      });
      attempt.catch(() => {
        this.#manager = undefined;
      });
      this.#manager = attempt;
    }
    return this.#manager;
  }

  close(): void {
    void this.#manager?.then((m) => m.close()).catch(() => undefined);
    this.#manager = undefined;
  }
}
