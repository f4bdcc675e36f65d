/** Small builders that keep the rule files readable. */
import type { NestedCondition, RuleProperties } from 'json-rules-engine';

export const situation = (kind: string): NestedCondition => ({
  fact: 'situation',
  operator: 'equal',
  value: kind,
});

export const is = (
  fact: string,
  path: string,
  value: string | number | boolean,
): NestedCondition => ({
  fact,
  path: `$.${path}`,
  operator: 'equal',
  value,
});

/** Services are managed only in active monitoring; passive deployables watch assemblies alone. */
export const activeMonitoring = is('deployable', 'monitor', 'active');

export function rule(
  name: string,
  conditions: NestedCondition[],
  type: string,
  params: Record<string, string | number | boolean> = {},
): RuleProperties {
  return { name, priority: 50, conditions: { all: conditions }, event: { type, params } };
}
