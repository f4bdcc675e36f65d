/**
 * Property test of where lost services go (fast-check): for random
 * deployables without placement constraints, some assemblies down, the
 * planner must move each lost service where the documented order puts it
 * (pe/placement.ts): one at a time, bigger first, each to the up assembly
 * with room that has the fewest services, then the most free memory, then
 * the lowest load, then the first name — worked out here the plain way.
 * The same whether a service may go anywhere (the placer's fast path, a
 * heap) or lists every assembly as allowed (scored, candidate by candidate).
 * And with capacities that may be exceeded from the start and allowed
 * lists, no service is placed where it may not run, on an assembly that is
 * not up, or beyond a capacity; with random mandatory colocations (chains,
 * a service with two partners) and anti-affinities, a service placed runs
 * with its partners and apart from what it must avoid. And with random
 * orders, what a `then` does waits for what its `first` does in the same
 * plan, and a colocated `then` placed goes where its `first` goes (an
 * optional one, where its `first` runs at all: it may run without it). Any mix
 * of these constraints makes a plan (no dependency cycle) whose `after`
 * lists name only its own actions, and that does at most one thing (start,
 * stop, move, restart) to each service.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  loadDeployableConfig,
  type DeployableConfig,
  type ServiceConfig,
} from '../../lib/config/index.js';
import { plan, type Action, type AssemblyObservation } from '../../pe/index.js';
import { runningAtHome } from '../support/pe.js';

const NOW = 100_000;
/** Up to 1,000 random deployables a property: ~7 s under coverage, more on a busy machine. */
const PROPERTY_TIMEOUT_MS = 120_000;

interface AssemblySpec {
  readonly up: boolean;
  /** Each service's memory (MiB); 0: it declares none. */
  readonly services: readonly number[];
  /** Declared memory beyond what its own services take; null: no capacity declared. */
  readonly spare: number | null;
  readonly load1: number | null;
}

const assemblySpec: fc.Arbitrary<AssemblySpec> = fc.record({
  up: fc.boolean(),
  services: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 50, max: 450 })), {
    minLength: 1,
    maxLength: 4,
  }),
  spare: fc.option(fc.integer({ min: 0, max: 1000 })),
  load1: fc.option(fc.integer({ min: 0, max: 3 })),
});

/** Its declared memory (MiB), or null. */
function capacityOf(a: AssemblySpec): number | null {
  return a.spare === null ? null : Math.max(1, a.services.reduce((sum, m) => sum + m, 0) + a.spare);
}

/** `listed`: every service lists every assembly as allowed (the scored path, not the fast one). */
function configXml(specs: readonly AssemblySpec[], listed: boolean): string {
  const allowed = listed ? `<placement allowed="${specs.map((_, i) => `a${i}`).join(' ')}"/>` : '';
  const parts = [
    '<deployable name="p" uuid="p-1" schema_version="2">',
    '<heartbeat interval="1s" missed="3"/><recovery driver="command" command="/bin/true"/><assemblies>',
  ];
  specs.forEach((a, i) => {
    const cap = capacityOf(a);
    const capacity = cap === null ? '' : `<capacity memory="${cap}M"/>`;
    parts.push(`<assembly name="a${i}" uuid="u-a${i}">${capacity}<services>`);
    a.services.forEach((m, s) => {
      const utilization = m > 0 ? `<utilization memory="${m}M"/>` : '';
      parts.push(
        `<service name="s${s}" class="systemd" type="s${s}.service">${allowed}${utilization}</service>`,
      );
    });
    parts.push('</services></assembly>');
  });
  parts.push('</assemblies></deployable>');
  return parts.join('');
}

/** The moves the documented order makes, as "move:SERVICE:FROM>TO" ids. */
function expectedMoves(
  specs: readonly AssemblySpec[],
  services: readonly ServiceConfig[],
): string[] {
  interface Room {
    name: string;
    count: number;
    used: number;
    readonly cap: number | null;
    readonly load1: number;
  }
  const rooms = new Map<string, Room>();
  specs.forEach((a, i) => {
    if (!a.up) return;
    const cap = capacityOf(a);
    rooms.set(`a${i}`, { name: `a${i}`, count: 0, used: 0, cap, load1: a.load1 ?? 0 });
  });
  const memOf = (s: ServiceConfig): number => s.utilization.memoryMb ?? 0;
  const lost: ServiceConfig[] = [];
  for (const s of services) {
    const home = rooms.get(s.home);
    if (!home) lost.push(s);
    else {
      home.count += 1;
      home.used += memOf(s);
    }
  }
  lost.sort((a, b) => memOf(b) - memOf(a) || (a.id < b.id ? -1 : 1));
  const free = (r: Room): number => (r.cap === null ? Number.POSITIVE_INFINITY : r.cap - r.used);
  const better = (a: Room, b: Room): boolean =>
    a.count !== b.count
      ? a.count < b.count
      : free(a) !== free(b)
        ? free(a) > free(b)
        : a.load1 !== b.load1
          ? a.load1 < b.load1
          : a.name < b.name;
  const moves: string[] = [];
  for (const s of lost) {
    const mem = memOf(s);
    let best: Room | undefined;
    for (const r of rooms.values()) {
      if (r.cap !== null && mem > 0 && r.used + mem > r.cap) continue;
      if (!best || better(r, best)) best = r;
    }
    if (!best) continue; // no room anywhere: blocked
    best.count += 1;
    best.used += mem;
    moves.push(`move:${s.id}:${s.home}>${best.name}`);
  }
  return moves.sort();
}

/** Assemblies a0, a1, … as heard: up (a beat 200 ms ago) or down (a minute ago). */
function observed(
  specs: readonly { readonly up: boolean; readonly load1?: number | null }[],
): Record<string, AssemblyObservation> {
  const assemblies: Record<string, AssemblyObservation> = {};
  specs.forEach((a, i) => {
    assemblies[`a${i}`] = {
      lastHeartbeat: a.up ? NOW - 200 : NOW - 60_000,
      epoch: `e-a${i}`,
      metrics: a.load1 === undefined || a.load1 === null ? null : { load1: a.load1 },
      recovery: null,
      failures: [],
      lastEscalation: null,
    };
  });
  return assemblies;
}

/** For the limits: capacities that may be exceeded from the start, and allowed lists. */
interface LimitedSpec {
  readonly up: boolean;
  readonly services: readonly {
    readonly mem: number;
    readonly cpu: number;
    /** Other assemblies it may run on (its home always), by index; null: any. */
    readonly allowed: readonly number[] | null;
  }[];
  readonly mem: number | null;
  readonly cpu: number | null;
}

const limitedSpec: fc.Arbitrary<LimitedSpec> = fc.record({
  up: fc.boolean(),
  services: fc.array(
    fc.record({
      mem: fc.integer({ min: 0, max: 400 }),
      cpu: fc.integer({ min: 0, max: 3 }),
      allowed: fc.option(fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 4 })),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  mem: fc.option(fc.integer({ min: 1, max: 1500 })),
  cpu: fc.option(fc.integer({ min: 1, max: 6 })),
});

function limitedXml(specs: readonly LimitedSpec[]): string {
  const parts = [
    '<deployable name="l" uuid="l-1" schema_version="2">',
    '<heartbeat interval="1s" missed="3"/><recovery driver="command" command="/bin/true"/><assemblies>',
  ];
  specs.forEach((a, i) => {
    const mem = a.mem === null ? '' : ` memory="${a.mem}M"`;
    const cpu = a.cpu === null ? '' : ` cpu="${a.cpu}"`;
    parts.push(
      `<assembly name="a${i}" uuid="u-a${i}">${mem || cpu ? `<capacity${mem}${cpu}/>` : ''}<services>`,
    );
    a.services.forEach((s, j) => {
      const names = new Set([i, ...(s.allowed ?? []).filter((x) => x < specs.length)]);
      const allowed =
        s.allowed === null
          ? ''
          : `<placement allowed="${[...names].map((x) => `a${x}`).join(' ')}"/>`;
      const uses = `${s.mem > 0 ? ` memory="${s.mem}M"` : ''}${s.cpu > 0 ? ` cpu="${s.cpu}"` : ''}`;
      const utilization = uses ? `<utilization${uses}/>` : '';
      parts.push(
        `<service name="s${j}" class="systemd" type="s${j}.service">${allowed}${utilization}</service>`,
      );
    });
    parts.push('</services></assembly>');
  });
  parts.push('</assemblies></deployable>');
  return parts.join('');
}

/** Plain assemblies (a0, a1, …; up or down) of plain services (rsc_aI_sJ). */
interface PlainSpec {
  readonly up: boolean;
  readonly services: number;
}

const plainSpecs = fc.array(
  fc.record({ up: fc.boolean(), services: fc.integer({ min: 1, max: 3 }) }),
  { minLength: 3, maxLength: 7 },
);

function plainIds(specs: readonly PlainSpec[]): string[] {
  return specs.flatMap((a, i) => Array.from({ length: a.services }, (_, j) => `rsc_a${i}_s${j}`));
}

/** The config of plain assemblies with these constraints, or undefined where it is refused (a cycle, say). */
async function plainConfig(
  specs: readonly PlainSpec[],
  constraints: readonly string[],
): Promise<DeployableConfig | undefined> {
  const xml = limitedXml(
    specs.map((a) => ({
      up: a.up,
      services: Array.from({ length: a.services }, () => ({ mem: 0, cpu: 0, allowed: null })),
      mem: null,
      cpu: null,
    })),
  ).replace('</deployable>', `<constraints>${constraints.join('')}</constraints></deployable>`);
  return (await loadDeployableConfig(xml).catch(() => undefined))?.config;
}

/** What a plan leaves: which services it places, what each one does, and where each runs after. */
function outcome(
  actions: readonly Action[],
  config: DeployableConfig,
  specs: readonly { readonly up: boolean }[],
): {
  placed: Set<string>;
  acting: Map<string, string>;
  runsOn: (id: string) => string | undefined;
} {
  const where = new Map<string, string | undefined>(config.services.map((s) => [s.id, s.home]));
  const placed = new Set<string>();
  const acting = new Map<string, string>();
  for (const a of actions) {
    if (a.service === undefined) continue;
    if (a.type === 'move' || a.type === 'start') placed.add(a.service);
    if (a.type === 'move' || a.type === 'start' || a.type === 'restart')
      acting.set(a.service, a.id);
    if (a.type === 'move') where.set(a.service, a.to);
    if (a.type === 'start') where.set(a.service, a.assembly);
    if (a.type === 'stop') where.set(a.service, undefined);
  }
  const runsOn = (id: string): string | undefined => {
    const at = where.get(id);
    return at !== undefined && specs[Number(at.slice(1))]!.up ? at : undefined;
  };
  return { placed, acting, runsOn };
}

describe('placing lost services (property)', function () {
  this.timeout(PROPERTY_TIMEOUT_MS);
  it('moves each to the best assembly with room, one at a time, as documented, by either path', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(assemblySpec, { minLength: 2, maxLength: 12 }),
        fc.boolean(),
        async (specs, listed) => {
          const { config } = await loadDeployableConfig(configXml(specs, listed));
          const input = runningAtHome(config, observed(specs));
          const { plan: result } = await plan(input, NOW);
          const moves = result.actions
            .filter((a) => a.type === 'move')
            .map((a) => a.id)
            .sort();
          assert.deepEqual(moves, expectedMoves(specs, config.services));
        },
      ),
      { numRuns: 300 },
    );
  });
  it('never places a service where it is not allowed, on an assembly not up, or beyond a capacity', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(limitedSpec, { minLength: 2, maxLength: 8 }), async (specs) => {
        const { config } = await loadDeployableConfig(limitedXml(specs));
        const { plan: result } = await plan(runningAtHome(config, observed(specs)), NOW);
        const where = new Map(config.services.map((s) => [s.id, s.home]));
        const placed = new Map<string, string>();
        for (const a of result.actions) {
          const to = a.type === 'move' ? a.to : a.type === 'start' ? a.assembly : undefined;
          if (a.service === undefined || to === undefined) continue;
          where.set(a.service, to);
          placed.set(a.service, to);
        }
        for (const s of config.services) {
          const to = placed.get(s.id);
          if (to === undefined) continue;
          const i = Number(to.slice(1));
          assert.ok(specs[i]!.up, `${s.id} placed on ${to}, which is down`);
          assert.ok(s.allowed === 'any' || s.allowed.includes(to), `${s.id} placed on ${to}`);
        }
        // Where a service was placed, what now runs there fits each capacity
        // that service uses (one that stays may overcommit its own assembly).
        specs.forEach((a, i) => {
          const name = `a${i}`;
          const here = config.services.filter((s) => where.get(s.id) === name);
          const came = here.filter((s) => placed.get(s.id) === name);
          const total = (k: 'memoryMb' | 'cpu', list: typeof here): number =>
            list.reduce((sum, s) => sum + (s.utilization[k] ?? 0), 0);
          if (a.mem !== null && total('memoryMb', came) > 0)
            assert.ok(total('memoryMb', here) <= a.mem, `${name} over its memory`);
          if (a.cpu !== null && total('cpu', came) > 0)
            assert.ok(total('cpu', here) <= a.cpu, `${name} over its CPUs`);
        });
      }),
      { numRuns: 300 },
    );
  });
  it('keeps mandatory colocations together and mandatory anti-affinities apart, chains too', async () => {
    const pair = fc.tuple(fc.nat(), fc.nat());
    await fc.assert(
      fc.asyncProperty(
        plainSpecs,
        fc.array(pair, { maxLength: 3 }),
        fc.array(pair, { maxLength: 3 }),
        async (specs, withPairs, apartPairs) => {
          const ids = plainIds(specs);
          const pairs = (list: readonly [number, number][]): [string, string][] =>
            list
              .map(([x, y]): [string, string] => [ids[x % ids.length]!, ids[y % ids.length]!])
              .filter(([x, y]) => x !== y);
          const withs = pairs(withPairs);
          const apart = pairs(apartPairs);
          const config = await plainConfig(specs, [
            ...withs.map(([x, y], k) => `<colocation id="c${k}" service="${x}" with="${y}"/>`),
            ...apart.map(([x, y], k) => `<anti_affinity id="aa${k}" services="${x} ${y}"/>`),
          ]);
          fc.pre(config !== undefined); // a colocation an anti-affinity forbids is refused
          const { plan: result } = await plan(runningAtHome(config, observed(specs)), NOW);
          const { placed, runsOn } = outcome(result.actions, config, specs);
          const plain = result.actions.map((a) => a.id).join(' ');
          for (const [x, y] of withs)
            if (placed.has(x)) assert.equal(runsOn(x), runsOn(y), `${x} with ${y}: ${plain}`);
          for (const [x, y] of apart)
            if (placed.has(x) || placed.has(y))
              assert.ok(
                runsOn(x) === undefined || runsOn(x) !== runsOn(y),
                `${x} apart from ${y}: ${plain}`,
              );
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('ordering what a plan does (property)', function () {
  this.timeout(PROPERTY_TIMEOUT_MS);
  it('runs every then after its first when both act, and a colocated then where its first goes', async () => {
    const order = fc.record({
      first: fc.nat(),
      then: fc.nat(),
      colocate: fc.boolean(),
      optional: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(plainSpecs, fc.array(order, { maxLength: 4 }), async (specs, drawn) => {
        const ids = plainIds(specs);
        const orders = drawn
          .map((o) => ({
            ...o,
            first: ids[o.first % ids.length]!,
            then: ids[o.then % ids.length]!,
          }))
          .filter((o) => o.first !== o.then);
        const config = await plainConfig(
          specs,
          orders.map(
            (o, k) =>
              `<service_dependency id="o${k}" first="${o.first}" then="${o.then}"${o.colocate ? ' colocate="true"' : ''}${o.optional ? ' kind="optional"' : ''}/>`,
          ),
        );
        fc.pre(config !== undefined); // a cycle is refused
        const { plan: result } = await plan(runningAtHome(config, observed(specs)), NOW);
        const { placed, acting, runsOn } = outcome(result.actions, config, specs);
        const byId = new Map(result.actions.map((a) => [a.id, a]));
        const waitsFor = (id: string, other: string): boolean => {
          const seen = new Set<string>();
          for (const stack = [id]; stack.length > 0;) {
            const next = stack.pop()!;
            if (next === other) return true;
            if (seen.has(next)) continue;
            seen.add(next);
            stack.push(...(byId.get(next)?.after ?? []));
          }
          return false;
        };
        const plain = result.actions.map((a) => `${a.id} after [${a.after.join(' ')}]`).join('; ');
        for (const o of orders) {
          const t = acting.get(o.then);
          const f = acting.get(o.first);
          if (t !== undefined && f !== undefined)
            assert.ok(waitsFor(t, f), `${t} waits for ${f}: ${plain}`);
          if (o.colocate && !o.optional && placed.has(o.then))
            assert.equal(runsOn(o.then), runsOn(o.first), `${o.then} with ${o.first}: ${plain}`);
          // An optional one too, where its first runs: the then may run without it, not apart.
          if (o.colocate && (placed.has(o.then) || placed.has(o.first))) {
            const [t, f] = [runsOn(o.then), runsOn(o.first)];
            if (t !== undefined && f !== undefined)
              assert.equal(t, f, `${o.then} with ${o.first}: ${plain}`);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

/** What a plan does to a service, as opposed to what it notes of it (blocked, notify, probe). */
const DOING = new Set(['start', 'stop', 'move', 'restart']);

describe('planning with every kind of constraint (property)', function () {
  this.timeout(PROPERTY_TIMEOUT_MS);
  it('always makes a plan whose dependencies name its own actions, without a cycle, and does one thing to each service', async () => {
    const constraint = fc.record({
      a: fc.nat(),
      b: fc.nat(),
      kind: fc.integer({ min: 0, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(plainSpecs, fc.array(constraint, { maxLength: 5 }), async (specs, drawn) => {
        const ids = plainIds(specs);
        const constraints = drawn.flatMap(({ a, b, kind }, k) => {
          const [x, y] = [ids[a % ids.length]!, ids[b % ids.length]!];
          if (x === y) return [];
          return [
            `<colocation id="c${k}" service="${x}" with="${y}"/>`,
            `<anti_affinity id="aa${k}" services="${x} ${y}"/>`,
            `<service_dependency id="o${k}" first="${x}" then="${y}" colocate="true"/>`,
            `<service_dependency id="o${k}" first="${x}" then="${y}"/>`,
          ][kind]!;
        });
        const config = await plainConfig(specs, constraints);
        fc.pre(config !== undefined);
        // plan() throws on a dependency cycle: a colocation against an order closed one.
        const { plan: result } = await plan(runningAtHome(config, observed(specs)), NOW);
        const planned = new Set(result.actions.map((a) => a.id));
        for (const a of result.actions)
          for (const d of a.after) assert.ok(planned.has(d), `${a.id} after ${d}, not in the plan`);
        // One thing done to each service: a restart beside a stop ran it again,
        // against what stopped it. (A blocked action only records a placing
        // the plan could not make, beside what it does.)
        const doing = new Map<string, string>();
        for (const a of result.actions) {
          if (a.service === undefined || !DOING.has(a.type)) continue;
          const other = doing.get(a.service);
          assert.equal(other, undefined, `${a.service}: ${other} and ${a.id}`);
          doing.set(a.service, a.id);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
