/**
 * The host's policy for recovery drivers. Configs come from API callers, so
 * the commands a config may name are those the host allows: an allowlist
 * in the CPE's and DPEs' settings, checked when a config is stored and
 * again before a DPE runs one.
 */
import type { DeployableConfig } from './config/index.js';
import { CpeError } from './errors.js';
import type { SettingsTable } from './settings.js';

export const RECOVERY_SETTINGS = {
  recoveryCommands: {
    key: 'recovery.commands',
    type: 'string',
    default: '/usr/libexec/cpe/recover-assembly',
    help: 'the commands a config\'s <recovery driver="command"> may name: absolute paths separated by ":"',
  },
  recoveryQmfAddress: {
    key: 'recovery.qmfAddress',
    type: 'string',
    default: 'cloud.recovery',
    help: 'driver="qmf": the bus node address of the cloud management software that recovers assemblies',
  },
  recoveryQmfObject: {
    key: 'recovery.qmfObject',
    type: 'string',
    default: 'recovery',
    help: 'driver="qmf": the QMF object there (methods recover_assembly, fence_assembly)',
  },
} as const satisfies SettingsTable;

export function allowedCommands(setting: string): string[] {
  return setting
    .split(':')
    .map((p) => p.trim())
    .filter((p) => p.startsWith('/'));
}

/** Throws RECOVERY_COMMAND_NOT_ALLOWED for the first command the host does not allow. */
export function checkRecoveryCommands(config: DeployableConfig, allowed: readonly string[]): void {
  for (const a of config.assemblies) {
    if (a.recovery.driver !== 'command' || allowed.includes(a.recovery.command)) continue;
    throw new CpeError(
      'RECOVERY_COMMAND_NOT_ALLOWED',
      `assembly ${a.name}: recovery command ${a.recovery.command} is not allowed on this host (recovery.commands: ${allowed.join(':') || 'none'})`,
    );
  }
}
