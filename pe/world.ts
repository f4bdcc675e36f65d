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
  readonly services: readonly ServiceWhereabouts[];
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
 * config's indexes are built once per config, not per pass, and a service
 * that runs in one place allocates only its record and one small array.
 * Loops over every service, here and in the planner, are indexed: for-of
 * allocated an iterator result per element wherever V8 did not optimise the
 * loop, some 10 MB a pass at 100,000 services.
 *
 * What the rest of the pass counts per assembly (what runs there, what the
 * placer starts from) is counted here, into the assembly's tally already in
 * hand: later loops over every service that looked each assembly up by name
 * again cost some 15 ms a pass at 100,000 services.
 */
export function readWorld(input: PeInput, now: number): World {
  const { config } = input;
  const index = indexConfig(config);
  const health = new Map<string, AssemblyHealth>();
  const seen = new Map<string, Seen>();
  const tallies = new Map<string, AssemblyTally>();
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
  const services: ServiceWhereabouts[] = new Array<ServiceWhereabouts>(config.services.length);
  let failedServices = 0;
  for (let i = 0; i < config.services.length; i++) {
    const s = config.services[i]!;
    const w = whereabouts(s, input.services[s.id], seen, unknownHealth, byService.get(s.id));
    services[i] = w;
    if (w.failed.length > 0) failedServices += 1;
  }
  const positions = index.servicePositions;
  return {
    now,
    input,
    config,
    assemblies: index.assemblies,
    health,
    services,
    byId: {
      get: (id) => {
        const i = positions.get(id);
        return i === undefined ? undefined : services[i];
      },
    },
    inFlightByAssembly: byAssembly,
    tallies,
    failedServices,
  };
}

/** What a service's instance needs of its assembly: one lookup per instance. */
interface Seen {
  readonly health: AssemblyHealth['health'];
  readonly epoch: string | null;
  /** The list of this assembly alone, shared by every service found only there. */
  readonly alone: readonly string[];
  readonly tally: AssemblyTally;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
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
  // Where it is found (`foundAt`) without a search: the first assembly it
  // runs on, else the first it failed on (lists are filed in name order).
  let runningAt: Seen | undefined;
  let failedAt: Seen | undefined;
  if (obs !== undefined) {
    // Sorted, so that the result does not depend on the order instances were written in.
    let first: string | undefined;
    let more: string[] | undefined;
    for (const assembly in obs.instances) {
      if (first === undefined) first = assembly;
      else (more ??= [first]).push(assembly);
    }
    if (more) {
      for (const assembly of more.sort()) {
        const at = place(w, obs, assembly, seen);
        if (at === undefined) continue;
        if (w.running.at(-1) === assembly) runningAt ??= at;
        else failedAt ??= at;
      }
    } else if (first !== undefined) {
      const at = place(w, obs, first, seen);
      if (at !== undefined && w.running.length > 0) runningAt = at;
      else failedAt = at;
    }
  }
  const found = busy.length === 0 ? (runningAt ?? failedAt) : seen.get(foundAt(w) ?? '');
  if (found !== undefined) {
    found.tally.found += 1;
    found.tally.cpu += config.utilization.cpu ?? 0;
    found.tally.mem += config.utilization.memoryMb ?? 0;
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

/**
 * Files one observed instance under running, failed, unknown or lost; returns
 * its assembly's record where it was filed under running or failed.
 */
function place(
  w: Mutable<ServiceWhereabouts>,
  obs: ServiceObservation,
  assembly: string,
  seen: ReadonlyMap<string, Seen>,
): Seen | undefined {
  const at = seen.get(assembly);
  if (at === undefined) return undefined; // an assembly no longer in the config
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
      return at;
    } else if (instance.state === 'failed') {
      w.failed = add(w.failed, at);
      return at;
    } else if (instance.state === 'unknown') {
      w.unknown = add(w.unknown, at);
    }
  } else if (h === 'down' || h === 'recovering') {
    if (!(current && instance.state === 'stopped')) w.lost = add(w.lost, at);
  }
  return undefined;
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
