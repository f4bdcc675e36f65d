/**
 * The CPE's management API: the QMF object `cpe` (schemas/cpe-api.md).
 * Every call is idempotent and validates before it stores anything: a
 * refused call leaves no trace, an answered one is on disk.
 */
import { SerialByKey } from '../lib/serial.js';
import { randomId } from '../lib/random-id.js';
import { DPE_OBJECT, dpeNode } from '../lib/addresses.js';
import type { MethodClient } from '../lib/bus/client.js';
import { speaksFor } from '../lib/bus/identity.js';
import {
  Malformed,
  parseEventBody,
  type BusEvent,
  type QmfMap,
  type Severity,
} from '../lib/bus/qmf.js';
import type { ObjectMethods } from '../lib/bus/server.js';
import {
  formatIssue,
  loadDeployableConfig,
  parseDeployableConfig,
  readConfigText,
} from '../lib/config/index.js';
import { join } from 'node:path';
import { failpoint } from '../lib/failpoint.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { checkRecoveryCommands } from '../lib/recovery.js';
import { EVENT_FILTERS, parseEventQuery } from '../lib/events/filter.js';
import type { DpeWatch } from './dpe-watch.js';
import type { EventPipeline } from './event-pipeline.js';
import { eventQmf, queryEvents } from './event-query.js';
import type { Reconciler } from './reconcile.js';
import {
  hashConfig,
  STORE_CONFLICT,
  type DeployableRecord,
  type DeployableStore,
} from './store.js';
import type { Cluster } from './cluster.js';
import { isUp, type DpeState, type DpeSupervisor } from './supervisor.js';

/** How often a change is tried when other CPEs keep writing the same deployable. */
const CHANGE_ATTEMPTS = 5;

export const ApiCode = {
  unknownDeployable: 'UNKNOWN_DEPLOYABLE',
  exists: 'DEPLOYABLE_EXISTS',
  nameMismatch: 'NAME_MISMATCH',
} as const;

/** How long deployable_status waits for the DPE's own account. */
const DPE_STATUS_TIMEOUT_MS = 2000;

/** Events per events_submit call at most. */
const MAX_SUBMIT = 1000;

/** rc values of the original API (errno-style). */
export const RC = { ok: 0, noSuchDeployable: 2, invalid: 22 } as const;

const NAME = { type: 'string', pattern: /^[A-Za-z0-9._-]{1,64}$/ } as const;
/** Its size is the config loader's to judge (CONFIG_TOO_LARGE, in bytes); the message limit bounds it. */
const CONFIG = { type: 'string' } as const;
const UUID = { type: 'string', maxLength: 64 } as const;
/** The original's monitor: active, passive, or its monitoring unit template (a name). */
const MONITOR = { ...NAME, optional: true } as const;
/** A uuid that can name a file in the hand-off directory and nothing outside it. */
const HANDOFF_UUID = /^[A-Za-z0-9_][A-Za-z0-9._:-]{0,63}$/;

export interface CpeApiDeps {
  /** Asks running DPEs for their status. */
  readonly dpes: MethodClient;
  readonly recoveryCommands: readonly string[];
  readonly store: DeployableStore;
  readonly reconciler: Reconciler;
  readonly supervisor: DpeSupervisor;
  readonly watch: DpeWatch;
  /** In a cluster: the member that runs a deployable's DPE (cluster.ts). */
  readonly cluster?: Pick<Cluster, 'member' | 'ownerOf'>;
  readonly events: EventPipeline;
  /** events_submit only from the DPE it names (its bus checks who sends: the embedded router's authorization). */
  readonly requireIdentity?: boolean;
  /**
   * The original's config hand-off: deployable_start of an unknown name reads
   * DIR/UUID.xml, as pcloudsh wrote it (default /var/run); empty: off.
   */
  readonly handoffDir?: string;
  /** Who this CPE is (cpe_info): a second CPE on the bus finds the first by it. */
  readonly info?: () => QmfMap;
  readonly log: Logger;
  readonly now?: () => number;
}

export class CpeApi {
  readonly #d: CpeApiDeps;
  /** Changes to one deployable are applied one at a time. */
  readonly #serial = new SerialByKey();

  constructor(deps: CpeApiDeps) {
    this.#d = deps;
  }

  /** The CPE's own event: stored in the event log, then published. */
  event(name: string, severity: Severity, values: QmfMap): void {
    const event = {
      name,
      severity,
      timestamp: (this.#d.now ?? Date.now)(),
      values: { id: randomId(), ...values },
    };
    // What it tells of has happened; if the store fails, only its record is lost.
    this.#d.events.submit([event], 'cpe').catch((err: unknown) => {
      this.#d.log.error('an event could not be stored', { event: name, error: errorMessage(err) });
    });
  }

  /** A DPE's events (events_submit): stored before the answer, so an answered batch is kept. */
  async submitEvents(source: string, list: readonly unknown[]): Promise<QmfMap> {
    const events: BusEvent[] = [];
    const refused: string[] = [];
    for (const [i, item] of list.entries()) {
      const e = parseEventBody(item);
      if (e instanceof Malformed) refused.push(`event ${i}: ${e.reason}`);
      else events.push(e);
    }
    const r = await this.#d.events.submit(events, source);
    return { accepted: r.accepted, duplicates: r.duplicates, refused: [...refused, ...r.refused] };
  }

  async queryEvents(args: QmfMap): Promise<QmfMap> {
    const q = parseEventQuery(args, (this.#d.now ?? Date.now)());
    const a = await queryEvents(this.#d.events, q);
    return { events: a.events.map(eventQmf), next_cursor: a.nextCursor, last_seq: a.lastSeq };
  }

  async #checkConfig(name: string, xml: string): Promise<{ uuid: string }> {
    // A refused config throws ConfigError: its code and first issue become the _exception.
    const parsed = await loadDeployableConfig(xml, { file: `${name}.xml` });
    if (parsed.config.name !== name)
      throw new CpeError(
        ApiCode.nameMismatch,
        `the config names deployable "${parsed.config.name}", not "${name}"`,
      );
    checkRecoveryCommands(parsed.config, this.#d.recoveryCommands);
    return { uuid: parsed.config.uuid };
  }

  /**
   * A read-modify-write of one deployable: one at a time here, and read
   * again when another CPE of a cluster wrote it in between (STORE_CONFLICT).
   */
  async #change<T>(name: string, work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#serial.run(name, work);
      } catch (err) {
        if (
          !(err instanceof CpeError && err.code === STORE_CONFLICT) ||
          attempt === CHANGE_ATTEMPTS
        )
          throw err;
      }
    }
  }

  async #require(name: string): Promise<DeployableRecord> {
    const record = await this.#d.store.get(name);
    if (!record) throw new CpeError(ApiCode.unknownDeployable, `no deployable named "${name}"`);
    return record;
  }

  create(name: string, xml: string): Promise<QmfMap> {
    return this.#change(name, async () => {
      const hash = hashConfig(xml);
      const existing = await this.#d.store.get(name);
      if (existing) {
        if (existing.configHash === hash)
          return { name, uuid: existing.uuid, generation: existing.generation, created: false };
        throw new CpeError(
          ApiCode.exists,
          `deployable "${name}" exists with a different config: use deployable_update`,
        );
      }
      const { uuid } = await this.#checkConfig(name, xml);
      await this.#storeNew(name, uuid, xml);
      return { name, uuid, generation: 1, created: true };
    });
  }

  /** A checked config, stored as a new deployable that runs (its DPE started after). */
  async #storeNew(name: string, uuid: string, xml: string): Promise<void> {
    const now = Date.now();
    const record: DeployableRecord = {
      name,
      uuid,
      config: xml,
      configHash: hashConfig(xml),
      desired: 'running',
      generation: 1,
      createdAt: now,
      updatedAt: now,
    };
    await this.#d.store.put(record, null);
    this.event('deployable_created', 'notice', { deployable: name, uuid, generation: 1 });
    void this.#d.reconciler.enqueue(name);
  }

  update(name: string, xml: string): Promise<QmfMap> {
    return this.#change(name, async () => {
      const existing = await this.#require(name);
      const hash = hashConfig(xml);
      if (existing.configHash === hash)
        return { name, uuid: existing.uuid, generation: existing.generation, changed: false };
      const { uuid } = await this.#checkConfig(name, xml);
      const generation = existing.generation + 1;
      await this.#d.store.put(
        { ...existing, uuid, config: xml, configHash: hash, generation, updatedAt: Date.now() },
        existing,
      );
      this.event('deployable_config_changed', 'notice', { deployable: name, uuid, generation });
      failpoint('update-stored');
      // The reconciler sees the DPE behind the stored generation and reloads it.
      await this.#d.reconciler.enqueue(name);
      return { name, uuid, generation, changed: true };
    });
  }

  destroy(name: string): Promise<QmfMap> {
    return this.#change(name, async () => {
      const existing = await this.#d.store.get(name);
      if (!existing) return { name, destroyed: false };
      await this.#d.store.remove(existing);
      await this.#d.reconciler.enqueue(name); // answers once the DPE is gone
      this.#d.watch.forget(name);
      this.event('deployable_destroyed', 'notice', { deployable: name, uuid: existing.uuid });
      return { name, destroyed: true };
    });
  }

  async list(): Promise<QmfMap> {
    const records = await this.#d.store.list();
    return {
      deployables: records.map((r) => {
        const report = this.#d.watch.report(r.name);
        const summary = report?.summary;
        return {
          name: r.name,
          uuid: r.uuid,
          desired: r.desired,
          generation: r.generation,
          dpe_state: this.#dpeState(r.name),
          ...this.#owner(r.name),
          dpe_ready: this.#ready(r.name, r.generation),
          // From the DPE's last beat: no call to each DPE.
          state: summary?.state ?? null,
          assemblies_up: summary?.assemblies_up ?? null,
          assemblies: summary?.assemblies ?? null,
          services_running: summary?.services_running ?? null,
          services: summary?.services ?? null,
        };
      }),
    };
  }

  /** Ready: the supervisor runs it, and that very process beats on the stored generation. */
  #ready(name: string, generation: number): boolean {
    if (!this.#local(name)) return this.#d.watch.isReady(name, generation);
    const state = this.#d.supervisor.state(name);
    const pid = this.#d.supervisor.pid(name);
    const report = this.#d.watch.report(name);
    return (
      isUp(state) &&
      this.#d.watch.isReady(name, generation) &&
      (pid === undefined || report?.pid === pid)
    );
  }

  /** Whether this CPE runs the DPE of `name`: always on one host; its owner's in a cluster. */
  #local(name: string): boolean {
    const c = this.#d.cluster;
    return !c || c.ownerOf(name) === c.member;
  }

  /** Another CPE's DPE is seen only by its beats: active while it beats on time. */
  #dpeState(name: string): DpeState {
    if (this.#local(name)) return this.#d.supervisor.state(name);
    const report = this.#d.watch.report(name);
    return report && this.#d.watch.isReady(name, report.generation) ? 'active' : 'inactive';
  }

  /** In a cluster, the member that runs it (null: none yet). */
  #owner(name: string): QmfMap {
    return this.#d.cluster ? { owner: this.#d.cluster.ownerOf(name) } : {};
  }

  async status(name: string): Promise<QmfMap> {
    const r = await this.#require(name);
    const report = this.#d.watch.report(name);
    const state = this.#dpeState(name);
    const pid = this.#local(name) ? this.#d.supervisor.pid(name) : undefined;
    const ready = this.#ready(name, r.generation);
    return {
      name,
      uuid: r.uuid,
      desired: r.desired,
      generation: r.generation,
      supervisor: this.#d.supervisor.kind,
      ...this.#owner(name),
      dpe_state: state,
      dpe_pid: pid ?? report?.pid ?? null,
      dpe_ready: ready,
      dpe_generation: report?.generation ?? null,
      dpe_last_heartbeat: report ? new Date(report.at) : null,
      updated: new Date(r.updatedAt),
      ...(await this.#dpeStatus(name, isUp(state) && report !== undefined)),
    };
  }

  /** Every deployable's status, asked of their DPEs at once. */
  async statusAll(): Promise<QmfMap[]> {
    const records = await this.#d.store.list();
    const all = await Promise.all(
      records.map((r) =>
        this.status(r.name).catch((err: unknown) => {
          // Destroyed meanwhile: not listed.
          if (err instanceof CpeError && err.code === ApiCode.unknownDeployable) return null;
          throw err;
        }),
      ),
    );
    return all.filter((s): s is QmfMap => s !== null);
  }

  /** What the DPE says of the deployable (its assemblies and services), when it can be asked. */
  async #dpeStatus(name: string, running: boolean): Promise<QmfMap> {
    const none = (why: string): QmfMap => ({
      state: null,
      state_reason: why,
      assemblies: null,
      services: null,
      in_flight: null,
    });
    if (!running) return none('the DPE is not running');
    try {
      const s = await this.#d.dpes.call(
        { address: dpeNode(name), object: DPE_OBJECT },
        'status',
        {},
        DPE_STATUS_TIMEOUT_MS,
      );
      return {
        state: s.state ?? null,
        state_reason: s.reason ?? null,
        assemblies: s.assemblies ?? null,
        services: s.services ?? null,
        in_flight: s.in_flight ?? null,
      };
    } catch (err) {
      return none(`the DPE did not answer: ${errorMessage(err)}`);
    }
  }

  async config(name: string): Promise<QmfMap> {
    const r = await this.#require(name);
    return { name, uuid: r.uuid, config: r.config, generation: r.generation, desired: r.desired };
  }

  /**
   * The original API's start/stop: desired state by name and uuid, answered
   * with an rc. A start of a name not stored takes the original's hand-off.
   */
  setDesired(
    name: string,
    uuid: string,
    desired: 'running' | 'stopped',
    monitor?: string,
  ): Promise<QmfMap> {
    return this.#change(name, async (): Promise<QmfMap> => {
      const r = await this.#d.store.get(name);
      if (!r)
        return desired === 'running' ? this.#handoff(name, uuid) : { rc: RC.noSuchDeployable };
      if (r.uuid !== uuid)
        return { rc: RC.invalid, reason: `uuid ${uuid} is not this deployable's` };
      if (
        desired === 'running' &&
        monitor !== undefined &&
        !(await this.#monitorMatches(r, monitor))
      )
        return { rc: RC.invalid, reason: `the config sets monitor differently from ${monitor}` };
      if (r.desired !== desired) {
        await this.#d.store.put(
          { ...r, desired, generation: r.generation + 1, updatedAt: Date.now() },
          r,
        );
        this.event(desired === 'running' ? 'deployable_started' : 'deployable_stopped', 'notice', {
          deployable: name,
          uuid,
        });
      }
      await this.#d.reconciler.enqueue(name);
      return { rc: RC.ok };
    });
  }

  /**
   * `active` or `passive` must be the config's mode. Another name is the
   * original's monitoring unit template: every DPE here is dpe@NAME, so it
   * chooses nothing, but it must not contradict one the config names.
   */
  async #monitorMatches(r: DeployableRecord, monitor: string): Promise<boolean> {
    // Stored, so validated when it was: no second schema check.
    const parsed = await parseDeployableConfig(r.config, { trusted: true });
    if (!parsed.ok) return false;
    if (monitor === 'active' || monitor === 'passive') return parsed.config.monitor === monitor;
    return (parsed.config.monitorTemplate ?? monitor) === monitor;
  }

  /** pcloudsh wrote DIR/UUID.xml, then called deployable_start(name, uuid, monitor). */
  async #handoff(name: string, uuid: string): Promise<QmfMap> {
    const dir = this.#d.handoffDir;
    if (!dir) return { rc: RC.noSuchDeployable };
    if (!HANDOFF_UUID.test(uuid))
      return { rc: RC.invalid, reason: `uuid "${uuid}" cannot name a file in ${dir}` };
    const path = join(dir, `${uuid}.xml`);
    const read = await readConfigText(path, { regularOnly: true });
    if (!read.ok) {
      return {
        rc: read.missing ? RC.noSuchDeployable : RC.invalid,
        reason: read.missing
          ? `no deployable named "${name}", and no config at ${path}`
          : read.issues.map(formatIssue).join('; '),
      };
    }
    let checked: { uuid: string };
    try {
      checked = await this.#checkConfig(name, read.text);
    } catch (err) {
      return { rc: RC.invalid, reason: `${path}: ${errorMessage(err)}` };
    }
    if (checked.uuid !== uuid)
      return { rc: RC.invalid, reason: `${path} has uuid "${checked.uuid}", not "${uuid}"` };
    await this.#storeNew(name, uuid, read.text);
    this.#d.log.info('deployable created from the original hand-off', { deployable: name, path });
    return { rc: RC.ok };
  }

  reloadOriginal(name: string, uuid: string): Promise<QmfMap> {
    return this.#serial.run(name, async (): Promise<QmfMap> => {
      const r = await this.#d.store.get(name);
      if (!r) return { rc: RC.noSuchDeployable };
      if (r.uuid !== uuid)
        return { rc: RC.invalid, reason: `uuid ${uuid} is not this deployable's` };
      await this.#d.supervisor.reload(name);
      return { rc: RC.ok };
    });
  }

  methods(): ObjectMethods {
    const s = (a: QmfMap, k: string): string => a[k] as string;
    return {
      deployable_create: {
        args: { name: NAME, config: CONFIG },
        handler: (a) => this.create(s(a, 'name'), s(a, 'config')),
      },
      deployable_update: {
        args: { name: NAME, config: CONFIG },
        handler: (a) => this.update(s(a, 'name'), s(a, 'config')),
      },
      deployable_destroy: { args: { name: NAME }, handler: (a) => this.destroy(s(a, 'name')) },
      deployable_list: { args: {}, handler: () => this.list() },
      cpe_info: { args: {}, handler: () => this.#d.info?.() ?? {} },
      deployable_status: { args: { name: NAME }, handler: (a) => this.status(s(a, 'name')) },
      deployable_config: { args: { name: NAME }, handler: (a) => this.config(s(a, 'name')) },
      deployable_start: {
        args: { name: NAME, uuid: UUID, monitor: MONITOR },
        handler: (a) =>
          this.setDesired(s(a, 'name'), s(a, 'uuid'), 'running', a.monitor as string | undefined),
      },
      deployable_stop: {
        args: { name: NAME, uuid: UUID, monitor: MONITOR },
        handler: (a) => this.setDesired(s(a, 'name'), s(a, 'uuid'), 'stopped'),
      },
      events_submit: {
        args: {
          source: { type: 'string', pattern: /^(cpe|dpe\.[A-Za-z0-9_][A-Za-z0-9._-]{0,63})$/ },
          events: { type: 'list', maxItems: MAX_SUBMIT },
        },
        handler: (a, context) => {
          const source = s(a, 'source');
          if (!speaksFor(context.userId, source, this.#d.requireIdentity ?? false))
            throw new CpeError(
              'NOT_AUTHORIZED',
              `${context.userId ?? 'a sender without a user-id'} may not submit the events of ${source}`,
            );
          return this.submitEvents(source, a.events as unknown[]);
        },
      },
      events_query: {
        // Every filter optional; parseEventQuery checks values (BAD_FILTER), the server the types.
        args: Object.fromEntries(
          Object.entries(EVENT_FILTERS).map(([k, f]) => [
            k,
            { type: k === 'since' || k === 'until' ? 'any' : f.type, optional: true },
          ]),
        ),
        handler: (a) => this.queryEvents(a),
      },
      deployable_reload: {
        args: { name: NAME, uuid: UUID, monitor: MONITOR },
        handler: (a) => this.reloadOriginal(s(a, 'name'), s(a, 'uuid')),
      },
    };
  }
}
