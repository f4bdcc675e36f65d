/**
 * The recovery drivers behind recover-assembly and fence-assembly:
 *
 * - `command`: the configured executable, run without a shell as
 *   `COMMAND ACTION DEPLOYABLE ASSEMBLY UUID` (ACTION is recover or fence)
 *   with the same in CPE_RECOVERY_* variables; exit 0 is done. Past its
 *   timeout its whole process group is killed. Only commands the host's
 *   settings allow are run.
 * - `qmf`: a method call (recover_assembly / fence_assembly) to cloud
 *   management software at the address the host's settings name; rc 0 is
 *   done.
 */
import type { MethodClient } from '../lib/bus/client.js';
import { qmfText } from '../lib/bus/qmf.js';
import type { AssemblyConfig, DeployableConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import { lastLine, runProgram } from '../lib/exec.js';
import type { Logger } from '../lib/log.js';
import type { RecoveryPort } from './actions.js';
import type { ActionResult } from './executor.js';

export interface RecoveryOptions {
  readonly allowed: readonly string[];
  readonly qmf: {
    readonly client: MethodClient;
    readonly address: string;
    readonly object: string;
  };
  readonly log: Logger;
}

/** Output kept from a recovery command, for the action's detail. */
const MAX_OUTPUT = 2048;

export function recoveryPort(o: RecoveryOptions): RecoveryPort {
  return {
    run: async (kind, assembly, deployable) => {
      const d = assembly.recovery;
      if (d.driver === 'command') {
        if (!o.allowed.includes(d.command))
          return {
            ok: false,
            detail: `recovery command ${d.command} is not allowed on this host (recovery.commands)`,
          };
        return runCommand(d.command, d.timeoutMs, kind, assembly, deployable, o.log);
      }
      if (d.driver === 'qmf') {
        try {
          const r = await o.qmf.client.call(
            { address: o.qmf.address, object: o.qmf.object },
            `${kind}_assembly`,
            { deployable: deployable.name, assembly: assembly.name, uuid: assembly.uuid },
            d.timeoutMs,
          );
          return r.rc === 0
            ? { ok: true, detail: `${o.qmf.address}: ${kind}_assembly answered rc 0` }
            : {
                ok: false,
                detail: `${o.qmf.address}: ${kind}_assembly answered rc ${qmfText(r.rc)}`,
              };
        } catch (err) {
          return { ok: false, detail: `${o.qmf.address}: ${errorMessage(err)}` };
        }
      }
      return { ok: false, detail: 'no recovery driver' };
    },
  };
}

async function runCommand(
  command: string,
  timeoutMs: number,
  kind: 'recover' | 'fence',
  assembly: AssemblyConfig,
  deployable: DeployableConfig,
  log: Logger,
): Promise<ActionResult> {
  const r = await runProgram(command, [kind, deployable.name, assembly.name, assembly.uuid], {
    timeoutMs,
    maxOutput: MAX_OUTPUT,
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CPE_RECOVERY_ACTION: kind,
      CPE_RECOVERY_DEPLOYABLE: deployable.name,
      CPE_RECOVERY_ASSEMBLY: assembly.name,
      CPE_RECOVERY_ASSEMBLY_UUID: assembly.uuid,
      ...(assembly.address ? { CPE_RECOVERY_ASSEMBLY_ADDRESS: assembly.address } : {}),
    },
  });
  if (r.spawnError !== null) return { ok: false, detail: `${command}: ${r.spawnError}` };
  if (r.timedOut)
    return { ok: false, detail: `${command} ${kind}: timed out after ${timeoutMs} ms` };
  log.info('recovery command finished', {
    command,
    kind,
    assembly: assembly.name,
    code: r.code,
    signal: r.signal,
  });
  const last = lastLine(`${r.stdout}\n${r.stderr}`);
  const tail = last ? `: ${last}` : '';
  return r.code === 0
    ? { ok: true, detail: `${command} ${kind} ${assembly.name}: exit 0${tail}` }
    : {
        ok: false,
        detail: `${command} ${kind} ${assembly.name}: ${r.signal ? `signal ${r.signal}` : `exit ${String(r.code)}`}${tail}`,
      };
}
