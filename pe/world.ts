/**
 * One pass's reading of the whole input: every assembly's health and every
 * service's whereabouts, computed once (O(assemblies + services)) for the
 * classifier, the rules and placement to share.
 */
import {
  indexConfig,
  type AssemblyConfig,
  type DeployableConfig,
  type ServiceConfig,
} from '../lib/config/index.js';
import { memoized } from '../lib/memo.js';
import { assemblyHealth, type AssemblyHealth } from './health.js';
import type { AssemblyObservation, InFlightAction, PeInput, ServiceObservation } from './types.js';

export interface ServiceWhereabouts {
  readonly config: ServiceConfig;
  readonly obs: ServiceObservation | undefined;
  /** Reachable assemblies where it runs (or is starting), in the current agent epoch. */
  readonly running: readonly string[];
  /** Reachable assemblies where it failed. */
  readonly failed: readonly string[];
  /** Reachable assemblies where its state is unknown or from an older agent epoch. */
  readonly unknown: readonly string[];
  /** Unreachable (down, recovering) assemblies where it may still be running. */
  readonly lost: readonly string[];
  /**
   * An assembly it may run on has not reported (bus down, no beat yet): it may
   * be running there, so it must not be started elsewhere yet.
   */
  readonly unseen: boolean;
  /** In-flight actions on this service. */
  readonly busy: readonly InFlightAction[];
}

/** The services' whereabouts by id. */
export interface ServiceLookup {
  get(id: string): ServiceWhereabouts | undefined;
}

export interface World {
  readonly now: number;
  readonly input: PeInput;
  readonly config: DeployableConfig;
  readonly assemblies: ReadonlyMap<string, AssemblyConfig>;
  readonly health: ReadonlyMap<string, AssemblyHealth>;
  /** How many services the config has: `service(i)` for i below it. */
  readonly serviceCount: number;
  /** The whereabouts of the config's i-th service. */
  service(i: number): ServiceWhereabouts;
  /**
   * Where the i-th service runs if it is settled: one instance, running on a
   * reachable assembly in its current epoch, nothing in flight, every
   * assembly heard from. Else undefined.
   */
  settledOn(i: number): string | undefined;
  readonly byId: ServiceLookup;
  readonly inFlightByAssembly: ReadonlyMap<string, readonly InFlightAction[]>;
  /** What was found on each assembly of the config, counted as the services were read. */
  readonly tallies: ReadonlyMap<string, AssemblyTally>;
  /** How many services failed on a reachable assembly. */
  readonly failedServices: number;
}

export interface AssemblyTally {
  /** The ids of the services running there, in config order. */
  readonly running: string[];
  /** How many services are found there (`foundAt`), and the CPU and memory they declare. */
  found: number;
  cpu: number;
  mem: number;
}

const REACHABLE = new Set(['up', 'suspect']);
/** The shared empty list (never changed: `add` replaces it). */
const NONE: readonly string[] = [];

export function isReachable(world: World, assembly: string): boolean {
  return REACHABLE.has(world.health.get(assembly)?.health ?? 'unknown');
}

export function observation(world: World, assembly: string): AssemblyObservation | undefined {
  return world.input.assemblies[assembly];
}

/** Every service's whereabouts, made for each that has none yet: for what looks at every service rarely. */
export function allServices(world: World): ServiceWhereabouts[] {
  const all = new Array<ServiceWhereabouts>(world.serviceCount);
  for (let i = 0; i < all.length; i++) all[i] = world.service(i);
  return all;
}

/** An assembly's capacity: as declared, else as its agent reports it; null where neither says. */
export function capacityOf(
  world: World,
  assembly: AssemblyConfig,
): { readonly cpuCap: number | null; readonly memCap: number | null } {
  const metrics = world.input.assemblies[assembly.name]?.metrics ?? null;
  return {
    cpuCap: assembly.capacity.cpu ?? metrics?.cpus ?? null,
    memCap: assembly.capacity.memoryMb ?? metrics?.memoryTotalMb ?? null,
  };
}

/**
 * A pass over 100,000 services must stay near a microsecond each: the
 * config's indexes are built once per config, not per pass. Loops over
 * every service, here and in the planner, are indexed: for-of allocated an
 * iterator result per element wherever V8 did not optimise the loop.
 *
 * What the rest of the pass counts per assembly (what runs there, what the
 * placer starts from) is counted here, into the assembly's tally, in hand
 * for every settled service: later loops over every service that looked each
 * assembly up by name again cost some 15 ms a pass at 100,000 services.
 *
 * A settled service (see `settledOn`) gets no record unless something asks
 * for one: most services are settled, and their 100,000 records a pass,
 * each living to the end of the pass, cost the collector more than reading
 * them cost.
 */
export function readWorld(input: PeInput, now: number): World {
  const { config } = input;
  const seen = new Map<string, Seen>();
  const tallies = new Map<string, AssemblyTally>();
  const health = new Map<string, AssemblyHealth>();
  const unknownHealth = new Set<string>();
  for (const a of config.assemblies) {
    const obs = input.assemblies[a.name];
    const h = assemblyHealth(a, obs, input.bus, now);
    health.set(a.name, h);
    const tally: AssemblyTally = { running: [], found: 0, cpu: 0, mem: 0 };
    tallies.set(a.name, tally);
    seen.set(a.name, { health: h.health, epoch: obs?.epoch ?? null, alone: [a.name], tally });
    if (h.health === 'unknown') unknownHealth.add(a.name);
  }
  const byService = new Map<string, InFlightAction[]>();
  const byAssembly = new Map<string, InFlightAction[]>();
  for (const action of input.inFlight) {
    if (action.service !== undefined) push(byService, action.service, action);
    if (action.assembly !== undefined) push(byAssembly, action.assembly, action);
  }
  const { ids, cpu, mem } = columnsOf(config);
  const n = ids.length;
  const records = new Array<ServiceWhereabouts | undefined>(n);
  const settled = new Array<Seen | undefined>(n);
  let failedServices = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    const obs = input.services[id];
    const busy = byService.size === 0 ? undefined : byService.get(id);
    const at = busy === undefined && unknownHealth.size === 0 ? settledAt(obs, seen) : undefined;
    if (at !== undefined) {
      settled[i] = at;
      at.tally.running.push(id);
      count(at.tally, cpu[i]!, mem[i]!);
      continue;
    }
    const w = whereabouts(config.services[i]!, obs, seen, unknownHealth, busy);
    records[i] = w;
    if (w.failed.length > 0) failedServices += 1;
  }
  return new PassWorld(input, now, health, records, settled, byAssembly, tallies, failedServices);
}

/** A pass's world: a settled service's record is made the first time it is asked for. */
class PassWorld implements World {
  readonly config: DeployableConfig;
  readonly assemblies: ReadonlyMap<string, AssemblyConfig>;
  readonly serviceCount: number;
  readonly byId: ServiceLookup;

  constructor(
    readonly input: PeInput,
    readonly now: number,
    readonly health: ReadonlyMap<string, AssemblyHealth>,
    private readonly records: (ServiceWhereabouts | undefined)[],
    private readonly settled: readonly (Seen | undefined)[],
    readonly inFlightByAssembly: ReadonlyMap<string, readonly InFlightAction[]>,
    readonly tallies: ReadonlyMap<string, AssemblyTally>,
    readonly failedServices: number,
  ) {
    this.config = input.config;
    const index = indexConfig(this.config);
    this.assemblies = index.assemblies;
    this.serviceCount = this.config.services.length;
    this.byId = new ServiceIndex(this, index.servicePositions);
  }

  service(i: number): ServiceWhereabouts {
    const known = this.records[i];
    if (known !== undefined) return known;
    const config = this.config.services[i]!;
    const record: ServiceWhereabouts = {
      config,
      obs: this.input.services[config.id],
      running: this.settled[i]!.alone,
      failed: NONE,
      unknown: NONE,
      lost: NONE,
      unseen: false,
      busy: NO_ACTIONS,
    };
    this.records[i] = record;
    return record;
  }

  settledOn(i: number): string | undefined {
    return this.settled[i]?.alone[0];
  }
}

class ServiceIndex implements ServiceLookup {
  constructor(
    private readonly world: World,
    private readonly positions: ReadonlyMap<string, number>,
  ) {}

  get(id: string): ServiceWhereabouts | undefined {
    const i = this.positions.get(id);
    return i === undefined ? undefined : this.world.service(i);
  }
}

/**
 * The assembly a service is settled on, or undefined: exactly one instance,
 * in its assembly's current epoch, running (or starting or stopping) on a
 * reachable assembly. What `whereabouts` would file under running alone.
 */
function settledAt(
  obs: ServiceObservation | undefined,
  seen: ReadonlyMap<string, Seen>,
): Seen | undefined {
  if (obs === undefined) return undefined;
  let only: string | undefined;
  for (const assembly in obs.instances) {
    if (only !== undefined) return undefined;
    only = assembly;
  }
  if (only === undefined) return undefined;
  const at = seen.get(only);
  if (at === undefined || (at.health !== 'up' && at.health !== 'suspect')) return undefined;
  const instance = obs.instances[only]!;
  if (instance.epoch !== at.epoch) return undefined;
  const { state } = instance;
  return state === 'running' || state === 'starting' || state === 'stopping' ? at : undefined;
}

/**
 * What a pass reads of every settled service's config, in dense arrays made
 * once per config: the config's service objects are spread over the heap,
 * and at 100,000 services reading each one's id and utilization was a cache
 * miss or two per service (~95 ns a lookup through it, ~30 through `ids`).
 */
const columnsOf = memoized((config: DeployableConfig) => {
  const { services } = config;
  const ids = new Array<string>(services.length);
  const cpu = new Float64Array(services.length);
  const mem = new Float64Array(services.length);
  for (let i = 0; i < services.length; i++) {
    const s = services[i]!;
    ids[i] = s.id;
    cpu[i] = s.utilization.cpu ?? 0;
    mem[i] = s.utilization.memoryMb ?? 0;
  }
  return { ids, cpu, mem };
});

/** Counts a service found on an assembly: what the placer starts from. */
function count(tally: AssemblyTally, cpu: number, mem: number): void {
  tally.found += 1;
  tally.cpu += cpu;
  tally.mem += mem;
}

/** What a service's instance needs of its assembly: one lookup per instance. */
interface Seen {
  readonly health: AssemblyHealth['health'];
  readonly epoch: string | null;
  /** The list of this assembly alone, shared by every service found only there. */
  readonly alone: readonly string[];
  readonly tally: AssemblyTally;
}

/** Appends to the list under `key`, starting it if need be. */
export function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const NO_ACTIONS: readonly InFlightAction[] = [];

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function whereabouts(
  config: ServiceConfig,
  obs: ServiceObservation | undefined,
  seen: ReadonlyMap<string, Seen>,
  unknownHealth: ReadonlySet<string>,
  busy: readonly InFlightAction[] = NO_ACTIONS,
): ServiceWhereabouts {
  // Most services have one instance, running: only allocate what is needed.
  const w: Mutable<ServiceWhereabouts> = {
    config,
    obs,
    running: NONE,
    failed: NONE,
    unknown: NONE,
    lost: NONE,
    unseen: false,
    busy,
  };
  if (obs !== undefined) {
    // Sorted, so that the result does not depend on the order instances were written in.
    let first: string | undefined;
    let more: string[] | undefined;
    for (const assembly in obs.instances) {
      if (first === undefined) first = assembly;
      else (more ??= [first]).push(assembly);
    }
    if (more) for (const assembly of more.sort()) place(w, obs, assembly, seen);
    else if (first !== undefined) place(w, obs, first, seen);
  }
  const found = foundAt(w);
  if (found !== undefined) {
    const at = seen.get(found);
    if (at !== undefined)
      count(at.tally, config.utilization.cpu ?? 0, config.utilization.memoryMb ?? 0);
  }
  // An agent reports every service it runs, so a reachable assembly without a
  // record does not run it; an assembly that has not reported may.
  w.unseen =
    unknownHealth.size > 0 &&
    (config.allowed === 'any'
      ? true
      : config.allowed.some((a) => unknownHealth.has(a)) ||
        Object.keys(obs?.instances ?? {}).some((a) => unknownHealth.has(a)));
  return w;
}

/** Files one observed instance under running, failed, unknown or lost. */
function place(
  w: Mutable<ServiceWhereabouts>,
  obs: ServiceObservation,
  assembly: string,
  seen: ReadonlyMap<string, Seen>,
): void {
  const at = seen.get(assembly);
  if (at === undefined) return; // an assembly no longer in the config
  const instance = obs.instances[assembly]!;
  const current = instance.epoch === at.epoch;
  const h = at.health;
  if (h === 'up' || h === 'suspect') {
    if (!current) {
      if (instance.state !== 'stopped') w.unknown = add(w.unknown, at);
    } else if (
      instance.state === 'running' ||
      instance.state === 'starting' ||
      instance.state === 'stopping'
    ) {
      w.running = add(w.running, at);
      at.tally.running.push(w.config.id);
    } else if (instance.state === 'failed') {
      w.failed = add(w.failed, at);
    } else if (instance.state === 'unknown') {
      w.unknown = add(w.unknown, at);
    }
  } else if (h === 'down' || h === 'recovering') {
    if (!(current && instance.state === 'stopped')) w.lost = add(w.lost, at);
  }
}

/**
 * Where a service counts as placed before this plan: where an action in
 * flight takes it, else where it runs, else where it failed.
 */
export function foundAt(s: ServiceWhereabouts): string | undefined {
  // Most services have nothing in flight: no search (and no closure) for them.
  if (s.busy.length === 0) return s.running[0] ?? s.failed[0];
  const target = s.busy.find(
    (a) => a.type === 'start' || a.type === 'move' || a.type === 'restart',
  );
  return target?.to ?? target?.assembly ?? s.running[0] ?? s.failed[0];
}

/** The lists are shared and never changed: a second entry makes a new one. */
function add(list: readonly string[], at: Seen): readonly string[] {
  return list === NONE ? at.alone : [...list, at.alone[0]!];
}
