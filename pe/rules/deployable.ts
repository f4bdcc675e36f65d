/** Built-in policy for the deployable as a whole. */
import type { RuleProperties } from 'json-rules-engine';
import { is, rule, situation } from './builders.js';

export const deployableRules: readonly RuleProperties[] = [
  rule(
    'notify-deployable-unavailable',
    [
      situation('deployable'),
      is('deployable', 'up', 0),
      { fact: 'deployable', path: '$.down', operator: 'greaterThan', value: 0 },
    ],
    'notify',
    { event: 'deployable-unavailable' },
  ),
];
