/**
 * The constraint passes, after every service is placed: mandatory
 * colocations (dependants follow, or stop), ordering (first before then;
 * stops the other way round; cascades), fencing before recovery.
 */
import { memoized } from '../lib/memo.js';
import type { Draft } from './actions.js';
import type { PlanContext } from './context.js';
import { runsWith, type RunsWith } from './runs-with.js';
import type { Action, FactValue } from './types.js';
import { push, type ServiceWhereabouts, type World } from './world.js';

/**
 * A fence and a recovery of one assembly: the fence first. Recovering
 * (rebooting, rebuilding) a node that is not yet known to be off could
 * let it run a never-twice service beside the copy started elsewhere; and
 * a recovered assembly is the one to keep, not to power off after.
 */
export function fenceBeforeRecovery(ctx: PlanContext): void {
  for (const fence of ctx.actions.filter((a) => a.type === 'fence-assembly')) {
    for (const recover of ctx.actions.filter(
      (a) => a.type === 'recover-assembly' && a.assembly === fence.assembly,
    ))
      ctx.actions.addDependency(recover.id, fence.id);
  }
}

type Colocation = World['config']['constraints']['colocation'][number];
type Order = World['config']['constraints']['order'][number];

/** A service that must run where another does: a mandatory colocation, or a colocated order. */
interface Link {
  readonly service: string;
  readonly with: string;
  readonly rule: string;
  readonly facts: Readonly<Record<string, FactValue>>;
  readonly moves: (dest: string) => string;
  /** A colocated optional order: only where its partner runs (it may run without it). */
  readonly whileRunning: boolean;
}

/** What a link's actions say: the rule, the facts they record, why the service moves along. */
type Words = Pick<Link, 'rule' | 'facts' | 'moves'>;

function colocationWords(c: Colocation): Words {
  return {
    rule: `colocation:${c.id}`,
    facts: { constraint: c.id, service: c.service, with: c.with },
    moves: (dest) => `${c.service} must run with ${c.with}, which goes to ${dest}`,
  };
}

function orderWords(o: Order): Words {
  return {
    rule: `order:${o.id}`,
    facts: { constraint: o.id, first: o.first, then: o.then, kind: o.kind },
    moves: (dest) =>
      `${o.then} runs with ${o.first} (colocated dependency), which moves to ${dest}`,
  };
}

/** A link as `runsWith` reads it: which services, and whether only while the partner runs. */
function linkOf(r: RunsWith): Link {
  return {
    service: r.service,
    with: r.with,
    whileRunning: r.whileRunning,
    ...(r.kind === 'colocation' ? colocationWords(r.constraint) : orderWords(r.constraint)),
  };
}

/** A service that must run with another moves along when that one moves or starts elsewhere. */
export function followColocations(ctx: PlanContext): void {
  const { config } = ctx.world;
  const links = runsWith(config)
    .filter((r) => r.kind === 'colocation')
    .map(linkOf);
  // Chains (a with b with c) settle in as many rounds as they are long.
  for (let round = 0, changed = true; changed && round <= links.length; round++) {
    changed = false;
    for (const link of links) if (moveAlong(ctx, link) !== 'none') changed = true;
  }
  stopStranded(ctx, mandatoryColocations(config));
}

/**
 * Right after `placed` is placed: what must run with it (a mandatory
 * colocation, a colocated mandatory order) moves along now, and what must
 * run with those, before anything placed later is pinned to where they were
 * (a with b with c: c lost, b running, a lost: a must go where b goes with
 * c, not where b was).
 */
export function followPlaced(ctx: PlanContext, placed: string): void {
  const byPartner = linksByPartner(ctx.world.config);
  if (!byPartner.has(placed)) return; // most: nothing runs with it
  const partners = [placed];
  // One that cannot go where its partner goes may once others have moved
  // along (what it must also run with): it is stopped only when nothing more
  // moves (a then of two colocated orders was stopped, then placed beside them).
  let waiting: Link[] = [];
  const tryAll = (links: readonly Link[]): void => {
    for (const link of links) {
      const along = moveAlong(ctx, link, false);
      if (along === 'moved') partners.push(link.service);
      else if (along === 'cannot-yet') waiting.push(link);
    }
  };
  while (partners.length > 0) {
    for (let next = partners.pop(); next !== undefined; next = partners.pop())
      tryAll(byPartner.get(next) ?? []);
    const retry = waiting;
    waiting = [];
    tryAll(retry);
  }
  for (const link of waiting) moveAlong(ctx, link);
}

function mandatoryColocations(config: World['config']): readonly Colocation[] {
  return runsWith(config).flatMap((r) => (r.kind === 'colocation' ? [r.constraint] : []));
}

/** Every link by partner (`with`), once per config: looked up for every placing. */
const linksByPartner = memoized((config: World['config']): ReadonlyMap<string, Link[]> => {
  const byPartner = new Map<string, Link[]>();
  for (const r of runsWith(config)) push(byPartner, r.with, linkOf(r));
  return byPartner;
});

/**
 * What `moveAlong` did: moved the service along; stopped it, as it cannot go
 * where its partner goes; nothing; or, asked not to stop it yet, nothing
 * because it cannot go there now.
 */
type Along = 'moved' | 'stopped' | 'none' | 'cannot-yet';

/** Moves a link's service along with its partner's move or start, where it runs elsewhere and nothing else is planned for it. */
function moveAlong(ctx: PlanContext, link: Link, stopIfCannot = true): Along {
  const partner = ctx.actions.findFor(link.with, (a) => a.type === 'move' || a.type === 'start');
  const dest = partner?.type === 'move' ? partner.to : partner?.assembly;
  const s = ctx.world.byId.get(link.service)!;
  const at = s.running[0];
  if (!partner || dest === undefined || at === undefined || at === dest || s.busy.length > 0)
    return 'none';
  if (ctx.actions.findFor(link.service, (a) => a.type !== 'notify' && a.type !== 'probe'))
    return 'none';
  return follow(
    ctx,
    s,
    at,
    dest,
    { service: link.with, action: partner.id },
    link.rule,
    { facts: link.facts, moves: link.moves(dest) },
    stopIfCannot,
  );
}

/**
 * The last word on mandatory links, once everything is placed: a service
 * planned to run apart from what it must run with, or beside nothing where
 * this plan stops or blocks its partner, does not run — it stops where it
 * runs, or what would have placed it is blocked. Placing one service at a
 * time can end so (a service with two partners whose own constraints put
 * them apart); as in Pacemaker, what no assembly satisfies every mandatory
 * constraint on does not run.
 */
export function stopApart(ctx: PlanContext): void {
  const links = [...linksByPartner(ctx.world.config).values()].flat();
  for (let round = 0, changed = true; changed && round <= links.length; round++) {
    changed = false;
    for (const link of links) {
      const s = ctx.world.byId.get(link.service)!;
      const here = ctx.placer.locationOf(link.service);
      if (here === undefined || s.busy.length > 0) continue;
      const there = ctx.placer.locationOf(link.with);
      // A colocated optional order's then may run without its first.
      const gone =
        there === undefined &&
        !link.whileRunning &&
        ctx.actions.findFor(link.with, (a) => a.type === 'stop' || a.type === 'blocked') !==
          undefined;
      if (there === here || (there === undefined && !gone)) continue;
      const why =
        there === undefined
          ? `${link.service} must run with ${link.with}, which this plan stops`
          : `${link.service} must run with ${link.with}, which goes to ${there}, and cannot run there as well`;
      // What would have run it (a restart too: it does not run at all).
      const planned = ctx.actions.findFor(
        link.service,
        (a) => a.type === 'move' || a.type === 'start' || a.type === 'restart',
      );
      const at = s.running[0];
      const draft = {
        service: link.service,
        rule: link.rule,
        facts: link.facts,
      };
      if (at !== undefined) {
        const stop = {
          ...draft,
          id: `stop:${link.service}@${at}`,
          type: 'stop' as const,
          assembly: at,
          reason: `${why}: stop it`,
        };
        if (planned) ctx.actions.replace(planned.id, stop);
        else ctx.actions.add(stop);
      } else if (planned) {
        ctx.actions.replace(planned.id, {
          ...draft,
          id: `blocked:${link.service}`,
          type: 'blocked',
          reason: `${why}: not started`,
        });
      }
      ctx.placer.vacate(s.config, s);
      changed = true;
    }
  }
}

/** A service that must run with one that can run nowhere stops too (as Pacemaker does). */
export function stopStranded(
  ctx: PlanContext,
  mandatory: World['config']['constraints']['colocation'],
): void {
  const { world } = ctx;
  const placing = (a: { readonly type: string }): boolean =>
    a.type === 'start' || a.type === 'move';
  for (const c of mandatory) {
    const partner = world.byId.get(c.with)!;
    const s = world.byId.get(c.service)!;
    const at = s.running[0];
    if (at === undefined || s.busy.length > 0) continue;
    if (partner.running.length > 0 || partner.unknown.length > 0 || partner.unseen) continue;
    if (partner.busy.some((a) => placing(a) || a.type === 'restart')) continue;
    if (ctx.actions.findFor(c.with, placing)) continue;
    if (ctx.actions.findFor(c.service, (a) => a.type !== 'notify' && a.type !== 'probe')) continue;
    stopBroken(
      ctx,
      s,
      at,
      `colocation:${c.id}`,
      { constraint: c.id, service: c.service, with: c.with },
      `${c.service} must run with ${c.with}, which cannot run anywhere: stop it until ${c.with} runs again`,
    );
  }
}

/** A dependant moves after its partner to where the partner goes, or stops if it cannot run there. */
function follow(
  ctx: PlanContext,
  s: ServiceWhereabouts,
  at: string,
  dest: string,
  partner: { readonly service: string; readonly action: string },
  rule: string,
  why: { readonly facts: Readonly<Record<string, FactValue>>; readonly moves: string },
  stopIfCannot = true,
): Along {
  const sid = s.config.id;
  const cannot = ctx.placer.canHost(s.config, dest, partner.service);
  if (cannot !== null) {
    if (!stopIfCannot) return 'cannot-yet';
    // It cannot go where its partner goes: the colocation is broken, and it stops.
    stopBroken(
      ctx,
      s,
      at,
      rule,
      why.facts,
      `${why.moves}, where ${sid} cannot run (${cannot}): stop it`,
    );
    return 'stopped';
  }
  const id = ctx.actions.add({
    id: `move:${sid}:${at}>${dest}`,
    type: 'move',
    service: sid,
    from: at,
    to: dest,
    rule,
    reason: rule.startsWith('colocation:') ? `${why.moves}: move it along` : why.moves,
    facts: why.facts,
  });
  // After its partner: an order's first always, a colocation's partner
  // unless an order puts this one first.
  if (rule.startsWith('order:')) ctx.actions.addDependency(id, partner.action);
  else ctx.actions.addSoftDependency(id, partner.action);
  ctx.placer.occupy(s.config, dest, s);
  return 'moved';
}

export function stopBroken(
  ctx: PlanContext,
  s: ServiceWhereabouts,
  at: string,
  rule: string,
  facts: Readonly<Record<string, FactValue>>,
  reason: string,
): void {
  ctx.actions.add({
    id: `stop:${s.config.id}@${at}`,
    type: 'stop',
    service: s.config.id,
    assembly: at,
    rule,
    reason,
    facts,
  });
  ctx.placer.vacate(s.config, s);
}

/** first before then (and stops the other way round); mandatory orders block or cascade. */
export function orderByConstraints(ctx: PlanContext): void {
  const { world } = ctx;
  const acting = (sid: string): Action | undefined =>
    ctx.actions.findFor(
      sid,
      (a) => a.type === 'start' || a.type === 'move' || a.type === 'restart',
    );
  const inFlight = (sid: string): string | undefined =>
    world.byId
      .get(sid)
      ?.busy.find((a) => a.type === 'start' || a.type === 'move' || a.type === 'restart')?.id;
  const orders = topologicalOrders(world);
  for (const o of orders) {
    const first = world.byId.get(o.first)!;
    const then = world.byId.get(o.then)!;
    const f = acting(o.first);
    const t = acting(o.then);
    const fStop = ctx.actions.findFor(o.first, (a) => a.type === 'stop');
    const tStop = ctx.actions.findFor(o.then, (a) => a.type === 'stop');
    if (fStop && tStop) ctx.actions.addDependency(fStop.id, tStop.id);
    const facts = { constraint: o.id, first: o.first, then: o.then, kind: o.kind };
    // Its first cannot run (nothing starts it, and it runs nowhere it might be).
    const firstDown =
      o.kind === 'mandatory' &&
      !f &&
      inFlight(o.first) === undefined &&
      first.running.length === 0 &&
      first.unknown.length === 0 &&
      !first.unseen;
    // A mandatory dependant stops too, and starts again after it.
    const stopThen = (at: string): Draft => ({
      id: `stop:${o.then}@${at}`,
      type: 'stop',
      service: o.then,
      assembly: at,
      rule: `order:${o.id}`,
      reason: `${o.then} must run after ${o.first}, which is not running: stop it until ${o.first} runs again`,
      facts,
    });
    if (t) {
      const dep = f?.id ?? inFlight(o.first);
      if (dep !== undefined) ctx.actions.addDependency(t.id, dep);
      else if (o.kind === 'mandatory' && first.running.length === 0 && t.type !== 'restart') {
        ctx.actions.replace(t.id, {
          id: `blocked:${o.then}`,
          type: 'blocked',
          service: o.then,
          rule: `order:${o.id}`,
          reason: `${o.then} must start after ${o.first}, which is not running`,
          facts,
        });
      } else if (firstDown && t.type === 'restart' && t.assembly !== undefined) {
        // A restart another order asked for: it would run it without this first.
        ctx.actions.replace(t.id, stopThen(t.assembly));
      }
    } else if (firstDown && then.running.length > 0 && then.busy.length === 0 && !tStop) {
      ctx.actions.add(stopThen(then.running[0]!));
    } else if (
      f &&
      o.kind === 'mandatory' &&
      then.running.length > 0 &&
      then.busy.length === 0 &&
      !tStop
    ) {
      // A mandatory dependant follows its first: colocated it moves along, otherwise it restarts after.
      // Not one this plan stops (it must run with a service that can run nowhere, say):
      // restarted, it would run against what stops it.
      const dest = f.type === 'move' ? f.to : f.assembly;
      const at = then.running[0]!;
      if (o.colocate && dest !== undefined && dest !== at) {
        const words = orderWords(o);
        follow(ctx, then, at, dest, { service: o.first, action: f.id }, words.rule, {
          facts,
          moves: words.moves(dest),
        });
      } else {
        ctx.actions.add({
          id: `restart:${o.then}@${at}:after:${o.first}`,
          type: 'restart',
          service: o.then,
          assembly: at,
          after: [f.id],
          rule: `order:${o.id}`,
          reason: `${o.then} depends on ${o.first} (mandatory order): restart it after ${o.first} ${f.type === 'move' ? 'moves' : f.type === 'start' ? 'starts' : 'restarts'}`,
          facts,
        });
      }
    }
  }
  // What a later order made (a restart, a move along) waits for what an
  // earlier one orders before it too: an optional order, say, processed
  // before the mandatory one that restarts their common dependant.
  for (const o of orders) {
    const t = acting(o.then);
    const dep = acting(o.first)?.id ?? inFlight(o.first);
    if (t && dep !== undefined) ctx.actions.addDependency(t.id, dep);
  }
}

/** Order constraints sorted so a cascade reaches every dependant, transitively. */
function topologicalOrders(world: World): World['config']['constraints']['order'] {
  const order = world.config.constraints.order;
  // Each service's predecessors, indexed once: scanning every constraint for
  // each service made this quadratic (10,000 services, 10,000 orders).
  const before = new Map<string, string[]>();
  for (const o of order) {
    const list = before.get(o.then);
    if (list) list.push(o.first);
    else before.set(o.then, [o.first]);
  }
  const level = new Map<string, number>();
  const depthOf = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    level.set(id, 0);
    let d = 0;
    for (const first of before.get(id) ?? []) d = Math.max(d, depthOf(first) + 1);
    level.set(id, d);
    return d;
  };
  return [...order].sort(
    (a, b) => depthOf(a.first) - depthOf(b.first) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}
