/**
 * The policy engine: a pure library. `plan(input, now)` reads config and
 * observed state and returns a plan — ordered actions with dependencies, each
 * with the rule and facts that produced it. No I/O, no timers, no clock.
 */
export { plan, type PlanOptions, type PlanResult } from './plan.js';
export { readPeInput, PeInputError, ACTION_TYPES } from './input.js';
export { failureWindow } from './escalation.js';
export { assemblyHealth, SUSPECT_AFTER_INTERVALS, type AssemblyHealth } from './health.js';
export { HOME_SCORE, FAILBACK_SCORE } from './placement.js';
export { BUILTIN_RULES } from './rules/index.js';
export type * from './types.js';
