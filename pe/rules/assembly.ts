/**
 * Built-in policy for assemblies: a suspect assembly is reported; a down one
 * is handed to its recovery driver (its services are moved by the service
 * rules), or escalates the deployable when it fails too often.
 */
import type { RuleProperties } from 'json-rules-engine';
import { is, rule, situation } from './builders.js';

export const assemblyRules: readonly RuleProperties[] = [
  rule('notify-suspect-assembly', [situation('assembly-suspect')], 'notify', {
    event: 'assembly-suspect',
  }),
  rule(
    'recover-down-assembly',
    [situation('assembly-down'), is('assembly', 'escalate', false)],
    'recover-assembly',
  ),
  rule(
    'escalate-assembly-to-deployable',
    [situation('assembly-down'), is('assembly', 'escalate', true)],
    'escalate',
    { level: 'deployable' },
  ),
];
