/**
 * The failure window, counted as the original did (pacemaker-cloud's
 * recover.c): keep the failures since the last escalation; when there are at
 * least N, escalate if the newest and the Nth-newest are at most P apart.
 * An escalation starts the count afresh.
 */
import type { Escalation } from '../lib/config/index.js';

export interface WindowState {
  /** Failures counted: those after the last escalation. */
  readonly counted: number;
  readonly escalate: boolean;
  /** Span of the last N failures (ms), when there are N. */
  readonly span: number | null;
}

export function failureWindow(
  failures: readonly number[],
  lastEscalation: number | null,
  policy: Escalation,
): WindowState {
  const counted = lastEscalation === null ? failures : failures.filter((t) => t > lastEscalation);
  if (policy === null || counted.length < policy.failures) {
    return { counted: counted.length, escalate: false, span: null };
  }
  const newest = counted[counted.length - 1]!;
  const nth = counted[counted.length - policy.failures]!;
  const span = newest - nth;
  return { counted: counted.length, escalate: span <= policy.periodMs, span };
}
