/**
 * The faults a simulation plays (`cpectl simulate --run --fault …`): their
 * kinds and syntax. Apart from the simulator, so that reading a command
 * line does not load the DPE's engine.
 */
import { Invalid, parseDurationOrZero } from '../config/values.js';
import { CpeError } from '../errors.js';

export const FAULT_KINDS = {
  silence: 'ASSEMBLY stops heartbeating (its agent still answers)',
  resume: 'ASSEMBLY heartbeats again',
  crash: 'ASSEMBLY is lost: silent, answers nothing, runs nothing',
  reboot: 'ASSEMBLY boots afresh: beating in a new session, nothing running',
  partition: 'ASSEMBLY neither sends nor receives',
  heal: 'ASSEMBLY ends its partition',
  restart: "ASSEMBLY's agent restarts (a new epoch; services keep running)",
  slow: 'ASSEMBLY=DURATION: every answer takes that much longer',
  fail: 'SERVICE crashes once (its next monitor finds it stopped)',
  'fail-always': 'SERVICE fails every start and monitor',
  clear: "SERVICE's failure mode is cleared",
  hang: "SERVICE's monitor never answers",
  'fail-recovery': "ASSEMBLY's recovery driver fails",
  'bus-down': 'the DPE loses the bus (no target)',
  'bus-up': 'the DPE has the bus again (no target)',
} as const;

export type FaultKind = keyof typeof FAULT_KINDS;

export interface SimFault {
  readonly kind: FaultKind;
  readonly target: string;
  readonly valueMs: number | null;
  /** When, after the simulation starts. */
  readonly atMs: number;
}

const MAX_MS = 7 * 24 * 3600 * 1000;

/** A time or delay in duration syntax (`90s`, `2m`, `500ms`; 0 allowed). */
export function parseOffset(text: string, what: string): number {
  const ms = parseDurationOrZero(text, MAX_MS);
  if (ms instanceof Invalid) throw new CpeError('BAD_FAULT', `${what} "${text}": ${ms.reason}`);
  return ms;
}

/** `KIND[:TARGET][=DURATION][@TIME]`, e.g. `silence:web1@10s`, `slow:db1=2s@1m`, `bus-down@5s`. */
export function parseFault(spec: string): SimFault {
  const m = /^([a-z-]+)(?::([A-Za-z0-9._-]+))?(?:=([^@]+))?(?:@(.+))?$/.exec(spec.trim());
  const kind = m?.[1] as FaultKind | undefined;
  if (!m || kind === undefined || !Object.hasOwn(FAULT_KINDS, kind))
    throw new CpeError(
      'BAD_FAULT',
      `bad fault "${spec}": expected KIND[:TARGET][=DURATION][@TIME] with KIND one of ${Object.keys(FAULT_KINDS).join(', ')}`,
    );
  const needsTarget = !kind.startsWith('bus-');
  if (needsTarget !== (m[2] !== undefined))
    throw new CpeError(
      'BAD_FAULT',
      `bad fault "${spec}": ${kind} ${needsTarget ? 'needs' : 'takes no'} :TARGET`,
    );
  if ((kind === 'slow') !== (m[3] !== undefined))
    throw new CpeError(
      'BAD_FAULT',
      `bad fault "${spec}": ${kind === 'slow' ? 'slow needs =DURATION' : '=DURATION is for slow only'}`,
    );
  return {
    kind,
    target: m[2] ?? '',
    valueMs: m[3] === undefined ? null : parseOffset(m[3], 'delay'),
    atMs: m[4] === undefined ? 0 : parseOffset(m[4], 'time'),
  };
}
