/**
 * A plan under construction: actions by id, in-flight de-duplication,
 * vetoes, and the final ordering (dependencies first; among actions free to
 * run, higher priority first, then id — so the order is deterministic).
 */
import { Heap } from '../lib/heap.js';
import type { Action, ActionType, FactValue, VetoedAction } from './types.js';

export const DEFAULT_PRIORITY: Readonly<Record<ActionType, number>> = {
  escalate: 90,
  'fence-assembly': 85,
  'recover-assembly': 80,
  stop: 70,
  move: 50,
  start: 50,
  restart: 50,
  probe: 40,
  notify: 10,
  blocked: 0,
};

/** Shared by every action that waits for nothing: lists are never changed in place (`addDependency`). */
const NO_AFTER: readonly string[] = Object.freeze([]);

export type Draft = Omit<Action, 'priority' | 'after'> & {
  priority?: number;
  after?: readonly string[];
};

/** A planned action, changeable until the plan is finished. */
type Planned = { -readonly [K in keyof Action]: Action[K] } & {
  /** Its place in (priority, id) order, set by `ordered`. */
  rank: number;
};

export class ActionSet {
  readonly #actions = new Map<string, Planned>();
  readonly #inFlight: ReadonlySet<string>;
  readonly #vetoed: VetoedAction[] = [];
  readonly #byService = new Map<string, string[]>();
  /** Dependencies that give way when they close a cycle (`addSoftDependency`), by id and `on`. */
  readonly #soft = new Map<string, { readonly id: string; readonly on: string }>();

  constructor(inFlightIds: Iterable<string>) {
    this.#inFlight = new Set(inFlightIds);
  }

  /** Adds an action unless the same one is in flight or already planned; returns its id. */
  add(draft: Draft): string {
    if (this.#inFlight.size > 0 && this.#inFlight.has(draft.id)) return draft.id; // already being done
    if (!this.#actions.has(draft.id)) {
      if (draft.service !== undefined) {
        const ids = this.#byService.get(draft.service);
        if (ids) ids.push(draft.id);
        else this.#byService.set(draft.service, [draft.id]);
      }
      // One fixed shape for every action (no spread): thousands are made per pass.
      this.#actions.set(draft.id, {
        id: draft.id,
        type: draft.type,
        service: draft.service,
        assembly: draft.assembly,
        from: draft.from,
        to: draft.to,
        level: draft.level,
        event: draft.event,
        after: draft.after === undefined || draft.after.length === 0 ? NO_AFTER : [...draft.after],
        priority: draft.priority ?? DEFAULT_PRIORITY[draft.type],
        rule: draft.rule,
        reason: draft.reason,
        facts: draft.facts,
        rank: -1,
      });
    }
    return draft.id;
  }

  get(id: string): Action | undefined {
    return this.#actions.get(id);
  }

  /** The first planned action on `service` that satisfies the predicate. */
  findFor(service: string, predicate: (a: Action) => boolean): Action | undefined {
    // Asked for every move a pass places, most of them of services with no action yet.
    const ids = this.#byService.get(service);
    if (ids === undefined) return undefined;
    for (const id of ids) {
      const a = this.#actions.get(id); // removed ones stay in the index, and are skipped
      if (a && a.service === service && predicate(a)) return a;
    }
    return undefined;
  }

  /** Every planned action that satisfies the predicate, in no particular order. */
  filter(predicate: (a: Action) => boolean): Action[] {
    return [...this.#actions.values()].filter(predicate);
  }

  /** `id` waits for `on`, whatever else the plan holds (one asked for softly before is kept too). */
  addDependency(id: string, on: string): void {
    this.#soft.delete(`${id}\u0000${on}`);
    this.#link(id, on);
  }

  /**
   * A dependency that gives way if the plan's other dependencies need the
   * opposite order: a dependant moving along after its partner (a
   * colocation) yields to an order that puts it first. Without it, such a
   * config closed a cycle and the pass failed.
   */
  addSoftDependency(id: string, on: string): void {
    if (this.#link(id, on)) this.#soft.set(`${id}\u0000${on}`, { id, on });
  }

  /** Adds the dependency; false where it was there already (or cannot be). */
  #link(id: string, on: string): boolean {
    const action = this.#actions.get(id);
    if (!action || id === on || action.after.includes(on)) return false;
    action.after = [...action.after, on].sort();
    return true;
  }

  setPriority(id: string, priority: number): void {
    const action = this.#actions.get(id);
    if (action) action.priority = priority;
  }

  replace(id: string, draft: Draft): void {
    this.#actions.delete(id);
    this.#forget(id);
    this.add(draft);
  }

  veto(id: string, rule: string, reason: string): void {
    const action = this.#actions.get(id);
    if (!action) return;
    this.#actions.delete(id);
    this.#vetoed.push({ action: canonical(action), rule, reason });
    this.#forget(id);
  }

  /** Nothing waits for an action no longer planned (replaced, vetoed). */
  #forget(id: string): void {
    for (const other of this.#actions.values()) {
      if (other.after.includes(id)) other.after = other.after.filter((x) => x !== id);
    }
  }

  /** Records a vetoed action that was never planned (a placement the rules forbade). */
  vetoUnplanned(action: Action, rule: string, reason: string): void {
    this.#vetoed.push({ action: canonical(action), rule, reason });
  }

  get vetoed(): readonly VetoedAction[] {
    return this.#vetoed;
  }

  /** Dependencies first; among ready actions, higher priority, then id. */
  ordered(): Action[] {
    const out = this.#ordered();
    if (out !== null) return out;
    // A cycle: the soft dependencies give way, from every action's list.
    for (const { id, on } of this.#soft.values()) {
      const action = this.#actions.get(id);
      if (action) action.after = action.after.filter((x) => x !== on);
    }
    this.#soft.clear();
    const again = this.#ordered();
    // Cannot happen: ordering cycles are refused with the config. Fail loudly, not silently.
    if (again === null) throw new Error('planner produced a dependency cycle');
    return again;
  }

  /** The actions in order, or null where their dependencies form a cycle. */
  #ordered(): Action[] | null {
    // Ranked once by (priority, id), so that the heap compares numbers, not
    // ids (long strings that share their start): a plan can hold thousands.
    const list = [...this.#actions.values()].sort(
      (a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    for (let i = 0; i < list.length; i++) list[i]!.rank = i;
    const pending = new Int32Array(list.length);
    const dependants: (number[] | undefined)[] = new Array<number[] | undefined>(list.length);
    for (let i = 0; i < list.length; i++) {
      for (const d of list[i]!.after) {
        const j = this.#actions.get(d)?.rank;
        if (j === undefined) continue;
        pending[i]! += 1;
        (dependants[j] ??= []).push(i);
      }
    }
    // Ready from the start, in rank order already: the heap holds only those
    // that become ready on the way, and the next of the two runs is the lower.
    const waits = pending.map((p) => (p === 0 ? 0 : 1));
    const ready = new Heap<number>((a, b) => a < b);
    const out: Action[] = [];
    let next = 0; // the next action, in rank order, that waited for nothing
    for (;;) {
      while (next < list.length && waits[next] === 1) next++;
      const top = ready.peek();
      let i: number;
      if (top !== undefined && (next === list.length || top < next)) i = ready.pop()!;
      else if (next < list.length) i = next++;
      else break;
      out.push(canonical(list[i]!));
      const released = dependants[i];
      if (released === undefined) continue;
      for (const d of released) {
        pending[d]! -= 1;
        if (pending[d] === 0) ready.push(d);
      }
    }
    return out.length === list.length ? out : null;
  }
}

/** Fixed key order and sorted facts, so JSON output is byte-identical for the same plan. */
export function canonical(a: Action): Action {
  // Named stores, not a loop over the key names: a plan can hold thousands of actions.
  const out: Record<string, unknown> = { id: a.id, type: a.type };
  if (a.service !== undefined) out.service = a.service;
  if (a.assembly !== undefined) out.assembly = a.assembly;
  if (a.from !== undefined) out.from = a.from;
  if (a.to !== undefined) out.to = a.to;
  if (a.level !== undefined) out.level = a.level;
  if (a.event !== undefined) out.event = a.event;
  out.after = a.after; // never changed in place: addDependency makes a new list
  out.priority = a.priority;
  out.rule = a.rule;
  out.reason = a.reason;
  out.facts = sortedFacts(a.facts);
  return out as unknown as Action;
}

function sortedFacts(
  facts: Readonly<Record<string, FactValue>>,
): Readonly<Record<string, FactValue>> {
  let previous: string | undefined;
  let sorted = true;
  for (const k in facts) {
    if (previous !== undefined && previous >= k) sorted = false;
    previous = k;
  }
  if (sorted) return facts;
  return Object.fromEntries(
    Object.keys(facts)
      .sort()
      .map((k) => [k, facts[k]!]),
  );
}
