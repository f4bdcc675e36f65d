/**
 * Class `lsb`: init scripts, `/etc/init.d/NAME start|stop|status`, with
 * the LSB's exit codes (Linux Standard Base Core, "Init Script Actions"):
 * start and stop share OCF's codes 0–7; status says 0 running, 1–3 not
 * running (dead with a pid file or lock, or stopped), 4 unknown. Scripts
 * take no parameters.
 */
import { join } from 'node:path';
import { OCF } from '../lib/agent/protocol.js';
import { runProgram } from '../lib/exec.js';
import type { ClassDriver, OpAnswer, OpRun } from './driver.js';
import { missingProgram, PATH_COMPONENT } from './driver.js';
import { answerOf } from './ocf.js';

export interface LsbOptions {
  /** Where the scripts are: /etc/init.d. */
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
}

const STATUS: Readonly<Record<number, { rc: number; text: string }>> = {
  0: { rc: OCF.success, text: 'running' },
  1: { rc: OCF.notRunning, text: 'not running, but a pid file exists' },
  2: { rc: OCF.notRunning, text: 'not running, but a lock file exists' },
  3: { rc: OCF.notRunning, text: 'not running' },
  4: { rc: OCF.errGeneric, text: 'status unknown' },
};

/** The System V scripts that take the host down, and the engine's own: never through the bus. */
const REFUSED = new Set([
  'halt',
  'reboot',
  'rc',
  'rcS',
  'sendsigs',
  'single',
  'killprocs',
  'umountfs',
  'umountnfs.sh',
  'umountroot',
  'cpe',
  'cpe-agent',
]);

export class LsbDriver implements ClassDriver {
  constructor(readonly o: LsbOptions) {}

  async run(r: OpRun): Promise<OpAnswer> {
    if (!PATH_COMPONENT.test(r.spec.type))
      return { rc: OCF.errArgs, text: `type "${r.spec.type}" is not an init script name` };
    if (REFUSED.has(r.spec.type))
      return { rc: OCF.errPerm, text: `init script ${r.spec.type} is never run through the bus` };
    const path = join(this.o.dir, r.spec.type);
    const missing = await missingProgram(path, 'init script', r);
    if (missing) return missing;
    const action = r.op === 'monitor' ? 'status' : r.op;
    const result = await runProgram(path, [action], { env: this.o.env, timeoutMs: r.timeoutMs });
    const what = `${path} ${action}`;
    if (action !== 'status' || result.code === null || result.timedOut)
      return answerOf(what, result, r.timeoutMs);
    const mapped = STATUS[result.code] ?? {
      rc: OCF.errGeneric,
      text: `exit ${result.code}, not an LSB status`,
    };
    return { rc: mapped.rc, text: `${what}: ${mapped.text}` };
  }
}
