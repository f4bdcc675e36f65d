/**
 * Runs the rules (built-in and the deployable's own) on one situation's facts.
 *
 * json-rules-engine keeps run state on the Engine, so two runs in flight on
 * one Engine can silently skip rules: every plan gets its own Engine, and its
 * runs are awaited one at a time.
 *
 * A run costs ~50 µs plus ~12 µs per rule, far too much per service. But
 * rules see only the facts (and paths) they name, so situations that agree on
 * those values get the same answer: runs are memoised on exactly those
 * values. A hundred assemblies down for the same reason cost one run.
 */
import { Engine, type RuleProperties, type RuleResult } from 'json-rules-engine';
import type { CustomRule } from '../lib/config/index.js';
import { parsePath, resolvePath, resolveSteps } from './path.js';
import { BUILTIN_RULES } from './rules/index.js';

export interface RuleFacts {
  readonly situation: string;
  readonly service: Readonly<Record<string, unknown>> | null;
  readonly assembly: Readonly<Record<string, unknown>> | null;
  readonly deployable: Readonly<Record<string, unknown>>;
  readonly now: number;
}

export interface Decision {
  readonly rule: string;
  readonly custom: boolean;
  readonly priority: number;
  readonly type: string;
  readonly params: Readonly<Record<string, unknown>>;
}

interface Reference {
  readonly fact: string;
  readonly path: string | null;
  /** The path parsed once: it is resolved for every situation. */
  readonly steps: readonly (string | number)[] | null;
}

export const CUSTOM_PREFIX = 'custom:';

export class RuleRunner {
  readonly #engine: Engine;
  readonly #references: readonly Reference[];
  readonly #memo = new DecisionMemo();
  #runs = 0;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(custom: readonly CustomRule[]) {
    const rules: RuleProperties[] = [
      ...BUILTIN_RULES,
      ...custom.map((r) => ({
        name: `${CUSTOM_PREFIX}${r.name}`,
        priority: r.priority,
        conditions: r.conditions as RuleProperties['conditions'],
        event: { type: r.event.type, params: { ...r.event.params } },
      })),
    ];
    this.#engine = new Engine(rules, {
      allowUndefinedFacts: true,
      pathResolver: resolvePath,
      replaceFactsInEventParams: false,
    });
    this.#references = collectReferences(rules);
  }

  /** How many times the engine actually ran (the rest were memoised). */
  get runs(): number {
    return this.#runs;
  }

  /** The decisions for facts already seen, without a run (or an await); else undefined. */
  known(facts: RuleFacts): readonly Decision[] | undefined {
    return this.#memo.get(facts, this.#references);
  }

  /** Runs one at a time, whoever calls: overlapping runs on one Engine lose rules. */
  decide(facts: RuleFacts): Promise<readonly Decision[]> {
    const next = this.#tail.then(() => this.#decide(facts));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  async #decide(facts: RuleFacts): Promise<readonly Decision[]> {
    const known = this.known(facts);
    if (known) return known;
    this.#runs += 1;
    const { results } = await this.#engine.run({ ...facts });
    const decisions = results
      .filter((r: RuleResult) => r.result)
      .map((r: RuleResult): Decision => {
        const name = String(r.name);
        return {
          rule: name,
          custom: name.startsWith(CUSTOM_PREFIX),
          priority: r.priority ?? 50,
          type: r.event?.type ?? '',
          params: (r.event?.params ?? {}) as Record<string, unknown>,
        };
      })
      // Engine callbacks may resolve in any order: fix one.
      .sort((a, b) => b.priority - a.priority || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
    this.#memo.set(facts, this.#references, decisions);
    return decisions;
  }
}

/** A reference's value in one situation's facts. */
function referencedValue(facts: RuleFacts, { fact, steps }: Reference): unknown {
  const value = (facts as unknown as Readonly<Record<string, unknown>>)[fact];
  return steps === null ? value : resolveSteps(value, steps);
}

type Level = Map<unknown, Level>;
/** Where a level keeps the values that are objects (as JSON), apart from strings. */
const OBJECTS = Symbol('objects');
/** Where the last level keeps the decisions. */
const DECISIONS = Symbol('decisions');

/**
 * Decisions by the values of the references, one level of maps per
 * reference: a lookup, made for every situation of a pass, allocates
 * nothing (a JSON key per situation was ~12% of what a 100,000-service pass
 * allocated). Values are told apart as Map keys are (SameValueZero), so
 * null and undefined are two values, as they are to a rule; objects by
 * their JSON.
 */
class DecisionMemo {
  readonly #root: Level = new Map();

  get(facts: RuleFacts, references: readonly Reference[]): readonly Decision[] | undefined {
    let level: Level | undefined = this.#root;
    for (let i = 0; i < references.length && level !== undefined; i++)
      level = step(level, referencedValue(facts, references[i]!), false);
    return level?.get(DECISIONS) as readonly Decision[] | undefined;
  }

  set(facts: RuleFacts, references: readonly Reference[], decisions: readonly Decision[]): void {
    let level = this.#root;
    for (const reference of references)
      level = step(level, referencedValue(facts, reference), true)!;
    level.set(DECISIONS, decisions as unknown as Level);
  }
}

function step(level: Level, value: unknown, create: boolean): Level | undefined {
  if (value !== null && typeof value === 'object') {
    const objects = next(level, OBJECTS, create);
    return objects && next(objects, JSON.stringify(value), create);
  }
  return next(level, value, create);
}

function next(level: Level, key: unknown, create: boolean): Level | undefined {
  return level.get(key) ?? (create ? add(level, key) : undefined);
}

function add(level: Level, key: unknown): Level {
  const child: Level = new Map();
  level.set(key, child);
  return child;
}

/** Every (fact, path) any rule reads, in a fixed order. */
function collectReferences(rules: readonly RuleProperties[]): Reference[] {
  const seen = new Map<string, Reference>();
  const add = (fact: unknown, path: unknown): void => {
    if (typeof fact !== 'string') return;
    const p = typeof path === 'string' ? path : null;
    seen.set(`${fact}\u0000${p ?? ''}`, { fact, path: p, steps: p === null ? null : parsePath(p) });
  };
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const c = node as Record<string, unknown>;
    for (const group of ['all', 'any'] as const) {
      const list = c[group];
      if (Array.isArray(list)) for (const child of list) walk(child);
    }
    if ('not' in c) walk(c.not);
    if ('fact' in c) {
      add(c.fact, c.path);
      const value = c.value as Record<string, unknown> | null;
      if (value !== null && typeof value === 'object' && 'fact' in value)
        add(value.fact, value.path);
    }
  };
  for (const r of rules) walk(r.conditions);
  const key = (r: Reference): string => `${r.fact}\u0000${r.path ?? ''}`;
  return [...seen.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
