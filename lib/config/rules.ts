/**
 * Shape and bounds of custom json-rules-engine rules. Rules come from
 * outside (a config), so they are data to be checked, never code: only the
 * documented keys, the built-in operators, bounded nesting and size, and a
 * restricted `path` syntax (plain member and index steps, no filters or
 * script expressions that a JSONPath evaluator would run).
 */
import { Invalid } from './values.js';

export const RULE_LIMITS = {
  maxBytes: 64 * 1024,
  maxDepth: 8,
  maxConditions: 64,
  maxPathSteps: 8,
} as const;

export const RULE_OPERATORS: ReadonlySet<string> = new Set([
  'equal',
  'notEqual',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
  'in',
  'notIn',
  'contains',
  'doesNotContain',
]);

/** The facts the policy engine gives rules (documented in schemas/README.md). */
export const RULE_FACTS: ReadonlySet<string> = new Set([
  'situation',
  'service',
  'assembly',
  'deployable',
  'now',
]);

/**
 * What a custom rule's event may do: add one of these actions for the
 * situation's subject, veto actions planned for it, or change their priority.
 */
export const RULE_EVENTS: ReadonlySet<string> = new Set([
  'notify',
  'probe',
  'restart',
  'escalate',
  'recover-assembly',
  'fence-assembly',
  'veto',
  'prioritize',
]);
const PATH = /^\$(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}|\[\d{1,6}\])*$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface ParsedRule {
  readonly conditions: unknown;
  readonly event: { readonly type: string; readonly params?: Readonly<Record<string, unknown>> };
}

export function parseRule(text: string): ParsedRule | Invalid {
  if (Buffer.byteLength(text) > RULE_LIMITS.maxBytes) {
    return new Invalid(`rule is over ${RULE_LIMITS.maxBytes} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return new Invalid(`rule is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(json))
    return new Invalid('rule must be a JSON object with "conditions" and "event"');
  const unsafe = findForbiddenKey(json, 0);
  if (unsafe) return new Invalid(unsafe);
  const extra = Object.keys(json).filter((k) => k !== 'conditions' && k !== 'event');
  if (extra.length > 0) {
    return new Invalid(
      `unknown key "${extra[0]}" (a rule has "conditions" and "event"; name and priority are attributes)`,
    );
  }
  const top = json.conditions;
  if (!isRecord(top) || !('all' in top || 'any' in top || 'not' in top)) {
    return new Invalid('"conditions" must be an object that starts with "all", "any" or "not"');
  }
  const conditions = checkCondition(top, 1, { leaves: 0 }, 'conditions');
  if (conditions instanceof Invalid) return conditions;
  const event = checkEvent(json.event);
  if (event instanceof Invalid) return event;
  return { conditions: json.conditions, event };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function findForbiddenKey(value: unknown, depth: number): string | undefined {
  if (depth > 32) return 'rule nests too deeply';
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = findForbiddenKey(item, depth + 1);
      if (found) return found;
    }
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) return `key "${key}" is not allowed in a rule`;
      const found = findForbiddenKey(item, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

function checkCondition(
  node: unknown,
  depth: number,
  counter: { leaves: number },
  at: string,
): true | Invalid {
  if (depth > RULE_LIMITS.maxDepth) {
    return new Invalid(`${at}: conditions nest deeper than ${RULE_LIMITS.maxDepth} levels`);
  }
  if (!isRecord(node)) return new Invalid(`${at}: a condition must be an object`);
  const keys = Object.keys(node);
  for (const group of ['all', 'any'] as const) {
    if (group in node) {
      if (keys.length !== 1 && !(keys.length === 2 && 'priority' in node)) {
        return new Invalid(`${at}: "${group}" must stand alone in its object`);
      }
      const list = node[group];
      if (!Array.isArray(list) || list.length === 0) {
        return new Invalid(`${at}.${group}: must be a non-empty array`);
      }
      for (const [i, child] of list.entries()) {
        const ok = checkCondition(child, depth + 1, counter, `${at}.${group}[${i}]`);
        if (ok instanceof Invalid) return ok;
      }
      return true;
    }
  }
  if ('not' in node) {
    if (keys.length !== 1) return new Invalid(`${at}: "not" must stand alone in its object`);
    return checkCondition(node.not, depth + 1, counter, `${at}.not`);
  }
  if ('condition' in node) {
    return new Invalid(`${at}: shared conditions ("condition") are not supported in custom rules`);
  }
  return checkLeaf(node, counter, at);
}

function checkLeaf(
  node: Record<string, unknown>,
  counter: { leaves: number },
  at: string,
): true | Invalid {
  counter.leaves += 1;
  if (counter.leaves > RULE_LIMITS.maxConditions) {
    return new Invalid(`rule has more than ${RULE_LIMITS.maxConditions} conditions`);
  }
  for (const key of Object.keys(node)) {
    if (!['fact', 'operator', 'value', 'path', 'params', 'priority'].includes(key)) {
      return new Invalid(`${at}: unknown key "${key}"`);
    }
  }
  if (typeof node.fact !== 'string' || !RULE_FACTS.has(node.fact)) {
    return new Invalid(`${at}: "fact" must be one of ${[...RULE_FACTS].join(', ')}`);
  }
  if (typeof node.operator !== 'string' || !RULE_OPERATORS.has(node.operator)) {
    return new Invalid(`${at}: "operator" must be one of ${[...RULE_OPERATORS].join(', ')}`);
  }
  if (!('value' in node)) return new Invalid(`${at}: "value" is missing`);
  const path = checkPath(node.path, at);
  if (path instanceof Invalid) return path;
  if (isRecord(node.value) && 'fact' in node.value) {
    const ref = node.value;
    if (typeof ref.fact !== 'string' || !RULE_FACTS.has(ref.fact)) {
      return new Invalid(`${at}.value: "fact" must be one of ${[...RULE_FACTS].join(', ')}`);
    }
    const refPath = checkPath(ref.path, `${at}.value`);
    if (refPath instanceof Invalid) return refPath;
  }
  if (
    node.priority !== undefined &&
    !(Number.isInteger(node.priority) && (node.priority as number) > 0)
  ) {
    return new Invalid(`${at}: "priority" must be a positive integer`);
  }
  return true;
}

function checkPath(path: unknown, at: string): true | Invalid {
  if (path === undefined) return true;
  if (typeof path !== 'string' || !PATH.test(path)) {
    return new Invalid(`${at}: "path" must be a plain path such as $.metrics.load or $.list[0]`);
  }
  const steps = path.match(/\.|\[/g)?.length ?? 0;
  if (steps > RULE_LIMITS.maxPathSteps) {
    return new Invalid(`${at}: "path" has more than ${RULE_LIMITS.maxPathSteps} steps`);
  }
  return true;
}

/** What a veto may name: any action the planner makes. */
const VETOABLE: ReadonlySet<string> = new Set([
  'start',
  'stop',
  'move',
  ...[...RULE_EVENTS].filter((t) => t !== 'veto' && t !== 'prioritize'),
]);
const PARAM = /^[A-Za-z0-9 ._:,;()'\-]{0,200}$/;

/** Event params are plain strings and numbers the planner reads; each event type has its own. */
function checkEventParams(type: string, params: Record<string, unknown>): string | undefined {
  const allowed: Record<string, readonly string[]> = {
    veto: ['action', 'reason'],
    prioritize: ['priority', 'reason'],
    notify: ['event', 'reason'],
    escalate: ['level', 'reason'],
  };
  const keys = allowed[type] ?? ['reason'];
  for (const [key, value] of Object.entries(params)) {
    if (!keys.includes(key)) return `"${type}" takes params ${keys.join(', ')}, not "${key}"`;
    if (key === 'priority') {
      if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 100) {
        return '"priority" must be a whole number from 1 to 100';
      }
    } else if (typeof value !== 'string' || !PARAM.test(value)) {
      return `"${key}" must be a short plain string`;
    }
  }
  // Every value is a plain string by now (priority aside).
  const { action, level, event } = params as Record<string, string | undefined>;
  if (type === 'veto' && action !== undefined && !VETOABLE.has(action)) {
    return `veto "action" must be an action type (${[...VETOABLE].join(', ')})`;
  }
  if (
    type === 'escalate' &&
    level !== undefined &&
    level !== 'assembly' &&
    level !== 'deployable'
  ) {
    return 'escalate "level" must be assembly or deployable';
  }
  if (type === 'notify' && event !== undefined && !/^[a-z][a-z0-9-]{0,63}$/.test(event)) {
    return 'notify "event" must be a lower-case name such as service-flapping';
  }
  return undefined;
}

function checkEvent(event: unknown): ParsedRule['event'] | Invalid {
  if (!isRecord(event)) return new Invalid('"event" must be an object with a "type"');
  for (const key of Object.keys(event)) {
    if (key !== 'type' && key !== 'params') return new Invalid(`event: unknown key "${key}"`);
  }
  if (typeof event.type !== 'string' || !RULE_EVENTS.has(event.type)) {
    return new Invalid(`event: "type" must be one of ${[...RULE_EVENTS].join(', ')}`);
  }
  if (event.params === undefined) return { type: event.type };
  if (!isRecord(event.params)) return new Invalid('event: "params" must be an object');
  const bad = checkEventParams(event.type, event.params);
  if (bad) return new Invalid(`event: ${bad}`);
  return { type: event.type, params: event.params };
}
