/**
 * The planner: input and `now` in, plan out. Reads the world, lists the
 * situations, asks the rules what to do about each, and turns the answers
 * into concrete actions — placing what must start or move, fencing before a
 * never-twice service moves, ordering by the deployable's constraints.
 * Pure: no I/O, no clock, no randomness; the same input gives the same plan.
 */
import { SCORE_INFINITY, type ServiceConfig } from '../lib/config/index.js';
import { ActionSet } from './actions.js';
import { RuleRunner, type Decision } from './engine.js';
import { FAILBACK_SCORE, Placer } from './placement.js';
import {
  misplacement,
  retryAt,
  situations as listSituations,
  type Situation,
} from './situations.js';
import type {
  Action,
  ActionType,
  FactValue,
  PeInput,
  Plan,
  PlacementExplanation,
} from './types.js';
import { isReachable, readWorld, type ServiceWhereabouts, type World } from './world.js';

export interface PlanOptions {
  /** Service ids whose placement scores to report (`cpectl simulate --explain`). */
  readonly explain?: readonly string[];
}

export interface PlanResult {
  readonly plan: Plan;
  readonly explanations: readonly PlacementExplanation[];
  /** How many times the rules engine ran (the rest of the situations were memoised). */
  readonly ruleRuns: number;
}

/** Decisions that place a service; they run after every other decision, in placement order. */
const PLACING = new Set(['start', 'move']);

export async function plan(
  input: PeInput,
  now: number,
  options: PlanOptions = {},
): Promise<PlanResult> {
  const world = readWorld(input, now);
  const runner = new RuleRunner(input.config.rules);
  const decided: { situation: Situation; decisions: readonly Decision[] }[] = [];
  for (const situation of listSituations(world)) {
    // One at a time: runs on one Engine must never overlap.
    const decisions = runner.known(situation.facts) ?? (await runner.decide(situation.facts));
    decided.push({ situation, decisions });
  }
  const planner = new Planner(world, options);
  planner.apply(decided);
  return {
    plan: planner.finish(),
    explanations: planner.explanations(),
    ruleRuns: runner.runs,
  };
}

class Planner {
  readonly #actions: ActionSet;
  readonly #placer: Placer;
  readonly #explain: ReadonlySet<string>;
  readonly #explained = new Map<string, PlacementExplanation>();

  constructor(
    private readonly world: World,
    options: PlanOptions,
  ) {
    this.#actions = new ActionSet(world.input.inFlight.map((a) => a.id));
    this.#placer = new Placer(world);
    this.#explain = new Set(options.explain ?? []);
    for (const s of world.services) {
      const target = s.busy.find(
        (a) => a.type === 'start' || a.type === 'move' || a.type === 'restart',
      );
      const where = target?.to ?? target?.assembly ?? s.running[0] ?? s.failed[0];
      if (where !== undefined) this.#placer.occupy(s.config, where);
    }
    this.#placer.seal();
  }

  apply(decided: readonly { situation: Situation; decisions: readonly Decision[] }[]): void {
    const placing: {
      situation: Situation;
      decision: Decision;
      vetoes: readonly Decision[];
      priority: number | undefined;
    }[] = [];
    for (const { situation, decisions } of decided) {
      const vetoes = decisions.filter((d) => d.type === 'veto');
      const priority = decisions.find((d) => d.type === 'prioritize')?.params.priority as
        number | undefined;
      const ids: string[] = [];
      // An escalation supersedes a restart of the same failure, whichever rule asked for it.
      const escalating = decisions.some((d) => d.type === 'escalate');
      for (const decision of decisions) {
        if (decision.type === 'veto' || decision.type === 'prioritize') continue;
        if (escalating && decision.type === 'restart') continue;
        const veto = vetoes.find((v) => vetoMatches(v, decision.type));
        if (veto && PLACING.has(decision.type)) {
          this.#vetoUnplaced(situation, decision, veto);
        } else if (PLACING.has(decision.type)) {
          placing.push({ situation, decision, vetoes, priority });
        } else {
          ids.push(...this.#expand(situation, decision));
        }
      }
      this.#finishSituation(ids, vetoes, priority);
    }
    placing.sort((a, b) => placementOrder(this.world, a.situation.service, b.situation.service));
    for (const { situation, decision, vetoes, priority } of placing) {
      this.#finishSituation(this.#place(situation, decision), vetoes, priority);
    }
    this.#followColocations();
    this.#orderByConstraints();
    this.#fenceBeforeRecovery();
  }

  /**
   * A fence and a recovery of one assembly: the fence first. Recovering
   * (rebooting, rebuilding) a node that is not yet known to be off could
   * let it run a never-twice service beside the copy started elsewhere; and
   * a recovered assembly is the one to keep, not to power off after.
   */
  #fenceBeforeRecovery(): void {
    for (const fence of this.#actions.filter((a) => a.type === 'fence-assembly')) {
      for (const recover of this.#actions.filter(
        (a) => a.type === 'recover-assembly' && a.assembly === fence.assembly,
      ))
        this.#actions.addDependency(recover.id, fence.id);
    }
  }

  finish(): Plan {
    const { world } = this;
    const nextCheckAt = [
      ...[...world.health.values()].map((h) => h.changesAt),
      ...world.config.assemblies.map((a) => retryAt(world, a.name)),
    ]
      .filter((t): t is number => t !== null && t > world.now)
      .reduce<number | null>((min, t) => (min === null || t < min ? t : min), null);
    const running = new Map<string, string[]>();
    for (const s of world.services) {
      for (const a of s.running) {
        const list = running.get(a);
        if (list) list.push(s.config.id);
        else running.set(a, [s.config.id]);
      }
    }
    return {
      deployable: world.config.name,
      now: world.now,
      actions: this.#actions.ordered(),
      vetoed: this.#actions.vetoed,
      waiting: world.input.inFlight.map((a) => a.id).sort(),
      assemblies: world.config.assemblies.map((a) => {
        const h = world.health.get(a.name)!;
        return {
          name: a.name,
          health: h.health,
          missedBeats: h.missedBeats,
          services: running.get(a.name) ?? [],
        };
      }),
      nextCheckAt,
      notes: this.#notes(),
    };
  }

  #notes(): string[] {
    const { world } = this;
    const { bus } = world.input;
    if (!bus.connected) {
      return [
        `not connected to the bus since t=${bus.since}: silence proves nothing, so nothing is planned`,
      ];
    }
    const unheard = world.config.assemblies
      .filter((a) => world.health.get(a.name)!.health === 'unknown')
      .map((a) => a.name);
    const waiting = world.services.filter((s) => s.unseen && s.running.length === 0).length;
    if (unheard.length === 0 || waiting === 0) return [];
    return [
      `${waiting} service${waiting === 1 ? '' : 's'} not started until ${unheard.join(', ')} report${unheard.length === 1 ? 's' : ''} (each may already run there)`,
    ];
  }

  explanations(): PlacementExplanation[] {
    return [...this.#explain].sort().map(
      (id) =>
        this.#explained.get(id) ??
        (() => {
          const s = this.world.byId.get(id);
          if (!s) return { service: id, chosen: null, candidates: [] };
          const current = this.#placer.locationOf(id) ?? null;
          return this.#placer.explain({ service: s.config, current, exclude: [] });
        })(),
    );
  }

  // --- decisions that do not place -------------------------------------------------

  #expand(situation: Situation, decision: Decision): string[] {
    const { service, assembly } = situation;
    const base = { rule: decision.rule, facts: factsOf(situation) };
    const sid = service?.config.id;
    switch (decision.type) {
      case 'restart':
        if (!service || assembly === null || !isReachable(this.world, assembly)) return [];
        return [
          this.#actions.add({
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
          this.#actions.add({
            rule: base.rule,
            facts: base.facts,
            id: `probe:${sid}@${assembly}:${String(this.world.input.assemblies[assembly]?.epoch ?? 'none')}`,
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
        return service ? this.#stopDuplicates(situation, service, decision) : [];
      case 'notify': {
        const event = text(decision.params.event, situation.kind);
        const subject = sid ?? assembly ?? this.world.config.name;
        return [
          this.#actions.add({
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
          this.#recover(
            assembly,
            base.rule,
            situation,
            reasonFor(
              decision,
              `${assembly} is ${healthText(this.world, assembly)}: hand it to its recovery driver (${this.world.assemblies.get(assembly)!.recovery.driver})`,
            ),
          ),
        ];
      case 'fence-assembly':
        if (assembly === null) return [];
        return [
          this.#fence(assembly, base.rule, situation, reasonFor(decision, `fence ${assembly}`)),
        ];
      case 'escalate':
        return decision.params.level === 'deployable'
          ? this.#escalateDeployable(situation, decision)
          : this.#escalateAssembly(situation, decision);
      default:
        return [];
    }
  }

  #recover(
    assembly: string,
    rule: string,
    situation: Situation,
    reason: string,
    after: string[] = [],
  ): string {
    // A retry after a failed attempt is a new action; the same outage otherwise keeps one id.
    const failed = this.world.input.assemblies[assembly]?.recovery;
    const attempt = failed?.state === 'failed' ? `:retry-after-${failed.at}` : '';
    return this.#actions.add({
      id: `recover:${assembly}:${assemblyIncident(this.world, assembly)}${attempt}`,
      type: 'recover-assembly',
      assembly,
      after,
      rule,
      reason,
      facts: factsOf(situation),
    });
  }

  #fence(assembly: string, rule: string, situation: Situation, reason: string): string {
    return this.#actions.add({
      id: `fence:${assembly}:${assemblyIncident(this.world, assembly)}`,
      type: 'fence-assembly',
      assembly,
      rule,
      reason,
      facts: factsOf(situation),
    });
  }

  /** Service → its assembly: stop what runs there (it is reachable), then recover it. */
  #escalateAssembly(situation: Situation, decision: Decision): string[] {
    const { service, assembly } = situation;
    if (!service || assembly === null) return [];
    const sid = service.config.id;
    const escalate = this.#actions.add({
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
    const stops = this.#stopAllOn(
      assembly,
      decision.rule,
      situation,
      escalate,
      `its assembly ${assembly} is being recovered`,
    );
    const recover = this.#recover(
      assembly,
      decision.rule,
      situation,
      `escalation from ${sid}: recover ${assembly} (driver ${this.world.assemblies.get(assembly)!.recovery.driver}); its services move elsewhere`,
      [escalate, ...stops],
    );
    return [escalate, ...stops, recover];
  }

  /** → the deployable: stop everything reachable, then recover every assembly. */
  #escalateDeployable(situation: Situation, decision: Decision): string[] {
    const { world } = this;
    const escalate = this.#actions.add({
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
        ? this.#stopAllOn(
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
          this.#recover(
            a.name,
            decision.rule,
            situation,
            `deployable escalation: recover ${a.name}`,
            [escalate, ...stops],
          ),
        );
      }
    }
    return ids;
  }

  #stopAllOn(
    assembly: string,
    rule: string,
    situation: Situation,
    after: string,
    why: string,
  ): string[] {
    const ids: string[] = [];
    for (const s of this.world.services) {
      if (!s.running.includes(assembly) && !s.failed.includes(assembly)) continue;
      ids.push(
        this.#actions.add({
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
      this.#placer.vacate(s.config);
    }
    return ids;
  }

  #stopDuplicates(situation: Situation, s: ServiceWhereabouts, decision: Decision): string[] {
    const keep = keeper(this.world, s);
    if (keep !== undefined) this.#placer.occupy(s.config, keep);
    const extra = [...s.running, ...s.failed].filter((a) => a !== keep);
    return extra.map((a) =>
      this.#actions.add({
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

  // --- decisions that place -------------------------------------------------------

  #place(situation: Situation, decision: Decision): string[] {
    const s = situation.service;
    if (!s) return [];
    const sid = s.config.id;
    const from = situation.assembly;
    const base = { rule: decision.rule, facts: factsOf(situation) };
    const failback = situation.kind === 'service-failback';
    const current = failback ? from : null;
    if (from !== null) this.#placer.vacate(s.config);
    const request = {
      service: s.config,
      current,
      exclude: failback || from === null ? [] : [from],
    };
    if (this.#explain.has(sid)) this.#explained.set(sid, this.#placer.explain(request));
    const placed = this.#placer.place(request);
    if (!placed.ok) {
      if (from !== null && isReachable(this.world, from)) this.#placer.occupy(s.config, from);
      return [this.#blocked(sid, base, placed.reason)];
    }
    if (failback && placed.assembly === from) return []; // staying is as good: nothing to do
    const to = placed.assembly;
    if (from === null) {
      return [
        this.#actions.add({
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
    if (s.config.unique && situation.kind === 'service-lost' && !this.#confirmedStopped(s, from)) {
      const driver = this.world.assemblies.get(from)!.recovery.driver;
      // A recovery or fence already under way will confirm it: wait for that, do not fence over it.
      const underWay = (this.world.inFlightByAssembly.get(from) ?? []).find(
        (a) => a.type === 'recover-assembly' || a.type === 'fence-assembly',
      );
      if (underWay) {
        after.push(underWay.id);
      } else if (driver === 'none') {
        this.#placer.vacate(s.config);
        return [
          this.#blocked(
            sid,
            base,
            `${sid} must never run twice and ${from} cannot be fenced (recovery driver none): waiting for ${from} to return or be recovered`,
          ),
        ];
      } else {
        after.push(
          this.#fence(
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
        ? `${from} is ${healthText(this.world, from)}: move ${sid} to ${to}`
        : failback
          ? `${s.config.home} is healthy again: move ${sid} back home from ${from} (failback auto)`
          : `${sid} may not stay on ${from} (${misplacement(this.world, s, from) ?? 'its placement rules changed'}): move it to ${to}`;
    return [
      this.#actions.add({
        rule: base.rule,
        facts: base.facts,
        id: `move:${sid}:${from}>${to}`,
        type: 'move',
        service: sid,
        from,
        to,
        after,
        reason: reasonFor(decision, why),
      }),
    ];
  }

  #blocked(
    sid: string,
    base: { rule: string; facts: Readonly<Record<string, FactValue>> },
    reason: string,
  ): string {
    return this.#actions.add({
      rule: base.rule,
      facts: base.facts,
      id: `blocked:${sid}`,
      type: 'blocked',
      service: sid,
      reason,
    });
  }

  /** A never-twice service is confirmed stopped on an assembly fenced or recovered after it was last seen. */
  #confirmedStopped(s: ServiceWhereabouts, assembly: string): boolean {
    const recovery = this.world.input.assemblies[assembly]?.recovery;
    const seen = s.obs?.instances[assembly]?.since ?? Number.NEGATIVE_INFINITY;
    return recovery?.state === 'done' && recovery.at >= seen;
  }

  #vetoUnplaced(situation: Situation, decision: Decision, veto: Decision): void {
    const sid = situation.service?.config.id ?? '';
    this.#actions.vetoUnplanned(
      {
        id: `${decision.type}:${sid}`,
        type: decision.type as ActionType,
        service: sid,
        ...(situation.assembly === null ? {} : { from: situation.assembly }),
        after: [],
        priority: 0,
        rule: decision.rule,
        reason: `${decision.type} ${sid}${situation.assembly === null ? '' : ` off ${situation.assembly}`}`,
        facts: factsOf(situation),
      },
      veto.rule,
      text(veto.params.reason, `vetoed by ${veto.rule}`),
    );
  }

  #finishSituation(
    ids: readonly string[],
    vetoes: readonly Decision[],
    priority: number | undefined,
  ): void {
    for (const id of ids) {
      const action = this.#actions.get(id);
      if (!action) continue;
      const veto = vetoes.find((v) => vetoMatches(v, action.type));
      if (veto)
        this.#actions.veto(id, veto.rule, text(veto.params.reason, `vetoed by ${veto.rule}`));
      else if (priority !== undefined) this.#actions.setPriority(id, priority);
    }
  }

  // --- colocation and ordering constraints ----------------------------------------

  /** A service that must run with another moves along when that one moves or starts elsewhere. */
  #followColocations(): void {
    const { world } = this;
    const mandatory = world.config.constraints.colocation.filter((c) => c.score >= SCORE_INFINITY);
    // Chains (a with b with c) settle in as many rounds as they are long.
    for (let round = 0, changed = true; changed && round <= mandatory.length; round++) {
      changed = false;
      for (const c of mandatory) {
        const partner = this.#actions.findFor(
          c.with,
          (a) => a.type === 'move' || a.type === 'start',
        );
        const dest = partner?.type === 'move' ? partner.to : partner?.assembly;
        const s = world.byId.get(c.service)!;
        const at = s.running[0];
        if (!partner || dest === undefined || at === undefined || at === dest || s.busy.length > 0)
          continue;
        if (this.#actions.findFor(c.service, (a) => a.type !== 'notify' && a.type !== 'probe')) {
          continue;
        }
        const facts = { constraint: c.id, service: c.service, with: c.with };
        const cannot = this.#placer.canHost(s.config, dest);
        if (cannot !== null) {
          // It cannot go where its partner goes: the colocation is broken, and it stops.
          this.#stopBroken(
            s,
            at,
            `colocation:${c.id}`,
            facts,
            `${c.service} must run with ${c.with}, which goes to ${dest}, where ${c.service} cannot run (${cannot}): stop it`,
          );
          changed = true;
          continue;
        }
        this.#actions.add({
          id: `move:${c.service}:${at}>${dest}`,
          type: 'move',
          service: c.service,
          from: at,
          to: dest,
          after: [partner.id],
          rule: `colocation:${c.id}`,
          reason: `${c.service} must run with ${c.with}, which goes to ${dest}: move it along`,
          facts,
        });
        this.#placer.occupy(s.config, dest);
        changed = true;
      }
    }
    this.#stopStranded(mandatory);
  }

  /** A service that must run with one that can run nowhere stops too (as Pacemaker does). */
  #stopStranded(mandatory: World['config']['constraints']['colocation']): void {
    const { world } = this;
    const placing = (a: { readonly type: string }): boolean =>
      a.type === 'start' || a.type === 'move';
    for (const c of mandatory) {
      const partner = world.byId.get(c.with)!;
      const s = world.byId.get(c.service)!;
      const at = s.running[0];
      if (at === undefined || s.busy.length > 0) continue;
      if (partner.running.length > 0 || partner.unknown.length > 0 || partner.unseen) continue;
      if (partner.busy.some((a) => placing(a) || a.type === 'restart')) continue;
      if (this.#actions.findFor(c.with, placing)) continue;
      if (this.#actions.findFor(c.service, (a) => a.type !== 'notify' && a.type !== 'probe'))
        continue;
      this.#stopBroken(
        s,
        at,
        `colocation:${c.id}`,
        { constraint: c.id, service: c.service, with: c.with },
        `${c.service} must run with ${c.with}, which cannot run anywhere: stop it until ${c.with} runs again`,
      );
    }
  }

  #stopBroken(
    s: ServiceWhereabouts,
    at: string,
    rule: string,
    facts: Readonly<Record<string, FactValue>>,
    reason: string,
  ): void {
    this.#actions.add({
      id: `stop:${s.config.id}@${at}`,
      type: 'stop',
      service: s.config.id,
      assembly: at,
      rule,
      reason,
      facts,
    });
    this.#placer.vacate(s.config);
  }

  /** first before then (and stops the other way round); mandatory orders block or cascade. */
  #orderByConstraints(): void {
    const { world } = this;
    const acting = (sid: string): Action | undefined =>
      this.#actions.findFor(
        sid,
        (a) => a.type === 'start' || a.type === 'move' || a.type === 'restart',
      );
    const inFlight = (sid: string): string | undefined =>
      world.byId
        .get(sid)
        ?.busy.find((a) => a.type === 'start' || a.type === 'move' || a.type === 'restart')?.id;
    for (const o of topologicalOrders(world)) {
      const first = world.byId.get(o.first)!;
      const then = world.byId.get(o.then)!;
      const f = acting(o.first);
      const t = acting(o.then);
      const fStop = this.#actions.findFor(o.first, (a) => a.type === 'stop');
      const tStop = this.#actions.findFor(o.then, (a) => a.type === 'stop');
      if (fStop && tStop) this.#actions.addDependency(fStop.id, tStop.id);
      const facts = { constraint: o.id, first: o.first, then: o.then, kind: o.kind };
      if (t) {
        const dep = f?.id ?? inFlight(o.first);
        if (dep !== undefined) this.#actions.addDependency(t.id, dep);
        else if (o.kind === 'mandatory' && first.running.length === 0 && t.type !== 'restart') {
          this.#actions.replace(t.id, {
            id: `blocked:${o.then}`,
            type: 'blocked',
            service: o.then,
            rule: `order:${o.id}`,
            reason: `${o.then} must start after ${o.first}, which is not running`,
            facts,
          });
        }
      } else if (
        o.kind === 'mandatory' &&
        then.running.length > 0 &&
        then.busy.length === 0 &&
        !f &&
        inFlight(o.first) === undefined &&
        first.running.length === 0 &&
        first.unknown.length === 0 &&
        !first.unseen &&
        !this.#actions.findFor(o.then, (a) => a.type === 'stop')
      ) {
        // Its first cannot run: a mandatory dependant stops too, and starts again after it.
        const at = then.running[0]!;
        this.#actions.add({
          id: `stop:${o.then}@${at}`,
          type: 'stop',
          service: o.then,
          assembly: at,
          rule: `order:${o.id}`,
          reason: `${o.then} must run after ${o.first}, which is not running: stop it until ${o.first} runs again`,
          facts,
        });
      } else if (f && o.kind === 'mandatory' && then.running.length > 0 && then.busy.length === 0) {
        // A mandatory dependant follows its first: colocated it moves along, otherwise it restarts after.
        const dest = f.type === 'move' ? f.to : f.assembly;
        const at = then.running[0]!;
        const cannot =
          o.colocate && dest !== undefined && dest !== at
            ? this.#placer.canHost(then.config, dest)
            : null;
        if (cannot !== null) {
          this.#stopBroken(
            then,
            at,
            `order:${o.id}`,
            facts,
            `${o.then} runs with ${o.first} (colocated dependency), which moves to ${dest!}, where ${o.then} cannot run (${cannot}): stop it`,
          );
        } else if (o.colocate && dest !== undefined && dest !== at) {
          this.#actions.add({
            id: `move:${o.then}:${at}>${dest}`,
            type: 'move',
            service: o.then,
            from: at,
            to: dest,
            after: [f.id],
            rule: `order:${o.id}`,
            reason: `${o.then} runs with ${o.first} (colocated dependency), which moves to ${dest}`,
            facts,
          });
        } else {
          this.#actions.add({
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
  }
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

function vetoMatches(veto: Decision, type: string): boolean {
  const target = veto.params.action;
  return target === undefined || target === type;
}

/** Colocation partners first, then never-twice, then bigger utilization, then id. */
function placementOrder(
  world: World,
  a: ServiceWhereabouts | null,
  b: ServiceWhereabouts | null,
): number {
  if (!a || !b) return 0;
  const rank = placementRanks(world);
  const ra = rank.get(a.config.id) ?? 0;
  const rb = rank.get(b.config.id) ?? 0;
  if (ra !== rb) return ra - rb;
  if (a.config.unique !== b.config.unique) return a.config.unique ? -1 : 1;
  // Those that can go home first: a homeless service must not crowd another's home.
  const homeUp = (s: ServiceWhereabouts): number =>
    world.health.get(s.config.home)?.health === 'up' ? 0 : 1;
  if (homeUp(a) !== homeUp(b)) return homeUp(a) - homeUp(b);
  const mem = (s: ServiceConfig): number => s.utilization.memoryMb ?? 0;
  const cpu = (s: ServiceConfig): number => s.utilization.cpu ?? 0;
  if (mem(a.config) !== mem(b.config)) return mem(b.config) - mem(a.config);
  if (cpu(a.config) !== cpu(b.config)) return cpu(b.config) - cpu(a.config);
  return a.config.id < b.config.id ? -1 : a.config.id > b.config.id ? 1 : 0;
}

const ranks = new WeakMap<World, Map<string, number>>();

/** Depth in the "runs with" graph: a service is placed after what it must run with. */
function placementRanks(world: World): Map<string, number> {
  const rank = ranks.get(world);
  if (rank) return rank;
  const edges = new Map<string, string[]>();
  const link = (from: string, to: string): void => {
    edges.set(from, [...(edges.get(from) ?? []), to]);
  };
  for (const c of world.config.constraints.colocation)
    if (c.score >= SCORE_INFINITY) link(c.service, c.with);
  for (const o of world.config.constraints.order) if (o.colocate) link(o.then, o.first);
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
  ranks.set(world, computed);
  return computed;
}

/** Order constraints sorted so a cascade reaches every dependant, transitively. */
function topologicalOrders(world: World): World['config']['constraints']['order'] {
  const order = world.config.constraints.order;
  const level = new Map<string, number>();
  const depthOf = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    level.set(id, 0);
    const d = Math.max(0, ...order.filter((o) => o.then === id).map((o) => depthOf(o.first) + 1));
    level.set(id, d);
    return d;
  };
  return [...order].sort(
    (a, b) => depthOf(a.first) - depthOf(b.first) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

// --- words ---------------------------------------------------------------------------

/** The facts an action records, as [key in the action, fact, field]: sorted by key. */
const FACT_FIELDS: readonly (readonly [string, 'service' | 'assembly' | 'deployable', string])[] = [
  ['assembly.escalate', 'assembly', 'escalate'],
  ['assembly.failures', 'assembly', 'failures'],
  ['assembly.health', 'assembly', 'health'],
  ['assembly.missedBeats', 'assembly', 'missedBeats'],
  ['assembly.name', 'assembly', 'name'],
  ['assembly.recovery', 'assembly', 'recovery'],
  ['deployable.down', 'deployable', 'down'],
  ['deployable.recovering', 'deployable', 'recovering'],
  ['deployable.suspect', 'deployable', 'suspect'],
  ['deployable.up', 'deployable', 'up'],
  ['service.escalate', 'service', 'escalate'],
  ['service.failureSpanMs', 'service', 'failureSpanMs'],
  ['service.failures', 'service', 'failures'],
  ['service.id', 'service', 'id'],
  ['service.state', 'service', 'state'],
  ['service.unique', 'service', 'unique'],
];

const factsCache = new WeakMap<Situation, Record<string, FactValue>>();

/** What an action records of its situation (the deployable's counts only for deployable situations). */
function factsOf(situation: Situation): Record<string, FactValue> {
  const cached = factsCache.get(situation);
  if (cached) return cached;
  const out: Record<string, FactValue> = {};
  for (const [key, fact, field] of FACT_FIELDS) {
    if (fact === 'deployable' && situation.kind !== 'deployable') continue;
    const source = situation.facts[fact];
    if (!source) continue;
    const v = source[field];
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      out[key] = v;
  }
  out.situation = situation.kind; // sorts last: every other key starts with a-s
  factsCache.set(situation, out);
  return out;
}

function incident(situation: Situation): string {
  const last = situation.facts.service?.lastFailure;
  if (typeof last === 'number') return String(last);
  const beat = situation.facts.assembly?.lastHeartbeat;
  if (typeof beat === 'number') return String(beat);
  return 'never';
}

function assemblyIncident(world: World, assembly: string): string {
  return String(world.input.assemblies[assembly]?.lastHeartbeat ?? 'never');
}

function healthText(world: World, assembly: string): string {
  const h = world.health.get(assembly)!;
  return h.health === 'down' ? `down (${h.reason})` : `${h.health} (${h.reason})`;
}

function failureCount(situation: Situation): number {
  return Number(situation.facts.service?.failures ?? 0);
}

/** Why a failure restarts rather than escalates, in the original's terms. */
function failureText(situation: Situation): string {
  const n = failureCount(situation);
  const policy = situation.service?.config.escalation ?? null;
  if (policy === null) return n > 1 ? ` (${times(n)}; it never escalates)` : '';
  if (n < policy.failures)
    return n > 1
      ? ` (${times(n)} since the last escalation; escalation takes ${policy.failures})`
      : '';
  const span = situation.facts.service?.failureSpanMs;
  return ` (the last ${policy.failures} failures span ${String(span)} ms; escalation needs them within ${policy.periodMs} ms)`;
}

function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}

function windowText(situation: Situation): string {
  const span = situation.facts.service?.failureSpanMs;
  return typeof span === 'number' ? ` within ${span} ms` : '';
}

function notifyText(situation: Situation, event: string): string {
  if (situation.kind === 'deployable') {
    const d = situation.facts.deployable;
    return `${event}: no assembly is up (${String(d.down)} down, ${String(d.recovering)} recovering, ${String(d.unknown)} unknown)`;
  }
  const subject = situation.service?.config.id ?? situation.assembly ?? 'the deployable';
  return `${event}: ${subject}`;
}

/** A rule's string param, or the fallback when it set none. */
function text(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function reasonFor(decision: Decision, text: string): string {
  const extra = decision.params.reason;
  return typeof extra === 'string' && extra.length > 0 ? `${text} — ${extra}` : text;
}
