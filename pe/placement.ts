/**
 * Where services go. Scores follow Pacemaker's model: a mandatory constraint
 * is ±INFINITY (excludes), a preference is a finite score, the highest total
 * wins. Ties go to the assembly with the fewest services, then the most free
 * memory, then the lowest load, then the name — so placement spreads and is
 * deterministic.
 *
 * Services with no placement constraints (allowed anywhere, no colocation or
 * anti-affinity) take a fast path: their home if it fits, else the best
 * assembly from a heap ordered by the tie-breakers. That keeps a pass over
 * thousands of services at O(n log m).
 */
import {
  indexConfig,
  SCORE_INFINITY,
  type DeployableConfig,
  type ServiceConfig,
} from '../lib/config/index.js';
import { Heap } from '../lib/heap.js';
import { memoized } from '../lib/memo.js';
import { runsWith } from './runs-with.js';
import type { Health, PlacementExplanation, PlacementScore } from './types.js';
import { capacityOf, foundAt, type ServiceWhereabouts, type World } from './world.js';

/** Preference for the assembly a service is declared under. */
export const HOME_SCORE = 1;
/** Preference for home when failback="auto": a stickiness of this much or more keeps the service where it is. */
export const FAILBACK_SCORE = 100;

interface Load extends Ranked {
  readonly name: string;
  readonly health: Health;
  count: number;
  cpuUsed: number;
  memUsed: number;
  /** memCap − memUsed, kept in step with memUsed. */
  free: number;
  readonly cpuCap: number | null;
  readonly memCap: number | null;
  /** Bumped on every change: stale heap entries are skipped. */
  version: number;
}

/**
 * A load as it was when pushed: the heap orders entries by these copies.
 * Ordered by the live load, an entry whose assembly took a service after it
 * was pushed compared as worse where it stood, which broke the heap's order
 * beneath it: the top could be a current entry that was not the best (in
 * about one random deployable in eight, test/pe/placement.test.ts). A stale
 * entry keeps its place and is skipped when it surfaces.
 */
interface HeapEntry extends Ranked {
  readonly load: Load;
  readonly version: number;
}

/** What `better` compares. */
interface Ranked {
  readonly count: number;
  /** Free memory (MiB); infinite where the capacity is unknown. */
  readonly free: number;
  readonly load1: number;
  /** Its place among the assembly names in string order: the last tie-breaker, compared as a number. */
  readonly order: number;
}

export interface PlaceRequest {
  readonly service: ServiceConfig;
  /** Where it runs now, if it should stay there unless something scores higher. */
  readonly current: string | null;
  /** Assemblies it must not go to (where it is being moved from). */
  readonly exclude: readonly string[];
}

export type PlaceResult =
  | { readonly ok: true; readonly assembly: string; readonly score: number }
  | { readonly ok: false; readonly reason: string };

/** A service another runs with, and how much it counts. */
interface ColocationRule {
  readonly other: string;
  readonly score: number;
  /**
   * A colocated optional order: its `then` runs where its `first` runs but
   * may run without it — where the first runs nowhere, it holds nothing back.
   */
  readonly whileRunning: boolean;
}

/** What a config's constraints say about placing each service: built once per config. */
interface PlacementRules {
  readonly colocations: ReadonlyMap<string, readonly ColocationRule[]>;
  readonly antiAffinity: ReadonlyMap<
    string,
    readonly { others: readonly string[]; score: number }[]
  >;
  /** What must run with each service (mandatory colocations, colocated orders), by partner. */
  readonly dependants: ReadonlyMap<string, readonly ServiceConfig[]>;
  readonly constrained: ReadonlySet<string>;
}

const placementRules = memoized((config: DeployableConfig): PlacementRules => {
  const colocations = new Map<string, ColocationRule[]>();
  const antiAffinity = new Map<string, { others: readonly string[]; score: number }[]>();
  const dependants = new Map<string, ServiceConfig[]>();
  const constrained = new Set<string>();
  const services = indexConfig(config).services;
  const { colocation, antiAffinity: apart } = config.constraints;
  const addColocation = (a: string, b: string, score: number, whileRunning = false): void => {
    const list = colocations.get(a) ?? [];
    list.push({ other: b, score, whileRunning });
    colocations.set(a, list);
    constrained.add(a);
  };
  // As in Pacemaker, "service with partner" places the partner first and the
  // service after it, counting where the service may run against the
  // partner's candidates (ignored only when no candidate would be left).
  const addDependant = (dependant: string, partner: string): void => {
    const d = services.get(dependant);
    if (!d) return;
    const list = dependants.get(partner);
    if (list) list.push(d);
    else dependants.set(partner, [d]);
  };
  for (const c of colocation) addColocation(c.service, c.with, c.score);
  for (const r of runsWith(config)) {
    // A colocated order counts as a mandatory colocation (one of its own kind).
    if (r.kind === 'order') addColocation(r.service, r.with, SCORE_INFINITY, r.whileRunning);
    addDependant(r.service, r.with);
  }
  for (const aa of apart) {
    for (const s of aa.services) {
      const list = antiAffinity.get(s) ?? [];
      list.push({ others: aa.services.filter((x) => x !== s), score: aa.score });
      antiAffinity.set(s, list);
      constrained.add(s);
    }
  }
  return { colocations, antiAffinity, dependants, constrained };
});

export class Placer {
  readonly #loads = new Map<string, Load>();
  /**
   * Where a service is moved to by this plan (undefined: taken off its
   * assembly); the others are where the world found them (`foundAt`). Not a
   * map of every service: a pass over 100,000 would fill one for nothing.
   */
  readonly #moved = new Map<string, string | undefined>();
  readonly #heap = new Heap<HeapEntry>(better);
  readonly #colocations: PlacementRules['colocations'];
  readonly #antiAffinity: PlacementRules['antiAffinity'];
  readonly #dependants: PlacementRules['dependants'];
  readonly #constrained: PlacementRules['constrained'];
  #sealed = false;

  constructor(private readonly world: World) {
    const order = nameOrder(world.config);
    for (const a of world.config.assemblies) {
      const { cpuCap, memCap } = capacityOf(world, a);
      // What runs there already, counted as the world was read.
      const tally = world.tallies.get(a.name)!;
      const load: Load = {
        name: a.name,
        order: order.get(a.name)!,
        health: world.health.get(a.name)?.health ?? 'unknown',
        count: tally.found,
        cpuUsed: tally.cpu,
        memUsed: tally.mem,
        free: freeMem(memCap, tally.mem),
        cpuCap,
        memCap,
        load1: world.input.assemblies[a.name]?.metrics?.load1 ?? 0,
        version: 0,
      };
      this.#loads.set(a.name, load);
    }
    const rules = placementRules(world.config);
    this.#colocations = rules.colocations;
    this.#antiAffinity = rules.antiAffinity;
    this.#dependants = rules.dependants;
    this.#constrained = rules.constrained;
  }

  /**
   * Records that a service occupies an assembly (starting there, or placed
   * earlier). `known`: its whereabouts, where the caller has them in hand —
   * a lookup by id less (at 100,000 services, each one a cache miss).
   */
  occupy(service: ServiceConfig, assembly: string, known?: ServiceWhereabouts): void {
    const previous = this.locationOf(service.id, known);
    if (previous === assembly) return;
    if (previous !== undefined) this.#adjust(previous, service, -1);
    this.#moved.set(service.id, assembly);
    this.#adjust(assembly, service, 1);
  }

  /** Forgets a service's location (it is being moved or stopped). */
  vacate(service: ServiceConfig, known?: ServiceWhereabouts): void {
    const previous = this.locationOf(service.id, known);
    // Noted even where it was nowhere: the placing that follows asks again.
    this.#moved.set(service.id, undefined);
    if (previous !== undefined) this.#adjust(previous, service, -1);
  }

  locationOf(serviceId: string, known?: ServiceWhereabouts): string | undefined {
    if (this.#moved.has(serviceId)) return this.#moved.get(serviceId);
    const s = known ?? this.world.byId.get(serviceId);
    return s === undefined ? undefined : foundAt(s);
  }

  isConstrained(serviceId: string): boolean {
    return this.#constrained.has(serviceId);
  }

  #adjust(assembly: string, service: ServiceConfig, sign: 1 | -1): void {
    const load = this.#loads.get(assembly);
    if (!load) return;
    load.count += sign;
    load.cpuUsed += sign * (service.utilization.cpu ?? 0);
    load.memUsed += sign * (service.utilization.memoryMb ?? 0);
    load.free = freeMem(load.memCap, load.memUsed);
    load.version += 1;
    if (this.#sealed && load.health === 'up') {
      this.#heap.push(entryOf(load));
    }
  }

  /**
   * Ends the initial occupancy (what already runs where) and builds the heap
   * once from it, instead of pushing an entry per service on the way.
   */
  #seal(): void {
    if (this.#sealed) return;
    this.#sealed = true;
    for (const load of this.#loads.values()) {
      if (load.health === 'up') this.#heap.push(entryOf(load));
    }
  }

  /** Chooses an assembly and occupies it; or says why none will do. */
  place(request: PlaceRequest): PlaceResult {
    this.#seal();
    const { service } = request;
    const fast =
      service.allowed === 'any' && !this.#constrained.has(service.id) && request.current === null;
    const result = fast ? this.#placeFast(request) : this.#placeScored(request);
    if (result.ok) this.occupy(service, result.assembly);
    return result;
  }

  /**
   * Home if it fits, else the best assembly from the heap. A service others
   * must run with looks first for an assembly that takes them too, then
   * (when there is none) for one that takes it alone.
   */
  #placeFast(request: PlaceRequest): PlaceResult {
    const withDependants = this.#dependants.has(request.service.id);
    return (
      (withDependants ? this.#fastOf(request, true) : undefined) ??
      this.#fastOf(request, false) ?? { ok: false, reason: this.#whyNot(request) }
    );
  }

  #fastOf(request: PlaceRequest, withDependants: boolean): PlaceResult | undefined {
    const home = this.#loads.get(request.service.home);
    if (home && this.#fits(request, home, withDependants))
      return { ok: true, assembly: home.name, score: HOME_SCORE };
    const skipped: HeapEntry[] = [];
    let chosen: Load | undefined;
    // The chosen one stays on the heap: occupying it makes its entry stale
    // and pushes a new one (popping and pushing it back was twice the work).
    while (this.#heap.size > 0) {
      const entry = this.#heap.peek()!;
      if (entry.version !== entry.load.version) {
        this.#heap.pop(); // stale
        continue;
      }
      if (this.#fits(request, entry.load, withDependants)) {
        chosen = entry.load;
        break;
      }
      skipped.push(this.#heap.pop()!);
    }
    for (let i = 0; i < skipped.length; i++) this.#heap.push(skipped[i]!);
    return chosen ? { ok: true, assembly: chosen.name, score: 0 } : undefined;
  }

  /** A method, not a closure per placing: thousands of placings a pass. */
  #fits(request: PlaceRequest, load: Load, withDependants: boolean): boolean {
    return (
      !request.exclude.includes(load.name) &&
      this.#eligible(request.service, load) === null &&
      (!withDependants || this.#dependantsBlock(request.service, load) === null)
    );
  }

  #placeScored(request: PlaceRequest): PlaceResult {
    return (
      this.#bestOf(request, true) ??
      this.#bestOf(request, false) ?? { ok: false, reason: this.#whyNot(request) }
    );
  }

  /** The best candidate (with its dependants counted, or not), or undefined if none is eligible. */
  #bestOf(request: PlaceRequest, withDependants: boolean): PlaceResult | undefined {
    let best: { load: Load; score: number } | undefined;
    for (const candidate of this.#candidates(request, true, withDependants)) {
      if (!candidate.eligible) continue;
      const load = this.#loads.get(candidate.assembly)!;
      if (
        !best ||
        candidate.score > best.score ||
        (candidate.score === best.score && better(load, best.load))
      ) {
        best = { load, score: candidate.score };
      }
    }
    if (!best) return undefined;
    // A running service stays unless another assembly scores strictly higher.
    if (request.current !== null) {
      const stay = this.#candidates({ ...request, exclude: [] }, false, withDependants).find(
        (c) => c.assembly === request.current,
      );
      if (stay?.eligible && stay.score >= best.score) {
        return { ok: true, assembly: request.current, score: stay.score };
      }
    }
    return { ok: true, assembly: best.load.name, score: best.score };
  }

  /** Every assembly's score for the service, with the reasons: `cpectl simulate --explain`. */
  explain(request: PlaceRequest): PlacementExplanation {
    const counted = this.#candidates(request, false, true);
    const candidates = counted.some((c) => c.eligible)
      ? counted
      : this.#candidates(request, false, false);
    const chosen = this.#placeScored(request);
    return { service: request.service.id, chosen: chosen.ok ? chosen.assembly : null, candidates };
  }

  /**
   * Scores for every allowed assembly; with `narrow`, only the one a placed
   * mandatory partner pins the service to (and where it runs now), since no
   * other can be eligible.
   */
  #candidates(request: PlaceRequest, narrow = false, withDependants = false): PlacementScore[] {
    const { service, exclude, current } = request;
    const pinned = narrow ? this.#pinnedTo(service) : undefined;
    const names =
      pinned !== undefined
        ? [...new Set(current === null ? [pinned] : [pinned, current])]
        : service.allowed === 'any'
          ? [...this.#loads.keys()]
          : service.allowed;
    const own = current === null ? undefined : this.locationOf(service.id);
    return names.map((name): PlacementScore => {
      const load = this.#loads.get(name)!;
      const parts: Record<string, number> = {};
      const excludedBy = exclude.includes(name)
        ? 'being moved away from it'
        : this.#eligible(service, load, own === name);
      if (name === service.home)
        parts.home = service.failback === 'auto' ? FAILBACK_SCORE : HOME_SCORE;
      if (name === current) parts.stickiness = service.stickiness;
      let blockedBy = excludedBy;
      for (const c of this.#colocations.get(service.id) ?? []) {
        const where = this.locationOf(c.other);
        if (where === name) parts[`with ${c.other}`] = c.score;
        else if (c.score >= SCORE_INFINITY && !(c.whileRunning && where === undefined)) {
          blockedBy ??=
            where === undefined
              ? `${c.other} (which it must run with) is not running`
              : `must run with ${c.other} on ${where}`;
        }
      }
      for (const aa of this.#antiAffinity.get(service.id) ?? []) {
        const clash = aa.others.find((o) => this.locationOf(o) === name);
        if (clash === undefined) continue;
        if (aa.score <= -SCORE_INFINITY) blockedBy ??= `must not share an assembly with ${clash}`;
        else parts[`apart from ${clash}`] = aa.score;
      }
      if (withDependants && blockedBy === null) blockedBy = this.#dependantsBlock(service, load);
      const score = Object.values(parts).reduce((sum, p) => sum + p, 0);
      return { assembly: name, eligible: blockedBy === null, score, parts, excludedBy: blockedBy };
    });
  }

  /** Why a service's mandatory dependants could not run with it on this assembly, or null. */
  #dependantsBlock(service: ServiceConfig, load: Load): string | null {
    let cpu = service.utilization.cpu ?? 0;
    let mem = service.utilization.memoryMb ?? 0;
    if (this.locationOf(service.id) === load.name) cpu = mem = 0; // counted already
    for (const d of this.#dependants.get(service.id) ?? []) {
      const there = this.locationOf(d.id) === load.name;
      const why = this.canHost(d, load.name, service.id);
      if (why !== null) return `${d.id} (which must run with it) cannot: ${why}`;
      if (!there) {
        cpu += d.utilization.cpu ?? 0;
        mem += d.utilization.memoryMb ?? 0;
      }
    }
    if (load.cpuCap !== null && cpu > 0 && load.cpuUsed + cpu > load.cpuCap)
      return `no room for it and what must run with it (${round(cpu)} CPU, ${round(load.cpuCap - load.cpuUsed)} free)`;
    if (load.memCap !== null && mem > 0 && load.memUsed + mem > load.memCap)
      return `no room for it and what must run with it (${round(mem)} MiB, ${round(load.memCap - load.memUsed)} MiB free)`;
    return null;
  }

  /**
   * Null if the service could run on the assembly beside what is placed
   * there (health, allowed list, room, services it must never share with,
   * and every other service it must run with there); else why not. For a
   * service that would follow `partner` there (which is not counted: it is
   * the one being placed).
   */
  canHost(service: ServiceConfig, assembly: string, partner?: string): string | null {
    const load = this.#loads.get(assembly);
    if (!load) return 'no such assembly';
    const why = this.#eligible(service, load, this.locationOf(service.id) === assembly);
    if (why !== null) return why;
    for (const aa of this.#antiAffinity.get(service.id) ?? []) {
      if (aa.score > -SCORE_INFINITY) continue;
      const clash = aa.others.find((o) => this.locationOf(o) === assembly);
      if (clash !== undefined) return `must not share an assembly with ${clash}`;
    }
    for (const c of this.#colocations.get(service.id) ?? []) {
      if (c.score < SCORE_INFINITY || c.other === partner) continue;
      // One not running (yet) is placed later, where this one's place counts.
      const where = this.locationOf(c.other);
      if (where !== undefined && where !== assembly) return `must run with ${c.other} on ${where}`;
    }
    return null;
  }

  /** Where a mandatory partner of the service is placed, if any. */
  #pinnedTo(service: ServiceConfig): string | undefined {
    for (const c of this.#colocations.get(service.id) ?? []) {
      if (c.score < SCORE_INFINITY) continue;
      const where = this.locationOf(c.other);
      if (where !== undefined) return where;
    }
    return undefined;
  }

  /** Null if the assembly could take the service, else why not. */
  #eligible(service: ServiceConfig, load: Load, alreadyThere = false): string | null {
    const { health } = load;
    if (health !== 'up' && !(alreadyThere && health === 'suspect')) return `assembly is ${health}`;
    if (service.allowed !== 'any' && !service.allowed.includes(load.name)) return 'not allowed';
    const cpu = service.utilization.cpu ?? 0;
    const mem = service.utilization.memoryMb ?? 0;
    const selfCpu = alreadyThere ? cpu : 0;
    const selfMem = alreadyThere ? mem : 0;
    if (load.cpuCap !== null && cpu > 0 && load.cpuUsed - selfCpu + cpu > load.cpuCap) {
      return `needs ${cpu} CPU, ${round(load.cpuCap - load.cpuUsed + selfCpu)} free`;
    }
    if (load.memCap !== null && mem > 0 && load.memUsed - selfMem + mem > load.memCap) {
      return `needs ${mem} MiB, ${round(load.memCap - load.memUsed + selfMem)} MiB free`;
    }
    return null;
  }

  #whyNot(request: PlaceRequest): string {
    const reasons = new Map<string, string[]>();
    for (const c of this.#candidates(request)) {
      if (c.excludedBy === null) continue;
      const list = reasons.get(c.excludedBy) ?? [];
      list.push(c.assembly);
      reasons.set(c.excludedBy, list);
    }
    const parts = [...reasons].map(([why, names]) => `${shortList(names)}: ${why}`);
    return `no assembly can run ${request.service.id}${parts.length ? ` (${parts.join('; ')})` : ''}`;
  }
}

/** Fewer services, then more free memory, then lower load, then the name. */
function better(a: Ranked, b: Ranked): boolean {
  if (a.count !== b.count) return a.count < b.count;
  if (a.free !== b.free) return a.free > b.free;
  if (a.load1 !== b.load1) return a.load1 < b.load1;
  return a.order < b.order;
}

function freeMem(memCap: number | null, memUsed: number): number {
  return memCap === null ? Number.POSITIVE_INFINITY : memCap - memUsed;
}

/** A load's heap entry, as it is now. */
function entryOf(load: Load): HeapEntry {
  return {
    load,
    version: load.version,
    count: load.count,
    free: load.free,
    load1: load.load1,
    order: load.order,
  };
}

/** Each assembly's place in string order of the names (as `<` compares them), once per config. */
const nameOrder = memoized(
  (config: DeployableConfig): ReadonlyMap<string, number> =>
    new Map(
      config.assemblies
        .map((a) => a.name)
        .sort()
        .map((name, i) => [name, i]),
    ),
);

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function shortList(names: readonly string[]): string {
  return names.length <= 4
    ? names.join(', ')
    : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}
