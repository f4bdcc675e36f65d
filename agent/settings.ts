import { BUS_SETTINGS, type SettingsTable } from '../lib/settings.js';

/** The agent's settings (flag, CPE_AGENT_* variable, agent.* key in the settings file). */
export const AGENT_SETTINGS = {
  ...BUS_SETTINGS,
  simulate: {
    key: 'agent.simulate',
    flag: '--simulate',
    type: 'boolean',
    default: false,
    help: 'run simulated assemblies in this process (services run in memory; faults over the bus)',
  },
  deployable: {
    key: 'agent.deployable',
    flag: '--deployable',
    type: 'string',
    default: '',
    help: 'the deployable the assemblies belong to (with --simulate: taken from --deployable-config if unset)',
  },
  deployableConfig: {
    key: 'agent.deployableConfig',
    flag: '--deployable-config',
    type: 'string',
    default: '',
    help: 'with --simulate: a deployable config (XML) naming the assemblies to simulate, with their heartbeat intervals',
  },
  count: {
    key: 'agent.count',
    flag: '--count',
    type: 'integer',
    default: 0,
    help: 'with --simulate and no --deployable-config: simulate assemblies asm-1 … asm-N',
  },
  heartbeatMs: {
    key: 'agent.heartbeatMs',
    flag: '--heartbeat-ms',
    type: 'integer',
    default: 1000,
    help: 'heartbeat interval in ms where no deployable config gives one',
  },
} as const satisfies SettingsTable;
