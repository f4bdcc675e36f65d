/**
 * Decisions that do not place a service, expanded into actions: restarts,
 * probes, stops of extra copies, notifications, recoveries and fences, and
 * escalation (service → assembly → deployable) with the stops it entails.
 */
import type { PlanContext } from './context.js';
import type { Decision } from './engine.js';
import { FAILBACK_SCORE } from './placement.js';
import { misplacement, type Situation } from './situations.js';
import { allServices, isReachable, type ServiceWhereabouts, type World } from './world.js';
import {
  assemblyIncident,
  factsOf,
  failureCount,
  failureText,
  healthText,
  incident,
  notifyText,
  reasonFor,
  text,
  times,
  windowText,
} from './words.js';

export function expand(ctx: PlanContext, situation: Situation, decision: Decision): string[] {
  const { service, assembly } = situation;
  const base = { rule: decision.rule, facts: factsOf(situation) };
  const sid = service?.config.id;
  switch (decision.type) {
    case 'restart':
      if (!service || assembly === null || !isReachable(ctx.world, assembly)) return [];
      return [
        ctx.actions.add({
          rule: base.rule,
          facts: base.facts,
          id: `restart:${sid}@${assembly}:${incident(situation)}`,
          type: 'restart',
          service: sid!,
          assembly,
          reason: reasonFor(
            decision,
            `${sid} failed on ${assembly}${failureText(situation)}: restart it there`,
          ),
        }),
      ];
    case 'probe':
      if (!service || assembly === null) return [];
      return [
        ctx.actions.add({
          rule: base.rule,
          facts: base.facts,
          id: `probe:${sid}@${assembly}:${String(ctx.world.input.assemblies[assembly]?.epoch ?? 'none')}`,
          type: 'probe',
          service: sid!,
          assembly,
          reason: reasonFor(
            decision,
            `the state of ${sid} on ${assembly} is unknown (new agent session or never reported): ask`,
          ),
        }),
      ];
    case 'stop':
      return service ? stopDuplicates(ctx, situation, service, decision) : [];
    case 'notify': {
      const event = text(decision.params.event, situation.kind);
      const subject = sid ?? assembly ?? ctx.world.config.name;
      return [
        ctx.actions.add({
          rule: base.rule,
          facts: base.facts,
          id: `notify:${event}:${subject}:${incident(situation)}`,
          type: 'notify',
          event,
          ...(sid ? { service: sid } : {}),
          ...(assembly ? { assembly } : {}),
          reason: reasonFor(decision, notifyText(situation, event)),
        }),
      ];
    }
    case 'recover-assembly':
      if (assembly === null) return [];
      return [
        recover(
          ctx,
          assembly,
          base.rule,
          situation,
          reasonFor(
            decision,
            `${assembly} is ${healthText(ctx.world, assembly)}: hand it to its recovery driver (${ctx.world.assemblies.get(assembly)!.recovery.driver})`,
          ),
        ),
      ];
    case 'fence-assembly':
      if (assembly === null) return [];
      return [fence(ctx, assembly, base.rule, situation, reasonFor(decision, `fence ${assembly}`))];
    case 'escalate':
      return decision.params.level === 'deployable'
        ? escalateDeployable(ctx, situation, decision)
        : escalateAssembly(ctx, situation, decision);
    default:
      return [];
  }
}

export function recover(
  ctx: PlanContext,
  assembly: string,
  rule: string,
  situation: Situation,
  reason: string,
  after: string[] = [],
): string {
  // A retry after a failed attempt is a new action; the same outage otherwise keeps one id.
  const failed = ctx.world.input.assemblies[assembly]?.recovery;
  const attempt = failed?.state === 'failed' ? `:retry-after-${failed.at}` : '';
  return ctx.actions.add({
    id: `recover:${assembly}:${assemblyIncident(ctx.world, assembly)}${attempt}`,
    type: 'recover-assembly',
    assembly,
    after,
    rule,
    reason,
    facts: factsOf(situation),
  });
}

export function fence(
  ctx: PlanContext,
  assembly: string,
  rule: string,
  situation: Situation,
  reason: string,
): string {
  return ctx.actions.add({
    id: `fence:${assembly}:${assemblyIncident(ctx.world, assembly)}`,
    type: 'fence-assembly',
    assembly,
    rule,
    reason,
    facts: factsOf(situation),
  });
}

/** Service → its assembly: stop what runs there (it is reachable), then recover it. */
export function escalateAssembly(
  ctx: PlanContext,
  situation: Situation,
  decision: Decision,
): string[] {
  const { service, assembly } = situation;
  if (!service || assembly === null) return [];
  const sid = service.config.id;
  const escalate = ctx.actions.add({
    id: `escalate:${sid}:${incident(situation)}`,
    type: 'escalate',
    level: 'assembly',
    service: sid,
    assembly,
    rule: decision.rule,
    reason: reasonFor(
      decision,
      `${sid} failed ${times(failureCount(situation))}${windowText(situation)}: escalate to assembly ${assembly}`,
    ),
    facts: factsOf(situation),
  });
  const stops = stopAllOn(
    ctx,
    assembly,
    decision.rule,
    situation,
    escalate,
    `its assembly ${assembly} is being recovered`,
  );
  const recovery = recover(
    ctx,
    assembly,
    decision.rule,
    situation,
    `escalation from ${sid}: recover ${assembly} (driver ${ctx.world.assemblies.get(assembly)!.recovery.driver}); its services move elsewhere`,
    [escalate, ...stops],
  );
  return [escalate, ...stops, recovery];
}

/** → the deployable: stop everything reachable, then recover every assembly. */
export function escalateDeployable(
  ctx: PlanContext,
  situation: Situation,
  decision: Decision,
): string[] {
  const { world } = ctx;
  const escalate = ctx.actions.add({
    id: `escalate:${world.config.name}:${incident(situation)}`,
    type: 'escalate',
    level: 'deployable',
    ...(situation.service ? { service: situation.service.config.id } : {}),
    ...(situation.assembly ? { assembly: situation.assembly } : {}),
    rule: decision.rule,
    reason: reasonFor(
      decision,
      `${situation.assembly ?? world.config.name} failed ${times(Number(situation.facts.assembly?.failures ?? 0))} within its escalation period: recover the whole deployable`,
    ),
    facts: factsOf(situation),
  });
  const ids = [escalate];
  for (const a of world.config.assemblies) {
    const stops = isReachable(world, a.name)
      ? stopAllOn(
          ctx,
          a.name,
          decision.rule,
          situation,
          escalate,
          'the deployable is being recovered',
        )
      : [];
    ids.push(...stops);
    const h = world.health.get(a.name)!.health;
    if (h !== 'recovering') {
      ids.push(
        recover(ctx, a.name, decision.rule, situation, `deployable escalation: recover ${a.name}`, [
          escalate,
          ...stops,
        ]),
      );
    }
  }
  return ids;
}

export function stopAllOn(
  ctx: PlanContext,
  assembly: string,
  rule: string,
  situation: Situation,
  after: string,
  why: string,
): string[] {
  const ids: string[] = [];
  for (const s of allServices(ctx.world)) {
    if (!s.running.includes(assembly) && !s.failed.includes(assembly)) continue;
    ids.push(
      ctx.actions.add({
        id: `stop:${s.config.id}@${assembly}`,
        type: 'stop',
        service: s.config.id,
        assembly,
        after: [after],
        rule,
        reason: `stop ${s.config.id} on ${assembly}: ${why}`,
        facts: factsOf(situation),
      }),
    );
    ctx.placer.vacate(s.config, s);
  }
  return ids;
}

export function stopDuplicates(
  ctx: PlanContext,
  situation: Situation,
  s: ServiceWhereabouts,
  decision: Decision,
): string[] {
  const keep = keeper(ctx.world, s);
  if (keep !== undefined) ctx.placer.occupy(s.config, keep, s);
  const extra = [...s.running, ...s.failed].filter((a) => a !== keep);
  return extra.map((a) =>
    ctx.actions.add({
      id: `stop:${s.config.id}@${a}`,
      type: 'stop',
      service: s.config.id,
      assembly: a,
      rule: decision.rule,
      reason: reasonFor(
        decision,
        `${s.config.id} runs on ${[...s.running, ...s.failed].join(' and ')}; keep ${keep ?? 'none'}, stop it on ${a}`,
      ),
      facts: factsOf(situation),
    }),
  );
}

/**
 * Which of several running copies stays: one that obeys the placement
 * rules; home if the service fails back (and its stickiness does not keep
 * it where it is, as for a single copy); otherwise the one started last —
 * the copy the engine itself placed, where an assembly that came back after
 * its services were moved still runs the old one (failback "never" means
 * it stays where it was moved).
 */
function keeper(world: World, s: ServiceWhereabouts): string | undefined {
  const obeying = s.running.filter((a) => misplacement(world, s, a) === null);
  const pool = obeying.length > 0 ? obeying : s.running;
  const failsBack = s.config.failback === 'auto' && s.config.stickiness < FAILBACK_SCORE;
  if (failsBack && pool.includes(s.config.home)) return s.config.home;
  const since = (a: string): number => s.obs?.instances[a]?.since ?? Number.NEGATIVE_INFINITY;
  return pool.reduce<string | undefined>(
    (best, a) => (best === undefined || since(a) > since(best) ? a : best),
    undefined,
  );
}
