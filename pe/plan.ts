/**
 * The planner: input and `now` in, plan out. Reads the world, lists the
 * situations, asks the rules what to do about each, and turns the answers
 * into concrete actions — placing what must start or move, fencing before a
 * never-twice service moves, ordering by the deployable's constraints.
 * Pure: no I/O, no clock, no randomness; the same input gives the same plan.
 */
import { ActionSet } from './actions.js';
import {
  fenceBeforeRecovery,
  followColocations,
  followPlaced,
  orderByConstraints,
  stopApart,
} from './constraints.js';
import type { PlanContext } from './context.js';
import { RuleRunner, type Decision } from './engine.js';
import { expand } from './expand.js';
import {
  comparePlacement,
  place,
  placementKey,
  placementRanks,
  type PlacementKey,
} from './place.js';
import { Placer } from './placement.js';
import { retryAt, situations as listSituations, type Situation } from './situations.js';
import type { ActionType, PeInput, Plan, PlacementExplanation } from './types.js';
import { allServices, readWorld, type World } from './world.js';
import { factsOf, text } from './words.js';

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
  readonly #ctx: PlanContext;

  constructor(
    private readonly world: World,
    options: PlanOptions,
  ) {
    this.#ctx = {
      world,
      actions: new ActionSet(world.input.inFlight.map((a) => a.id)),
      placer: new Placer(world),
      explain: new Set(options.explain ?? []),
      explained: new Map<string, PlacementExplanation>(),
    };
  }

  apply(decided: readonly { situation: Situation; decisions: readonly Decision[] }[]): void {
    const placing: {
      situation: Situation;
      decision: Decision;
      vetoes: readonly Decision[];
      priority: number | undefined;
      key: PlacementKey | null;
    }[] = [];
    // The rules' answers are memoised, so thousands of situations share a few lists of decisions.
    const digests = new Map<readonly Decision[], Digest>();
    const ranks = placementRanks(this.world);
    for (const { situation, decisions } of decided) {
      let digested = digests.get(decisions);
      if (!digested) digests.set(decisions, (digested = digest(decisions)));
      const { vetoes, priority, steps } = digested;
      const ids: string[] = [];
      for (const { decision, veto } of steps) {
        if (veto && PLACING.has(decision.type)) {
          this.#vetoUnplaced(situation, decision, veto);
        } else if (PLACING.has(decision.type)) {
          placing.push({
            situation,
            decision,
            vetoes,
            priority,
            key: placementKey(this.world, situation.service, ranks),
          });
        } else {
          ids.push(...expand(this.#ctx, situation, decision));
        }
      }
      if (ids.length > 0) this.#finishSituation(ids, vetoes, priority);
    }
    placing.sort((a, b) => comparePlacement(a.key, b.key));
    for (const { situation, decision, vetoes, priority } of placing) {
      this.#finishSituation(place(this.#ctx, situation, decision), vetoes, priority);
      if (situation.service) followPlaced(this.#ctx, situation.service.config.id);
    }
    followColocations(this.#ctx);
    orderByConstraints(this.#ctx);
    stopApart(this.#ctx);
    fenceBeforeRecovery(this.#ctx);
  }

  finish(): Plan {
    const { world } = this;
    const nextCheckAt = [
      ...[...world.health.values()].map((h) => h.changesAt),
      ...world.config.assemblies.map((a) => retryAt(world, a.name)),
    ]
      .filter((t): t is number => t !== null && t > world.now)
      .reduce<number | null>((min, t) => (min === null || t < min ? t : min), null);
    return {
      deployable: world.config.name,
      now: world.now,
      actions: this.#ctx.actions.ordered(),
      vetoed: this.#ctx.actions.vetoed,
      waiting: inFlightIds(world),
      assemblies: world.config.assemblies.map((a) => {
        const h = world.health.get(a.name)!;
        return {
          name: a.name,
          health: h.health,
          missedBeats: h.missedBeats,
          services: world.tallies.get(a.name)!.running,
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
    if (unheard.length === 0) return [];
    const waiting = allServices(world).filter((s) => s.unseen && s.running.length === 0).length;
    if (waiting === 0) return [];
    return [
      `${waiting} service${waiting === 1 ? '' : 's'} not started until ${unheard.join(', ')} report${unheard.length === 1 ? 's' : ''} (each may already run there)`,
    ];
  }

  explanations(): PlacementExplanation[] {
    return [...this.#ctx.explain].sort().map(
      (id) =>
        this.#ctx.explained.get(id) ??
        (() => {
          const s = this.world.byId.get(id);
          if (!s) return { service: id, chosen: null, candidates: [] };
          const current = this.#ctx.placer.locationOf(id) ?? null;
          return this.#ctx.placer.explain({ service: s.config, current, exclude: [] });
        })(),
    );
  }

  #vetoUnplaced(situation: Situation, decision: Decision, veto: Decision): void {
    const sid = situation.service?.config.id ?? '';
    this.#ctx.actions.vetoUnplanned(
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
      const action = this.#ctx.actions.get(id);
      if (!action) continue;
      const veto = vetoes.find((v) => vetoMatches(v, action.type));
      if (veto)
        this.#ctx.actions.veto(id, veto.rule, text(veto.params.reason, `vetoed by ${veto.rule}`));
      else if (priority !== undefined) this.#ctx.actions.setPriority(id, priority);
    }
  }
}

/**
 * The ids of the actions in flight, sorted. Apart from `finish`: sorting the
 * (usually empty) result of a map there deoptimised it on every other pass.
 */
function inFlightIds(world: World): string[] {
  const ids: string[] = [];
  for (const a of world.input.inFlight) ids.push(a.id);
  return ids.sort();
}

/** What `apply` reads of one list of decisions. */
interface Digest {
  readonly vetoes: readonly Decision[];
  readonly priority: number | undefined;
  /** The decisions to act on, in order, each with the veto that matches it (if any). */
  readonly steps: readonly { readonly decision: Decision; readonly veto: Decision | undefined }[];
}

function digest(decisions: readonly Decision[]): Digest {
  const vetoes = decisions.filter((d) => d.type === 'veto');
  const priority = decisions.find((d) => d.type === 'prioritize')?.params.priority as
    number | undefined;
  // An escalation supersedes a restart of the same failure, whichever rule asked for it.
  const escalating = decisions.some((d) => d.type === 'escalate');
  const steps: { decision: Decision; veto: Decision | undefined }[] = [];
  for (const decision of decisions) {
    if (decision.type === 'veto' || decision.type === 'prioritize') continue;
    if (escalating && decision.type === 'restart') continue;
    steps.push({ decision, veto: vetoes.find((v) => vetoMatches(v, decision.type)) });
  }
  return { vetoes, priority, steps };
}

function vetoMatches(veto: Decision, type: string): boolean {
  const target = veto.params.action;
  return target === undefined || target === type;
}
