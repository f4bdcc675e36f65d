/**
 * What a service class (systemd, ocf, lsb) does for the agent: run one
 * operation within a time limit and answer an OCF result code. Classes
 * check every name again where it becomes a path or a unit name — the
 * agent trusts the bus no more than the CPE does.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { OCF, type ServiceOp, type ServiceSpec } from '../lib/agent/protocol.js';

export interface OpRun {
  readonly op: ServiceOp;
  readonly spec: ServiceSpec;
  readonly timeoutMs: number;
  /** A recurring monitor's interval; 0 for everything else. */
  readonly intervalMs: number;
}

/** A monitor that asks what runs (inventory, a one-off), not one that watches what should. */
export function isProbe(r: OpRun): boolean {
  return r.op === 'monitor' && r.intervalMs === 0;
}

export interface OpAnswer {
  readonly rc: number;
  readonly text: string;
  readonly timedOut?: boolean;
}

export interface ClassDriver {
  run(r: OpRun): Promise<OpAnswer>;
  /** What the service itself advises as the operation's time limit (OCF meta-data), if anything. */
  advisedTimeoutMs?(op: ServiceOp, spec: ServiceSpec): Promise<number | undefined>;
  close?(): void;
}

/** A name that becomes one path component: no separators, no "." or "..", no leading "-". */
export const PATH_COMPONENT = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$/;

export function timedOutAnswer(what: string, timeoutMs: number): OpAnswer {
  return { rc: 1, text: `${what} timed out after ${timeoutMs} ms`, timedOut: true };
}

/**
 * The answer when the program at `path` (a "resource agent", an "init
 * script") cannot run — null when it can. What is not installed is not
 * running: a stop or a probe answers 7; anything else 5, "not installed".
 */
export async function missingProgram(
  path: string,
  what: string,
  r: OpRun,
): Promise<OpAnswer | null> {
  const st = await stat(path).catch(() => null);
  let why: string | null = null;
  if (!st) why = `${what} ${path} is not installed`;
  else if (!st.isFile())
    why = `${path} is not ${/^[aeiou]/i.test(what) ? 'an' : 'a'} ${what} (not a file)`;
  else
    why = await access(path, constants.X_OK).then(
      () => null,
      () => `${what} ${path} is not executable`,
    );
  if (why === null) return null;
  if (r.op === 'stop' || isProbe(r)) return { rc: OCF.notRunning, text: `${why}: not running` };
  return { rc: OCF.errInstalled, text: why };
}
