/** cpectl's commands, by name and summary; each module is loaded only when its command runs. */
import type { Command, LazyCommand } from './command.js';
import type * as DeployableModule from './deployable.js';
import { SUMMARY, type CommandName } from './summaries.js';

// Each command's module is loaded only when that command runs: cpectl --help
// and a typo load none of them, and each command only what it needs.
// A type-only import: erased, so nothing of deployable.js loads with this table.
const deployable = (key: keyof typeof DeployableModule) => async (): Promise<Command> =>
  (await import('./deployable.js'))[key];
/**
 * For commands that validate configs: the validator's worker starts first,
 * and boots on another core while the command's modules load.
 */
const validating = (load: () => Promise<Command>) => async (): Promise<Command> => {
  (await import('../lib/config/xmllint.js')).sharedXmllint().warmUp();
  return load();
};
const LOADERS: Readonly<Record<CommandName, () => Promise<Command>>> = {
  validate: validating(async () => (await import('./validate.js')).validateCommand),
  show: validating(async () => (await import('./show.js')).showCommand),
  simulate: validating(async () => (await import('./simulate.js')).simulateCommand),
  create: validating(deployable('createCommand')),
  update: validating(deployable('updateCommand')),
  destroy: deployable('destroyCommand'),
  list: deployable('listCommand'),
  status: deployable('statusCommand'),
  events: async () => (await import('./events.js')).eventsCommand,
  start: deployable('startCommand'),
  stop: deployable('stopCommand'),
  fault: async () => (await import('./fault.js')).faultCommand,
  'bus-password': async () => (await import('./bus-password.js')).busPasswordCommand,
  'bus-credentials': async () => (await import('./bus-password.js')).busCredentialsCommand,
};
export const COMMANDS: readonly LazyCommand[] = (Object.keys(SUMMARY) as CommandName[]).map(
  (name) => ({
    name,
    summary: SUMMARY[name],
    load: LOADERS[name],
  }),
);
