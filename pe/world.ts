/**
 * One pass's reading of the whole input: every assembly's health and every
 * service's whereabouts, computed once (O(assemblies + services)) for the
 * classifier, the rules and placement to share.
 */
import type { AssemblyConfig, DeployableConfig, ServiceConfig } from '../lib/config/index.js';
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

export interface World {
  readonly now: number;
  readonly input: PeInput;
  readonly config: DeployableConfig;
  readonly assemblies: ReadonlyMap<string, AssemblyConfig>;
  readonly health: ReadonlyMap<string, AssemblyHealth>;
  readonly services: readonly ServiceWhereabouts[];
  readonly byId: ReadonlyMap<string, ServiceWhereabouts>;
  readonly inFlightByAssembly: ReadonlyMap<string, readonly InFlightAction[]>;
}

const REACHABLE = new Set(['up', 'suspect']);
/** The shared empty list (never pushed to: `add` replaces it). */
const NONE: string[] = [];

export function isReachable(world: World, assembly: string): boolean {
  return REACHABLE.has(world.health.get(assembly)?.health ?? 'unknown');
}

export function observation(world: World, assembly: string): AssemblyObservation | undefined {
  return world.input.assemblies[assembly];
}

export function readWorld(input: PeInput, now: number): World {
  const { config } = input;
  const assemblies = new Map(config.assemblies.map((a) => [a.name, a]));
  const health = new Map(
    config.assemblies.map((a) => [
      a.name,
      assemblyHealth(a, input.assemblies[a.name], input.bus, now),
    ]),
  );
  const byService = new Map<string, InFlightAction[]>();
  const byAssembly = new Map<string, InFlightAction[]>();
  for (const action of input.inFlight) {
    if (action.service !== undefined) push(byService, action.service, action);
    if (action.assembly !== undefined) push(byAssembly, action.assembly, action);
  }
  const unknownHealth = new Set(
    [...health].filter(([, h]) => h.health === 'unknown').map(([name]) => name),
  );
  const services = config.services.map((s) =>
    whereabouts(s, input.services[s.id], input, health, unknownHealth, byService.get(s.id) ?? []),
  );
  return {
    now,
    input,
    config,
    assemblies,
    health,
    services,
    byId: new Map(services.map((s) => [s.config.id, s])),
    inFlightByAssembly: byAssembly,
  };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const NO_INSTANCES: readonly string[] = [];

/**
 * The assemblies a service was observed on, sorted so the result does not
 * depend on the order they were written in. Most services have one: that
 * case allocates a single small array.
 */
function instanceOrder(obs: ServiceObservation | undefined): readonly string[] {
  if (obs === undefined) return NO_INSTANCES;
  let first: string | undefined;
  let more: string[] | undefined;
  for (const assembly in obs.instances) {
    if (first === undefined) first = assembly;
    else (more ??= [first]).push(assembly);
  }
  if (more) return more.sort();
  return first === undefined ? NO_INSTANCES : [first];
}

function whereabouts(
  config: ServiceConfig,
  obs: ServiceObservation | undefined,
  input: PeInput,
  health: ReadonlyMap<string, AssemblyHealth>,
  unknownHealth: ReadonlySet<string>,
  busy: readonly InFlightAction[],
): ServiceWhereabouts {
  // Most services have one instance, running: only allocate what is needed.
  let running: string[] = NONE;
  let failed: string[] = NONE;
  let unknown: string[] = NONE;
  let lost: string[] = NONE;
  const add = (list: string[], assembly: string): string[] => {
    if (list === NONE) return [assembly];
    list.push(assembly);
    return list;
  };
  for (const assembly of instanceOrder(obs)) {
    const instance = obs!.instances[assembly]!;
    const h = health.get(assembly)?.health;
    if (h === undefined) continue; // an assembly no longer in the config
    const current = instance.epoch === (input.assemblies[assembly]?.epoch ?? null);
    if (h === 'up' || h === 'suspect') {
      if (!current) {
        if (instance.state !== 'stopped') unknown = add(unknown, assembly);
      } else if (
        instance.state === 'running' ||
        instance.state === 'starting' ||
        instance.state === 'stopping'
      ) {
        running = add(running, assembly);
      } else if (instance.state === 'failed') {
        failed = add(failed, assembly);
      } else if (instance.state === 'unknown') {
        unknown = add(unknown, assembly);
      }
    } else if (h === 'down' || h === 'recovering') {
      if (!(current && instance.state === 'stopped')) lost = add(lost, assembly);
    }
  }
  // An agent reports every service it runs, so a reachable assembly without a
  // record does not run it; an assembly that has not reported may.
  const unseen =
    unknownHealth.size > 0 &&
    (config.allowed === 'any'
      ? true
      : config.allowed.some((a) => unknownHealth.has(a)) ||
        Object.keys(obs?.instances ?? {}).some((a) => unknownHealth.has(a)));
  return { config, obs, running, failed, unknown, lost, unseen, busy };
}
