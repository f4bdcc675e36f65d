/**
 * The words of a plan: which facts an action records of its situation, the
 * incident its id names, and the reason texts an operator reads.
 */
import type { Decision } from './engine.js';
import type { Situation } from './situations.js';
import type { FactValue } from './types.js';
import type { World } from './world.js';

/**
 * What an action records of its situation (the deployable's counts only for
 * deployable situations), keys sorted. Built from object literals: a plan
 * can record thousands, and literals are many times faster to build than
 * keys added one by one. Once per situation, kept on it (not in a WeakMap,
 * whose thousands of entries a pass cost the collector more than the
 * record): the actions made of one share one record.
 */
export function factsOf(situation: Situation): Readonly<Record<string, FactValue>> {
  return (situation.recorded ??= recordOf(situation));
}

function recordOf(situation: Situation): Record<string, FactValue> {
  const { service: sv, assembly: as, deployable: d } = situation.facts;
  // Most situations concern a service on an assembly: one literal of every
  // key (a missing side's values are undefined, and left out below).
  const out: Record<string, unknown> =
    situation.kind === 'deployable'
      ? {
          'deployable.down': d.down,
          'deployable.recovering': d.recovering,
          'deployable.suspect': d.suspect,
          'deployable.up': d.up,
          situation: situation.kind, // sorts last: every other key starts with a-s
        }
      : {
          'assembly.escalate': as?.escalate,
          'assembly.failures': as?.failures,
          'assembly.health': as?.health,
          'assembly.missedBeats': as?.missedBeats,
          'assembly.name': as?.name,
          'assembly.recovery': as?.recovery,
          'service.escalate': sv?.escalate,
          'service.failureSpanMs': sv?.failureSpanMs,
          'service.failures': sv?.failures,
          'service.id': sv?.id,
          'service.state': sv?.state,
          'service.unique': sv?.unique,
          situation: situation.kind,
        };
  // Only values a fact can hold (a missing or structured field is left out).
  for (const key in out) {
    const v = out[key];
    if (!(v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
      delete out[key];
  }
  return out as Record<string, FactValue>;
}

export function incident(situation: Situation): string {
  const last = situation.facts.service?.lastFailure;
  if (typeof last === 'number') return String(last);
  const beat = situation.facts.assembly?.lastHeartbeat;
  if (typeof beat === 'number') return String(beat);
  return 'never';
}

export function assemblyIncident(world: World, assembly: string): string {
  return String(world.input.assemblies[assembly]?.lastHeartbeat ?? 'never');
}

export function healthText(world: World, assembly: string): string {
  const h = world.health.get(assembly)!;
  return h.health === 'down' ? `down (${h.reason})` : `${h.health} (${h.reason})`;
}

export function failureCount(situation: Situation): number {
  return Number(situation.facts.service?.failures ?? 0);
}

/** Why a failure restarts rather than escalates, in the original's terms. */
export function failureText(situation: Situation): string {
  const n = failureCount(situation);
  const policy = situation.service?.config.escalation ?? null;
  if (policy === null) return n > 1 ? ` (${times(n)}; it never escalates)` : '';
  if (n < policy.failures)
    return n > 1
      ? ` (${times(n)} since the last escalation; escalation takes ${policy.failures})`
      : '';
  const span = situation.facts.service?.failureSpanMs;
  return ` (the last ${policy.failures} failures span ${String(span)} ms; escalation needs them within ${policy.periodMs} ms)`;
}

export function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}

export function windowText(situation: Situation): string {
  const span = situation.facts.service?.failureSpanMs;
  return typeof span === 'number' ? ` within ${span} ms` : '';
}

export function notifyText(situation: Situation, event: string): string {
  if (situation.kind === 'deployable') {
    const d = situation.facts.deployable;
    return `${event}: no assembly is up (${String(d.down)} down, ${String(d.recovering)} recovering, ${String(d.unknown)} unknown)`;
  }
  const subject = situation.service?.config.id ?? situation.assembly ?? 'the deployable';
  return `${event}: ${subject}`;
}

/** A rule's string param, or the fallback when it set none. */
export function text(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

export function reasonFor(decision: Decision, text: string): string {
  const extra = decision.params.reason;
  return typeof extra === 'string' && extra.length > 0 ? `${text} — ${extra}` : text;
}
