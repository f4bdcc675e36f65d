/**
 * Turns the world into situations — only what may need an action: a failed
 * or lost service, a suspect or down assembly, and the deployable itself.
 * Healthy services produce nothing, so the rules' cost follows trouble, not
 * size. Each situation carries the facts its rules read (documented in
 * schemas/README.md, "Rule facts").
 */
import { indexConfig, SCORE_INFINITY, type AssemblyConfig } from '../lib/config/index.js';
import { memoized } from '../lib/memo.js';
import { failureWindow } from './escalation.js';
import { runsWith } from './runs-with.js';
import type { RuleFacts } from './engine.js';
import type { FactValue } from './types.js';
import {
  allServices,
  capacityOf,
  isReachable,
  observation,
  type ServiceWhereabouts,
  type World,
} from './world.js';

export type SituationKind =
  | 'service-failed'
  | 'service-stopped'
  | 'service-lost'
  | 'service-unknown'
  | 'service-duplicate'
  | 'service-misplaced'
  | 'service-failback'
  | 'assembly-suspect'
  | 'assembly-down'
  | 'deployable';

export interface Situation {
  readonly kind: SituationKind;
  /** The service it concerns, for service situations. */
  readonly service: ServiceWhereabouts | null;
  /** The assembly it concerns: where the service failed, was lost, or the assembly itself. */
  readonly assembly: string | null;
  readonly facts: RuleFacts;
  /** What its actions record of it (`factsOf`), made on first use and shared by them. */
  recorded: Readonly<Record<string, FactValue>> | undefined;
}

export function situations(world: World): Situation[] {
  if (!world.input.bus.connected) return []; // nothing can be known or done without the bus
  const list = new SituationList(world);
  const checks = placementChecks(world);
  const movable = movableOf(world.config);
  const anyOver = checks.over.size > 0;
  for (let i = 0; i < world.serviceCount; i++) {
    const where = world.settledOn(i);
    if (where === undefined) classify(world, world.service(i), i, list, checks);
    else if (anyOver || movable[i] === 1) classifySettled(world, i, where, list, checks);
  }
  for (const a of world.config.assemblies) {
    const h = world.health.get(a.name)!.health;
    const busy = (world.inFlightByAssembly.get(a.name) ?? []).some(
      (x) => x.type === 'recover-assembly' || x.type === 'fence-assembly',
    );
    if (h === 'suspect') list.emit('assembly-suspect', null, a.name);
    else if (h === 'down' && !busy && !backingOff(world, a.name))
      list.emit('assembly-down', null, a.name);
  }
  list.emit('deployable', null, null);
  return list.out;
}

/**
 * A pass's situations as they are found. A class, not closures made per
 * pass: the loop over every service calls `emit`, and V8 deoptimised that
 * loop on every pass when the closure it called was a new one.
 */
class SituationList {
  readonly out: Situation[] = [];
  readonly #deployable: Readonly<Record<string, unknown>>;
  /** Shared by every situation on the same assembly (facts are read-only). */
  readonly #assemblyFacts = new Map<string, Record<string, unknown>>();

  constructor(private readonly world: World) {
    this.#deployable = deployableFact(world);
  }

  emit(kind: SituationKind, service: ServiceWhereabouts | null, assembly: string | null): void {
    const { world } = this;
    this.out.push({
      kind,
      service,
      assembly,
      facts: {
        situation: kind,
        service: service === null ? null : serviceFact(world, service, assembly),
        assembly: assembly === null ? null : this.#assemblyFactOf(assembly),
        deployable: this.#deployable,
        now: world.now,
      },
      recorded: undefined,
    });
  }

  #assemblyFactOf(name: string): Record<string, unknown> {
    let fact = this.#assemblyFacts.get(name);
    if (!fact) this.#assemblyFacts.set(name, (fact = assemblyFact(this.world, name)));
    return fact;
  }
}

/** After a failed recovery, the next attempt waits one driver timeout. */
export function retryAt(world: World, assembly: string): number | null {
  const recovery = world.input.assemblies[assembly]?.recovery;
  if (recovery?.state !== 'failed') return null;
  const driver = world.assemblies.get(assembly)!.recovery;
  return recovery.at + (driver.driver === 'none' ? 0 : driver.timeoutMs);
}

function backingOff(world: World, assembly: string): boolean {
  const at = retryAt(world, assembly);
  return at !== null && world.now < at;
}

/** Emits the service's situations, if any (most services have none: nothing is allocated for them). */
function classify(
  world: World,
  s: ServiceWhereabouts,
  position: number,
  list: SituationList,
  checks: PlacementChecks,
): void {
  if (s.busy.length > 0) return; // an action is in flight: wait for its outcome
  for (let i = 0; i < s.unknown.length; i++) list.emit('service-unknown', s, s.unknown[i]!);
  const present = s.running.length + s.failed.length;
  if (present > 1) return list.emit('service-duplicate', s, s.running[0] ?? s.failed[0]!);
  if (s.failed.length === 1) return list.emit('service-failed', s, s.failed[0]!);
  if (s.unknown.length > 0 || s.unseen) return; // find out before starting it anywhere
  if (s.running.length === 1) return classifySettled(world, position, s.running[0]!, list, checks);
  if (s.lost.length > 0) return list.emit('service-lost', s, s.lost[0]!);
  list.emit('service-stopped', s, null);
}

/**
 * 1 for a service (by its place in the config) that a rule of its config
 * could move while it runs settled: allowed only on some assemblies, with
 * mandatory peers, or failing back. The loop over every service looks no
 * further for the rest (most), whose configs it then never reads: at
 * 100,000 services, reading each one's config cost ~4 ms a pass.
 */
const movableOf = memoized((config: World['config']): Uint8Array => {
  const { peered } = peersOf(config);
  const movable = new Uint8Array(config.services.length);
  for (let i = 0; i < movable.length; i++) {
    const s = config.services[i]!;
    if (s.allowed !== 'any' || s.failback === 'auto' || peered[i] === 1) movable[i] = 1;
  }
  return movable;
});

/** A service running in one place: misplaced there, due to fail back, or fine (most: nothing is made for them). */
function classifySettled(
  world: World,
  position: number,
  where: string,
  list: SituationList,
  checks: PlacementChecks,
): void {
  const config = world.config.services[position]!;
  // Most services have no rule that could misplace them: no lookups by id for those.
  const ruled = config.allowed !== 'any' || checks.over.size > 0 || checks.peered[position];
  if (ruled && misplacement(world, world.service(position), where, checks) !== null)
    return list.emit('service-misplaced', world.service(position), where);
  const { home, failback } = config;
  if (failback === 'auto' && where !== home && world.health.get(home)?.health === 'up')
    list.emit('service-failback', world.service(position), where);
}

/**
 * Why a running service may not stay where it runs, or null: not allowed
 * there, apart from what it must run with, or beside what it must never
 * share an assembly with (the later id of such a pair gives way).
 */
export function misplacement(
  world: World,
  s: ServiceWhereabouts,
  where: string,
  checks: PlacementChecks = placementChecks(world),
): string | null {
  const { allowed } = s.config;
  if (allowed !== 'any' && !allowed.includes(where)) {
    return `it may run only on ${allowed.join(', ')}`;
  }
  const { over: overs, partners, rivals } = checks;
  const over = overs.get(s.config.id);
  if (over !== undefined && over.assembly === where) return over.reason;
  const mine = partners.get(s.config.id) ?? NO_PEERS;
  for (let i = 0; i < mine.length; i++) {
    const w = mine[i]!;
    const at = world.byId.get(w)?.running[0];
    if (at !== undefined && at !== where) return `it must run with ${w}, which runs on ${at}`;
  }
  const apart = rivals.get(s.config.id) ?? NO_PEERS;
  for (let i = 0; i < apart.length; i++) {
    const other = apart[i]!;
    if (world.byId.get(other)?.running.includes(where))
      return `it must not share ${where} with ${other}`;
  }
  return null;
}

const NO_PEERS: readonly string[] = [];

/** What `misplacement` reads of a pass: looked up once for a loop over every service, not per service. */
interface PlacementChecks extends Peers {
  readonly over: ReadonlyMap<string, { assembly: string; reason: string }>;
}

function placementChecks(world: World): PlacementChecks {
  const { partners, rivals, peered } = mandatoryPeers(world);
  return { over: overCapacity(world), partners, rivals, peered };
}

/**
 * Services that push a reachable assembly past its capacity (declared, or
 * reported by its agent): they are misplaced and move where there is room,
 * as in Pacemaker. Which stay: those at home first, then never-twice ones,
 * then by id — the rest, beyond the capacity, go.
 */
const overCapacity = memoized((world: World): Map<string, { assembly: string; reason: string }> => {
  const over = new Map<string, { assembly: string; reason: string }>();
  // Most deployables declare no capacity and their agents report none: nothing to sort.
  const capped = (a: AssemblyConfig): boolean => {
    const { cpuCap, memCap } = capacityOf(world, a);
    return cpuCap !== null || memCap !== null;
  };
  if (!world.config.assemblies.some(capped)) return over;
  const byAssembly = new Map<string, ServiceWhereabouts[]>();
  for (const s of allServices(world)) {
    const at = s.running[0];
    if (at === undefined) continue;
    const list = byAssembly.get(at);
    if (list) list.push(s);
    else byAssembly.set(at, [s]);
  }
  for (const [name, services] of byAssembly) {
    const { cpuCap, memCap } = capacityOf(world, world.assemblies.get(name)!);
    if (cpuCap === null && memCap === null) continue;
    const keep = (x: ServiceWhereabouts): string =>
      `${x.config.home === name ? 0 : 1}${x.config.unique ? 0 : 1}${x.config.id}`;
    let cpu = 0;
    let mem = 0;
    for (const x of [...services].sort((p, q) => (keep(p) < keep(q) ? -1 : 1))) {
      const c = x.config.utilization.cpu ?? 0;
      const m = x.config.utilization.memoryMb ?? 0;
      if ((cpuCap !== null && cpu + c > cpuCap) || (memCap !== null && mem + m > memCap)) {
        over.set(x.config.id, {
          assembly: name,
          reason: `${name} is over its capacity (${cpuCap === null ? '' : `${cpu + c} of ${cpuCap} CPU`}${cpuCap !== null && memCap !== null ? ', ' : ''}${memCap === null ? '' : `${mem + m} of ${memCap} MiB`} with it)`,
        });
        continue;
      }
      cpu += c;
      mem += m;
    }
  }
  return over;
});

interface Peers {
  /** What each service must run with, where that runs (mandatory colocations, colocated orders). */
  readonly partners: Map<string, string[]>;
  /** What each service must not share an assembly with and gives way to (lower ids). */
  readonly rivals: Map<string, string[]>;
  /** 1 for a service (by its place in the config) that has either. */
  readonly peered: Uint8Array;
}

function mandatoryPeers(world: World): Peers {
  return peersOf(world.config);
}

const peersOf = memoized((config: World['config']): Peers => {
  const peers: Peers = {
    partners: new Map(),
    rivals: new Map(),
    peered: new Uint8Array(config.services.length),
  };
  const add = (map: Map<string, string[]>, key: string, value: string): void => {
    map.set(key, [...(map.get(key) ?? []), value]);
  };
  // An optional colocated order's then runs where its first runs, where it runs at all: as here.
  for (const r of runsWith(config)) add(peers.partners, r.service, r.with);
  for (const aa of config.constraints.antiAffinity) {
    if (aa.score > -SCORE_INFINITY) continue;
    for (const id of aa.services)
      for (const other of aa.services) if (other < id) add(peers.rivals, id, other);
  }
  const positions = indexConfig(config).servicePositions;
  for (const id of [...peers.partners.keys(), ...peers.rivals.keys()]) {
    const i = positions.get(id);
    if (i !== undefined) peers.peered[i] = 1;
  }
  return peers;
});

export function serviceFact(
  world: World,
  s: ServiceWhereabouts,
  assembly: string | null,
): Record<string, unknown> {
  const window = failureWindow(
    s.obs?.failures ?? [],
    laterOf(s.obs?.lastEscalation ?? null, world.input.lastDeployableEscalation),
    s.config.escalation,
  );
  const state = assembly === null ? null : (s.obs?.instances[assembly]?.state ?? null);
  return {
    id: s.config.id,
    name: s.config.name,
    home: s.config.home,
    class: s.config.class,
    type: s.config.type,
    unique: s.config.unique,
    stickiness: s.config.stickiness,
    failback: s.config.failback,
    assembly,
    state,
    running: s.running.length,
    failures: window.counted,
    escalate: window.escalate,
    failureSpanMs: window.span,
    lastFailure: s.obs?.failures.at(-1) ?? null,
  };
}

export function assemblyFact(world: World, name: string): Record<string, unknown> {
  const config = world.assemblies.get(name)!;
  const obs = observation(world, name);
  const h = world.health.get(name)!;
  // A new failure is about to be counted (the assembly is down, or a service escalates to it).
  const window = failureWindow(
    [...(obs?.failures ?? []), world.now],
    laterOf(obs?.lastEscalation ?? null, world.input.lastDeployableEscalation),
    config.escalation,
  );
  return {
    name,
    uuid: config.uuid,
    health: h.health,
    missedBeats: h.missedBeats,
    reachable: isReachable(world, name),
    epoch: obs?.epoch ?? null,
    lastHeartbeat: obs?.lastHeartbeat ?? null,
    load1: obs?.metrics?.load1 ?? null,
    memoryFreeMb: obs?.metrics?.memoryFreeMb ?? null,
    services: world.tallies.get(name)?.running.length ?? 0,
    failures: window.counted,
    escalate: window.escalate,
    recovery: config.recovery.driver,
  };
}

function deployableFact(world: World): Record<string, unknown> {
  const tally = { up: 0, suspect: 0, down: 0, recovering: 0, unknown: 0 };
  for (const h of world.health.values()) tally[h.health] += 1;
  return {
    name: world.config.name,
    monitor: world.config.monitor,
    schemaVersion: world.config.schemaVersion,
    assemblies: world.config.assemblies.length,
    ...tally,
    services: world.config.services.length,
    running: [...world.tallies.values()].reduce((n, t) => n + t.running.length, 0),
    failed: world.failedServices,
  };
}

function laterOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
