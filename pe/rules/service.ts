/**
 * Built-in policy for services: restart in place, escalate after N failures
 * within P, start what runs nowhere, move what was on a lost assembly, probe
 * what is unknown, stop duplicates, move what is misplaced, fail back.
 */
import type { RuleProperties } from 'json-rules-engine';
import { activeMonitoring, is, rule, situation } from './builders.js';

export const serviceRules: readonly RuleProperties[] = [
  rule(
    'restart-failed-service',
    [situation('service-failed'), activeMonitoring, is('service', 'escalate', false)],
    'restart',
  ),
  rule(
    'escalate-service-to-assembly',
    [
      situation('service-failed'),
      activeMonitoring,
      is('service', 'escalate', true),
      is('assembly', 'escalate', false),
    ],
    'escalate',
    { level: 'assembly' },
  ),
  rule(
    'escalate-service-to-deployable',
    [
      situation('service-failed'),
      activeMonitoring,
      is('service', 'escalate', true),
      is('assembly', 'escalate', true),
    ],
    'escalate',
    { level: 'deployable' },
  ),
  rule('start-stopped-service', [situation('service-stopped'), activeMonitoring], 'start'),
  rule('move-service-off-lost-assembly', [situation('service-lost'), activeMonitoring], 'move'),
  rule('probe-unknown-service', [situation('service-unknown'), activeMonitoring], 'probe'),
  rule('stop-duplicate-instances', [situation('service-duplicate'), activeMonitoring], 'stop'),
  rule('move-misplaced-service', [situation('service-misplaced'), activeMonitoring], 'move'),
  rule('fail-back-home', [situation('service-failback'), activeMonitoring], 'move'),
];
