/**
 * systemd's manager over the system D-Bus, with low-level messages only.
 *
 * dbus-next's proxy objects add a D-Bus match rule per signal listener and
 * (in the unmaintained original) never remove it; a CPE that creates and
 * destroys deployables for months would hit the bus's per-connection limit.
 * So no proxies: two match rules, added once per connection — JobRemoved on
 * the manager, PropertiesChanged under /org/freedesktop/systemd1/unit — and
 * every unit's signals are told apart here. The count stays at two however
 * many units come and go (the systemd integration test checks it).
 */
import { Message, sessionBus, systemBus, type MessageBus } from '@jellybrick/dbus-next';
import { CpeError } from '../errors.js';
import type { Logger } from '../log.js';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT_PREFIX = '/org/freedesktop/systemd1/unit/';
const PROPERTIES = 'org.freedesktop.DBus.Properties';

export const MATCH_RULES = [
  `type='signal',sender='${SYSTEMD}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`,
  `type='signal',sender='${SYSTEMD}',interface='${PROPERTIES}',member='PropertiesChanged',path_namespace='${UNIT_PREFIX.slice(0, -1)}'`,
];

export interface UnitStatus {
  readonly unit: string;
  readonly activeState: string;
  readonly subState: string;
}

export interface UnitDetails extends UnitStatus {
  readonly mainPid: number;
  /** The service's Result: success, exit-code, signal, core-dump, watchdog, … */
  readonly result: string;
  readonly nRestarts: number;
}

/** The object path of a unit, escaped as systemd's bus_label_escape does. */
export function unitPath(unit: string): string {
  let label = '';
  for (const byte of Buffer.from(unit, 'utf8')) {
    const c = String.fromCharCode(byte);
    label += /[A-Za-z0-9]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return UNIT_PREFIX + label;
}

export function unitOfPath(path: string): string | undefined {
  if (!path.startsWith(UNIT_PREFIX)) return undefined;
  const label = path.slice(UNIT_PREFIX.length);
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    if (label[i] === '_' && /^[0-9a-f]{2}$/.test(label.slice(i + 1, i + 3))) {
      bytes.push(parseInt(label.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(label.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

function variantValue(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'value' in v ? v.value : v;
}

function str(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

export class SystemdError extends CpeError {
  override name = 'SystemdError';
}

/**
 * A unit's changed properties: `unit` for org.freedesktop.systemd1.Unit
 * (ActiveState, SubState, Job, …), `service` for …Service (MainPID, Result,
 * ExecMainCode, …). systemd sends the service's before the unit's for the
 * same change, so a unit's state arrives with its service's already known.
 */
export type PropertiesListener = (
  unit: string,
  iface: 'unit' | 'service',
  changed: Record<string, unknown>,
) => void;

const INTERFACES: Record<string, 'unit' | 'service'> = {
  'org.freedesktop.systemd1.Unit': 'unit',
  'org.freedesktop.systemd1.Service': 'service',
};

/** What a DPE supervisor needs of systemd (SystemdManager; a fake in unit tests). */
export interface UnitManager {
  startUnit(unit: string): Promise<string>;
  stopUnit(unit: string): Promise<string>;
  reloadUnit(unit: string): Promise<string>;
  resetFailedUnit(unit: string): Promise<void>;
  listUnits(patterns: readonly string[], states?: readonly string[]): Promise<UnitStatus[]>;
  unitDetails(unit: string): Promise<UnitDetails | null>;
  onPropertiesChanged(listener: PropertiesListener): void;
  close(): void;
}

export class SystemdManager implements UnitManager {
  readonly #log: Logger;
  readonly #bus: MessageBus;
  readonly #jobs = new Map<string, (result: string) => void>();
  /** JobRemoved can overtake the reply that names the job: remember recent results. */
  readonly #finished = new Map<string, string>();
  readonly #listeners: PropertiesListener[] = [];
  readonly #lostListeners: ((err: Error) => void)[] = [];
  #closed = false;
  #lost = false;
  #connected = false;

  private constructor(bus: MessageBus, log: Logger) {
    this.#bus = bus;
    this.#log = log;
    bus.on('message', (msg: Message) => this.#onMessage(msg));
    (bus as unknown as NodeJS.EventEmitter).on('error', (err: Error) => this.#connectionLost(err));
    // The stream's end is told on the connection only (the bus daemon went away).
    (bus as unknown as { _connection: NodeJS.EventEmitter })._connection.on('end', () =>
      this.#connectionLost(new SystemdError('DBUS_LOST', 'the system bus connection ended')),
    );
  }

  /**
   * Called once if the connection to the bus is lost: signals missed while
   * away cannot be had again, so the owner should start over (the CPE exits
   * and systemd restarts it; it adopts its DPEs, which keep running).
   */
  onLost(listener: (err: Error) => void): void {
    this.#lostListeners.push(listener);
  }

  #connectionLost(err: Error): void {
    if (this.#closed || this.#lost) return;
    this.#lost = true;
    // Before connect() has finished, the caller hears of it (auto falls back quietly).
    if (this.#connected) this.#log.error('system D-Bus connection lost', { error: err.message });
    for (const resolve of this.#jobs.values()) resolve('lost');
    this.#jobs.clear();
    for (const l of this.#lostListeners) l(err);
  }

  /**
   * Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS or the standard
   * socket, unless `address` names another) and subscribes.
   */
  static async connect(log: Logger, address?: string, timeoutMs = 10_000): Promise<SystemdManager> {
    const bus = address ? sessionBus({ busAddress: address }) : systemBus();
    const manager = new SystemdManager(bus, log);
    // A bus that cannot be reached says so only as an error event, and one that
    // accepts but never answers says nothing: either way the calls would wait forever.
    let timer: NodeJS.Timeout | undefined;
    const unreachable = new Promise<never>((_, reject) => {
      manager.onLost(reject);
      timer = setTimeout(
        () =>
          reject(
            new SystemdError(
              'DBUS_TIMEOUT',
              `the system bus did not answer within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    unreachable.catch(() => undefined); // a loss after connecting is the owner's to handle
    try {
      await Promise.race([
        (async () => {
          for (const rule of MATCH_RULES)
            await manager.#busCall('org.freedesktop.DBus', 'AddMatch', [rule]);
          await manager.#managerCall('Subscribe', '', []);
        })(),
        unreachable,
      ]);
      clearTimeout(timer);
      manager.#connected = true;
    } catch (err) {
      clearTimeout(timer);
      bus.disconnect();
      throw err;
    }
    return manager;
  }

  onPropertiesChanged(listener: PropertiesListener): void {
    this.#listeners.push(listener);
  }

  /** Queues a start job and waits for its end; returns the job's result ("done", "failed", …). */
  startUnit(unit: string, mode = 'replace'): Promise<string> {
    return this.#job('StartUnit', unit, mode);
  }

  stopUnit(unit: string, mode = 'replace'): Promise<string> {
    return this.#job('StopUnit', unit, mode);
  }

  reloadUnit(unit: string, mode = 'replace'): Promise<string> {
    return this.#job('ReloadUnit', unit, mode);
  }

  async resetFailedUnit(unit: string): Promise<void> {
    try {
      await this.#managerCall('ResetFailedUnit', 's', [unit]);
    } catch (err) {
      if (!(err instanceof SystemdError && err.code === 'org.freedesktop.systemd1.NoSuchUnit'))
        throw err;
    }
  }

  async listUnits(
    patterns: readonly string[],
    states: readonly string[] = [],
  ): Promise<UnitStatus[]> {
    const reply = await this.#managerCall('ListUnitsByPatterns', 'asas', [states, patterns]);
    const rows = (reply?.body[0] ?? []) as unknown[][];
    return rows.map((r) => ({
      unit: String(r[0]),
      activeState: String(r[3]),
      subState: String(r[4]),
    }));
  }

  /** A loaded unit's state; null when systemd has no such unit loaded (i.e. inactive). */
  async unitDetails(unit: string): Promise<UnitDetails | null> {
    const path = unitPath(unit);
    let unitProps: Record<string, unknown>;
    try {
      await this.#managerCall('GetUnit', 's', [unit]);
      unitProps = await this.#getAll(path, 'org.freedesktop.systemd1.Unit');
    } catch (err) {
      if (err instanceof SystemdError && err.code === 'org.freedesktop.systemd1.NoSuchUnit')
        return null;
      throw err;
    }
    const service = await this.#getAll(path, 'org.freedesktop.systemd1.Service').catch(
      (): Record<string, unknown> => ({}),
    );
    return {
      unit,
      activeState: str(unitProps.ActiveState, 'inactive'),
      subState: str(unitProps.SubState, ''),
      mainPid: Number(service.MainPID ?? 0),
      result: str(service.Result, ''),
      nRestarts: Number(service.NRestarts ?? 0),
    };
  }

  /**
   * A connection's match rules as the bus daemon counts them (dbus-daemon's
   * Debug.Stats): this one's, or another's by its unique name.
   */
  async matchRuleCount(connection = this.#bus.name ?? ''): Promise<number> {
    const reply = await this.#busCall('org.freedesktop.DBus.Debug.Stats', 'GetConnectionStats', [
      connection,
    ]);
    const stats = (reply?.body[0] ?? {}) as Record<string, unknown>;
    return Number(variantValue(stats.MatchRules));
  }

  /** The unique names of the connections a process holds on this bus. */
  async connectionsOfPid(pid: number): Promise<string[]> {
    const names = ((await this.#busCall('org.freedesktop.DBus', 'ListNames', []))?.body[0] ??
      []) as string[];
    const out: string[] = [];
    for (const name of names.filter((n) => n.startsWith(':'))) {
      const reply = await this.#busCall('org.freedesktop.DBus', 'GetConnectionUnixProcessID', [
        name,
      ]).catch(() => null); // it may have gone since ListNames
      if (reply?.body[0] === pid) out.push(name);
    }
    return out;
  }

  close(): void {
    this.#closed = true;
    for (const resolve of this.#jobs.values()) resolve('canceled');
    this.#jobs.clear();
    this.#bus.disconnect();
  }

  async #job(method: string, unit: string, mode: string): Promise<string> {
    const reply = await this.#managerCall(method, 'ss', [unit, mode]);
    const job = String(reply?.body[0]);
    const early = this.#finished.get(job);
    if (early !== undefined) {
      this.#finished.delete(job);
      return early;
    }
    return new Promise((resolve) => this.#jobs.set(job, resolve));
  }

  #onMessage(msg: Message): void {
    if (msg.type !== 4 /* SIGNAL */) return;
    if (msg.interface === MANAGER && msg.member === 'JobRemoved') {
      const [, job, , result] = msg.body as [number, string, string, string];
      const waiter = this.#jobs.get(job);
      if (waiter) {
        this.#jobs.delete(job);
        waiter(result);
      } else {
        this.#finished.set(job, result);
        if (this.#finished.size > 1000) this.#finished.delete(this.#finished.keys().next().value!);
      }
    } else if (msg.interface === PROPERTIES && msg.member === 'PropertiesChanged') {
      const unit = unitOfPath(msg.path);
      const [name, changed] = msg.body as [string, Record<string, unknown>];
      const iface = INTERFACES[name];
      if (!unit || !iface) return;
      const values: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(changed)) values[k] = variantValue(v);
      for (const l of this.#listeners) l(unit, iface, values);
    }
  }

  async #getAll(path: string, iface: string): Promise<Record<string, unknown>> {
    const reply = await this.#call(SYSTEMD, path, PROPERTIES, 'GetAll', 's', [iface]);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((reply?.body[0] ?? {}) as Record<string, unknown>))
      out[k] = variantValue(v);
    return out;
  }

  /** A call to the bus daemon itself; every method used takes at most one string. */
  #busCall(iface: string, member: string, args: string[]): Promise<Message | null> {
    const bus = 'org.freedesktop.DBus';
    return this.#call(bus, '/org/freedesktop/DBus', iface, member, 's'.repeat(args.length), args);
  }

  #managerCall(member: string, signature: string, body: unknown[]): Promise<Message | null> {
    return this.#call(SYSTEMD, MANAGER_PATH, MANAGER, member, signature, body);
  }

  async #call(
    destination: string,
    path: string,
    iface: string,
    member: string,
    signature: string,
    body: unknown[],
  ): Promise<Message | null> {
    try {
      return await this.#bus.call(
        new Message({ destination, path, interface: iface, member, signature, body }),
      );
    } catch (err) {
      const e = err as Error & { type?: string; text?: string };
      throw new SystemdError(e.type ?? 'DBUS_FAILED', `${member}: ${e.text ?? e.message}`, {
        cause: err,
      });
    }
  }
}
