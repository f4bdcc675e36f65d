/**
 * Everything the DPE has observed of its deployable: heartbeats per
 * assembly (last beat, epoch, sequence gaps, metrics), what agents said of
 * each service, failures, recoveries and escalations. A pass reads it whole
 * as a PeInput. `version` counts the changes a plan depends on; a beat that
 * only says "still here" from a healthy assembly does not count.
 */
import { indexConfig, type DeployableConfig } from '../lib/config/index.js';
import {
  assemblyHealth,
  type AssemblyHealth,
  type AssemblyMetrics,
  type AssemblyObservation,
  type InFlightAction,
  type InstanceObservation,
  type InstanceState,
  type PeInput,
  type RecoveryRecord,
} from '../pe/index.js';

/** Failure times kept per service and assembly (escalation reads the last N). */
const MAX_FAILURES = 256;

export interface AssemblyRecord {
  lastHeartbeat: number | null;
  epoch: string | null;
  sequence: number;
  /** Beats lost within the current session (sequence gaps). */
  gaps: number;
  metrics: AssemblyMetrics | null;
  /** Facts the agent reports of itself (hostname, ipaddress): parameter references read them. */
  facts: Readonly<Record<string, string>>;
  recovery: RecoveryRecord | null;
  failures: number[];
  lastEscalation: number | null;
  /** A new agent session heard but not yet inventoried: its epoch, last beat and sequence. */
  pending: { epoch: string; at: number; sequence: number } | null;
}

/** What has been observed of a service: read-only outside (see `Tracked`). */
export interface ServiceRecord {
  readonly instances: ReadonlyMap<string, InstanceObservation>;
  readonly failures: readonly number[];
  readonly lastEscalation: number | null;
}

/**
 * A service's record with what the last pass read of it, kept until the
 * record changes: most services do not change between two passes, and
 * making every one's afresh cost as much as planning (~180 ms a pass at
 * 100,000 services). The entries are never changed once made, so passes
 * share them; null where nothing was observed (the PE input omits it).
 */
interface Tracked {
  readonly instances: Map<string, InstanceObservation>;
  failures: number[];
  lastEscalation: number | null;
  asInput: PeInput['services'][string] | null | undefined;
}

export interface Beat {
  readonly epoch: string;
  readonly sequence: number;
  readonly metrics: AssemblyMetrics | null;
  readonly facts: Readonly<Record<string, string>>;
}

/** `session`: the beat is of a session not yet taken (held until its inventory is in). */
export type BeatOutcome = 'current' | 'session';

export interface InstanceChange {
  readonly service: string;
  readonly assembly: string;
  readonly from: InstanceState | null;
  readonly to: InstanceState;
  readonly reason: string;
}

export class Observations {
  readonly assemblies = new Map<string, AssemblyRecord>();
  readonly #services = new Map<string, Tracked>();
  /**
   * The services as the last pass read them, until one changes: a pass that
   * follows a heartbeat deadline, not a report, shares the whole of it.
   */
  #servicesInput: PeInput['services'] | undefined;
  bus: { connected: boolean; since: number } = { connected: false, since: 0 };
  lastDeployableEscalation: number | null = null;
  #version = 0;
  /** Assemblies whose health the last plan saw as other than up: their beats matter. */
  #watchful = new Set<string>();
  readonly #changes: ((c: InstanceChange) => void)[] = [];
  readonly #dirty: (() => void)[] = [];

  constructor(config: DeployableConfig) {
    this.reconfigure(config);
  }

  /** Read-only: every change goes through a method here, which forgets the service's cached entry. */
  get services(): ReadonlyMap<string, ServiceRecord> {
    return this.#services;
  }

  get version(): number {
    return this.#version;
  }

  /** Called on every change a plan depends on. */
  onDirty(listener: () => void): void {
    this.#dirty.push(listener);
  }

  onInstanceChange(listener: (c: InstanceChange) => void): void {
    this.#changes.push(listener);
  }

  changed(): void {
    this.#version += 1;
    for (const l of this.#dirty) l();
  }

  /** Keeps what still exists in the new config; adds what is new. */
  reconfigure(config: DeployableConfig): void {
    const names = new Set(config.assemblies.map((a) => a.name));
    for (const name of [...this.assemblies.keys()])
      if (!names.has(name)) this.assemblies.delete(name);
    for (const name of names) if (!this.assemblies.has(name)) this.assemblies.set(name, fresh());
    const ids = new Set(config.services.map((s) => s.id));
    for (const id of [...this.#services.keys()]) if (!ids.has(id)) this.#services.delete(id);
    for (const id of ids)
      if (!this.#services.has(id))
        this.#services.set(id, {
          instances: new Map(),
          failures: [],
          lastEscalation: null,
          asInput: undefined,
        });
    for (const s of this.#services.values()) {
      for (const a of [...s.instances.keys()]) if (!names.has(a)) s.instances.delete(a);
      this.#forget(s);
    }
    this.#servicesInput = undefined; // services were added or removed, too
    this.changed();
  }

  /** A service record changed: what passes read of it (and of all services) is made again. */
  #forget(s: Tracked): void {
    s.asInput = undefined;
    this.#servicesInput = undefined;
  }

  /** Takes a saved PE input as what has been observed so far (the simulator starts from one). */
  load(input: PeInput): void {
    this.bus = { ...input.bus };
    this.lastDeployableEscalation = input.lastDeployableEscalation;
    for (const [name, o] of Object.entries(input.assemblies)) {
      const a = this.assemblies.get(name);
      if (!a) continue;
      Object.assign(a, {
        lastHeartbeat: o.lastHeartbeat,
        epoch: o.epoch,
        metrics: o.metrics,
        recovery: o.recovery,
        failures: [...o.failures],
        lastEscalation: o.lastEscalation,
      });
    }
    for (const [id, o] of Object.entries(input.services)) {
      const s = this.#services.get(id);
      if (!s) continue;
      for (const [assembly, i] of Object.entries(o.instances)) s.instances.set(assembly, { ...i });
      s.failures = [...o.failures];
      s.lastEscalation = o.lastEscalation;
      this.#forget(s);
    }
    this.changed();
  }

  setBus(connected: boolean, since: number): void {
    if (this.bus.connected === connected && this.bus.since === since) return;
    this.bus = { connected, since };
    this.changed();
  }

  /** Which assemblies' beats should trigger a pass: those the last plan saw as not up. */
  setWatchful(names: Iterable<string>): void {
    this.#watchful = new Set(names);
  }

  /** Records a heartbeat received at `now`. A beat of another session is held until inventoried. */
  beat(name: string, beat: Beat, now: number): BeatOutcome {
    const a = this.assemblies.get(name);
    if (!a) return 'current';
    a.metrics = beat.metrics ?? a.metrics;
    a.facts = beat.facts;
    if (a.epoch !== beat.epoch) {
      a.pending = { epoch: beat.epoch, at: now, sequence: beat.sequence };
      // The agent is alive even before its new session is known: keep it from going down.
      if (a.lastHeartbeat !== null) a.lastHeartbeat = now;
      return 'session';
    }
    if (beat.sequence > a.sequence + 1) a.gaps += beat.sequence - a.sequence - 1;
    a.sequence = Math.max(a.sequence, beat.sequence);
    a.lastHeartbeat = now;
    if (this.#watchful.delete(name)) {
      this.changed();
    }
    return 'current';
  }

  /**
   * A session's inventory: every service the agent manages, by monitor
   * result. Services of this deployable it does not list do not run there.
   */
  commitSession(
    name: string,
    epoch: string,
    states: ReadonlyMap<string, InstanceState>,
    now: number,
  ): void {
    const a = this.assemblies.get(name);
    if (!a) return;
    const at = a.pending?.epoch === epoch ? a.pending.at : now;
    a.epoch = epoch;
    a.sequence = a.pending?.epoch === epoch ? a.pending.sequence : 0;
    a.gaps = 0;
    a.pending = null;
    a.lastHeartbeat = Math.max(a.lastHeartbeat ?? at, at);
    for (const [id, s] of this.#services) {
      const state = states.get(id);
      const old = s.instances.get(name);
      if (state === undefined && old === undefined) continue;
      this.#setInstance(id, name, state ?? 'stopped', epoch, now, 'new agent session: inventory');
    }
    this.changed();
  }

  /** What an agent said of a service (or what an action made of it). */
  instance(
    service: string,
    assembly: string,
    state: InstanceState,
    now: number,
    reason: string,
    { failure = false, epoch }: { failure?: boolean; epoch?: string | null } = {},
  ): void {
    const s = this.#services.get(service);
    if (!s || !this.assemblies.has(assembly)) return;
    this.#setInstance(
      service,
      assembly,
      state,
      epoch === undefined ? (this.assemblies.get(assembly)!.epoch ?? null) : epoch,
      now,
      reason,
    );
    if (failure) {
      push(s.failures, now);
      this.#forget(s);
    }
    this.changed();
  }

  #setInstance(
    service: string,
    assembly: string,
    state: InstanceState,
    epoch: string | null,
    now: number,
    reason: string,
  ): void {
    const s = this.#services.get(service)!;
    const old = s.instances.get(assembly);
    if (old?.state === state && old.epoch === epoch) return;
    // "since" is when the state began: the planner compares it with fencing times.
    s.instances.set(assembly, { state, epoch, since: old?.state === state ? old.since : now });
    this.#forget(s);
    if (old?.state !== state) {
      for (const l of this.#changes)
        l({ service, assembly, from: old?.state ?? null, to: state, reason });
    }
  }

  recovery(assembly: string, record: RecoveryRecord): void {
    const a = this.assemblies.get(assembly);
    if (!a) return;
    a.recovery = record;
    this.changed();
  }

  /** An assembly failure: it went down (handed to recovery), or a service escalated to it. */
  assemblyFailure(assembly: string, now: number): void {
    const a = this.assemblies.get(assembly);
    if (!a) return;
    push(a.failures, now);
    this.changed();
  }

  escalated(
    level: 'assembly' | 'deployable',
    now: number,
    service?: string,
    assembly?: string,
  ): void {
    if (level === 'deployable') {
      this.lastDeployableEscalation = now;
      if (assembly !== undefined) {
        const a = this.assemblies.get(assembly);
        if (a) a.lastEscalation = now;
      }
    } else {
      const s = service === undefined ? undefined : this.#services.get(service);
      if (s) {
        s.lastEscalation = now;
        this.#forget(s);
      }
      if (assembly !== undefined) {
        const a = this.assemblies.get(assembly);
        if (a) push(a.failures, now);
      }
    }
    this.changed();
  }

  assemblyObservation(name: string): AssemblyObservation | undefined {
    const a = this.assemblies.get(name);
    if (!a) return undefined;
    return {
      lastHeartbeat: a.lastHeartbeat,
      epoch: a.epoch,
      metrics: a.metrics,
      recovery: a.recovery,
      failures: [...a.failures],
      lastEscalation: a.lastEscalation,
    };
  }

  /** The assembly's health as the planner would see it now. */
  health(config: DeployableConfig, name: string, now: number): AssemblyHealth | undefined {
    const a = indexConfig(config).assemblies.get(name);
    const obs = this.assemblyObservation(name);
    return a && obs ? assemblyHealth(a, obs, this.bus, now) : undefined;
  }

  /** Up or suspect: an agent that can still be asked. */
  reachable(config: DeployableConfig, name: string, now: number): boolean {
    const h = this.health(config, name, now)?.health;
    return h === 'up' || h === 'suspect';
  }

  /** The whole state as the planner reads it. */
  toPeInput(config: DeployableConfig, inFlight: readonly InFlightAction[]): PeInput {
    const assemblies: Record<string, AssemblyObservation> = {};
    for (const name of this.assemblies.keys()) assemblies[name] = this.assemblyObservation(name)!;
    let services = this.#servicesInput;
    if (services === undefined) {
      const built: Record<string, PeInput['services'][string]> = {};
      for (const [id, s] of this.#services) {
        const entry = s.asInput === undefined ? (s.asInput = inputOf(s)) : s.asInput;
        if (entry !== null) built[id] = entry;
      }
      this.#servicesInput = services = built;
    }
    return {
      config,
      bus: { ...this.bus },
      assemblies,
      services,
      inFlight: [...inFlight],
      lastDeployableEscalation: this.lastDeployableEscalation,
    };
  }
}

/** What a pass reads of a service record; null where nothing was observed. */
function inputOf(s: ServiceRecord): PeInput['services'][string] | null {
  if (s.instances.size === 0 && s.failures.length === 0 && s.lastEscalation === null) return null;
  return {
    instances: instancesOf(s.instances),
    failures: s.failures.length === 0 ? NO_FAILURES : [...s.failures],
    lastEscalation: s.lastEscalation,
  };
}

const NO_FAILURES: readonly number[] = Object.freeze([]);

/** By assembly name, sorted; one instance (most services) without the temporary lists. */
function instancesOf(
  instances: ReadonlyMap<string, InstanceObservation>,
): Readonly<Record<string, InstanceObservation>> {
  if (instances.size === 1) for (const [assembly, i] of instances) return { [assembly]: i };
  return Object.fromEntries([...instances].sort(([x], [y]) => (x < y ? -1 : 1)));
}

function fresh(): AssemblyRecord {
  return {
    lastHeartbeat: null,
    epoch: null,
    sequence: 0,
    gaps: 0,
    metrics: null,
    facts: {},
    recovery: null,
    failures: [],
    lastEscalation: null,
    pending: null,
  };
}

function push(list: number[], t: number): void {
  // Times must ascend for the planner; a clock step back must not break that.
  list.push(Math.max(t, list.at(-1) ?? t));
  if (list.length > MAX_FAILURES) list.splice(0, list.length - MAX_FAILURES);
}
