import { BUS_SETTINGS, type SettingsTable } from '../lib/settings.js';

export const DPE_SETTINGS = {
  ...BUS_SETTINGS,
  name: {
    key: 'dpe.name',
    flag: '--name',
    env: 'CPE_DPE_NAME',
    type: 'string',
    default: '',
    help: 'the deployable this DPE runs (dpe@NAME.service passes it)',
  },
  heartbeatMs: {
    key: 'dpe.heartbeatMs',
    type: 'integer',
    default: 1000,
    help: 'how often the DPE tells the CPE it is alive, in ms',
  },
} as const satisfies SettingsTable;
