import type { RuleProperties } from 'json-rules-engine';
import { assemblyRules } from './assembly.js';
import { deployableRules } from './deployable.js';
import { serviceRules } from './service.js';

/** The built-in policy, in a fixed order. */
export const BUILTIN_RULES: readonly RuleProperties[] = [
  ...serviceRules,
  ...assemblyRules,
  ...deployableRules,
];
