/**
 * Decisions that place a service: a start where it runs nowhere, a move off
 * a lost assembly or one it may not stay on, fail-back — each placed by the
 * Placer, in placement order, a never-twice one only after its old assembly
 * is confirmed stopped.
 */
import { memoized } from '../lib/memo.js';
import type { PlanContext } from './context.js';
import type { Decision } from './engine.js';
import { fence } from './expand.js';
import { runsWith } from './runs-with.js';
import { misplacement, type Situation } from './situations.js';
import type { Action, FactValue } from './types.js';
import { isReachable, type ServiceWhereabouts, type World } from './world.js';
import { factsOf, healthText, reasonFor } from './words.js';

export function place(ctx: PlanContext, situation: Situation, decision: Decision): string[] {
  const s = situation.service;
  if (!s) return [];
  const sid = s.config.id;
  const from = situation.assembly;
  const base = { rule: decision.rule, facts: factsOf(situation) };
  const failback = situation.kind === 'service-failback';
  const current = failback ? from : null;
  if (from !== null) ctx.placer.vacate(s.config, s);
  const request = {
    service: s.config,
    current,
    exclude: failback || from === null ? [] : [from],
  };
  if (ctx.explain.has(sid)) ctx.explained.set(sid, ctx.placer.explain(request));
  const placed = ctx.placer.place(request);
  if (!placed.ok) {
    if (from !== null && isReachable(ctx.world, from)) ctx.placer.occupy(s.config, from, s);
    return [blocked(ctx, sid, base, placed.reason)];
  }
  if (failback && placed.assembly === from) return []; // staying is as good: nothing to do
  const to = placed.assembly;
  if (from === null) {
    return [
      ctx.actions.add({
        rule: base.rule,
        facts: base.facts,
        id: `start:${sid}@${to}`,
        type: 'start',
        service: sid,
        assembly: to,
        reason: reasonFor(
          decision,
          `${sid} is not running anywhere: start it on ${to}${to === s.config.home ? ' (its home assembly)' : ''}`,
        ),
      }),
    ];
  }
  const after: string[] = [];
  if (s.config.unique && situation.kind === 'service-lost' && !confirmedStopped(ctx, s, from)) {
    const driver = ctx.world.assemblies.get(from)!.recovery.driver;
    // A recovery or fence already under way will confirm it: wait for that, do not fence over it.
    const underWay = (ctx.world.inFlightByAssembly.get(from) ?? []).find(
      (a) => a.type === 'recover-assembly' || a.type === 'fence-assembly',
    );
    if (underWay) {
      after.push(underWay.id);
    } else if (driver === 'none') {
      ctx.placer.vacate(s.config, s);
      return [
        blocked(
          ctx,
          sid,
          base,
          `${sid} must never run twice and ${from} cannot be fenced (recovery driver none): waiting for ${from} to return or be recovered`,
        ),
      ];
    } else {
      after.push(
        fence(
          ctx,
          from,
          decision.rule,
          situation,
          `${sid} must never run twice: fence ${from} before starting it on ${to}`,
        ),
      );
    }
  }
  const why =
    situation.kind === 'service-lost'
      ? `${from} is ${healthText(ctx.world, from)}: move ${sid} to ${to}`
      : failback
        ? `${s.config.home} is healthy again: move ${sid} back home from ${from} (failback auto)`
        : `${sid} may not stay on ${from} (${misplacement(ctx.world, s, from) ?? 'its placement rules changed'}): move it to ${to}`;
  const move = {
    rule: base.rule,
    facts: base.facts,
    id: `move:${sid}:${from}>${to}`,
    type: 'move' as const,
    service: sid,
    from,
    to,
    after,
    reason: reasonFor(decision, why),
  };
  // Stopped earlier as it could not follow a partner (what kept it out has
  // moved on since): the move is the one thing this plan does to it.
  const stopped = ctx.actions.findFor(sid, stoppedByLink);
  if (stopped) {
    ctx.actions.replace(stopped.id, move);
    return [move.id];
  }
  return [ctx.actions.add(move)];
}

/** A stop made because the service could not follow a partner (followPlaced). */
function stoppedByLink(a: Action): boolean {
  return a.type === 'stop' && (a.rule.startsWith('colocation:') || a.rule.startsWith('order:'));
}

export function blocked(
  ctx: PlanContext,
  sid: string,
  base: { rule: string; facts: Readonly<Record<string, FactValue>> },
  reason: string,
): string {
  return ctx.actions.add({
    rule: base.rule,
    facts: base.facts,
    id: `blocked:${sid}`,
    type: 'blocked',
    service: sid,
    reason,
  });
}

/** A never-twice service is confirmed stopped on an assembly fenced or recovered after it was last seen. */
export function confirmedStopped(
  ctx: PlanContext,
  s: ServiceWhereabouts,
  assembly: string,
): boolean {
  const recovery = ctx.world.input.assemblies[assembly]?.recovery;
  const seen = s.obs?.instances[assembly]?.since ?? Number.NEGATIVE_INFINITY;
  return recovery?.state === 'done' && recovery.at >= seen;
}

/** What placement order compares of a service, read once per sort rather than per comparison. */
export interface PlacementKey {
  readonly rank: number;
  readonly unique: boolean;
  /** 0 when its home is up. */
  readonly homeDown: number;
  readonly mem: number;
  readonly cpu: number;
  readonly id: string;
}

export function placementKey(
  world: World,
  s: ServiceWhereabouts | null,
  ranks: ReadonlyMap<string, number>,
): PlacementKey | null {
  if (!s) return null;
  return {
    rank: ranks.get(s.config.id) ?? 0,
    unique: s.config.unique,
    homeDown: world.health.get(s.config.home)?.health === 'up' ? 0 : 1,
    mem: s.config.utilization.memoryMb ?? 0,
    cpu: s.config.utilization.cpu ?? 0,
    id: s.config.id,
  };
}

/** Colocation partners first, then never-twice, then bigger utilization, then id. */
export function comparePlacement(a: PlacementKey | null, b: PlacementKey | null): number {
  if (!a || !b) return 0;
  if (a.rank !== b.rank) return a.rank - b.rank;
  if (a.unique !== b.unique) return a.unique ? -1 : 1;
  // Those that can go home first: a homeless service must not crowd another's home.
  if (a.homeDown !== b.homeDown) return a.homeDown - b.homeDown;
  if (a.mem !== b.mem) return b.mem - a.mem;
  if (a.cpu !== b.cpu) return b.cpu - a.cpu;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Depth in the "runs with" graph: a service is placed after what it must run with. */
export function placementRanks(world: World): Map<string, number> {
  return ranksOf(world.config);
}

/** By config: the ranks follow from its constraints alone. */
const ranksOf = memoized((config: World['config']): Map<string, number> => {
  const edges = new Map<string, string[]>();
  const link = (from: string, to: string): void => {
    edges.set(from, [...(edges.get(from) ?? []), to]);
  };
  for (const r of runsWith(config)) link(r.service, r.with);
  const computed = new Map<string, number>();
  const depth = (id: string, seen: Set<string>): number => {
    const known = computed.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0; // mutual colocation: same rank
    seen.add(id);
    const d = Math.max(0, ...(edges.get(id) ?? []).map((x) => depth(x, seen) + 1));
    computed.set(id, d);
    return d;
  };
  for (const id of edges.keys()) depth(id, new Set());
  return computed;
});
