/** Plans as text for people: the table `cpectl simulate` prints. */
import type { Action, PlacementExplanation, Plan } from '../pe/index.js';

export function formatPlan(plan: Plan): string[] {
  const lines = [
    `Deployable ${plan.deployable} at t=${plan.now} (${new Date(plan.now).toISOString()})`,
    '',
    'Assemblies',
  ];
  const width = Math.max(...plan.assemblies.map((a) => a.name.length), 8);
  for (const a of plan.assemblies) {
    const missed = a.missedBeats > 0 ? `  missed ${a.missedBeats}` : '';
    const services = a.services.length > 0 ? `  ${a.services.join(' ')}` : '';
    lines.push(`  ${a.name.padEnd(width)}  ${a.health.padEnd(10)}${missed}${services}`.trimEnd());
  }
  lines.push(
    '',
    plan.actions.length === 0
      ? 'Plan: nothing to do'
      : `Plan (${plan.actions.length} action${plan.actions.length === 1 ? '' : 's'})`,
  );
  const index = new Map(plan.actions.map((a, i) => [a.id, i + 1]));
  for (const [i, a] of plan.actions.entries()) {
    const after = a.after
      .map((d) => (index.has(d) ? `#${index.get(d)}` : `in flight ${d}`))
      .join(', ');
    lines.push(
      `  ${String(i + 1).padStart(3)}  ${a.type.padEnd(16)} ${subject(a).padEnd(36)} ${after ? `after ${after}  ` : ''}[${a.rule}]`,
      `       ${a.reason}`,
    );
  }
  if (plan.waiting.length > 0) lines.push('', `Waiting on in-flight: ${plan.waiting.join(', ')}`);
  if (plan.vetoed.length > 0) {
    lines.push('', 'Vetoed');
    for (const v of plan.vetoed)
      lines.push(`       ${v.action.type} ${subject(v.action)}  [${v.rule}] ${v.reason}`);
  }
  for (const note of plan.notes) lines.push('', `Note: ${note}`);
  if (plan.nextCheckAt !== null)
    lines.push('', `Next check at t=${plan.nextCheckAt} (if nothing new is heard)`);
  return lines;
}

function subject(a: Action): string {
  if (a.type === 'move') {
    return a.to === undefined ? `${a.service} off ${a.from}` : `${a.service} ${a.from} → ${a.to}`;
  }
  if (a.type === 'escalate') {
    const from = a.service ?? (a.level === 'deployable' ? a.assembly : undefined);
    const to = a.level === 'deployable' ? 'deployable' : `assembly ${a.assembly ?? ''}`;
    return from === undefined ? to : `${to} (from ${from})`;
  }
  if (a.service !== undefined && a.assembly !== undefined) return `${a.service} on ${a.assembly}`;
  return a.service ?? a.assembly ?? a.event ?? '';
}

export function formatExplanation(e: PlacementExplanation): string[] {
  const lines = [`Placement of ${e.service}: ${e.chosen === null ? 'no assembly' : e.chosen}`];
  if (e.candidates.length === 0) return [...lines, '  (no such service)'];
  const width = Math.max(...e.candidates.map((c) => c.assembly.length), 8);
  lines.push(`  ${'assembly'.padEnd(width)}  eligible  score     parts`);
  for (const c of e.candidates) {
    const parts = Object.entries(c.parts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const why = c.excludedBy === null ? '' : `  (${c.excludedBy})`;
    lines.push(
      `  ${c.assembly.padEnd(width)}  ${(c.eligible ? 'yes' : 'no').padEnd(8)}  ${String(c.score).padEnd(8)}  ${parts}${why}`.trimEnd(),
    );
  }
  return lines;
}
