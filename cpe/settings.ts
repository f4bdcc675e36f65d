import { RECOVERY_SETTINGS } from '../lib/recovery.js';
import { BUS_SETTINGS, type SettingsTable } from '../lib/settings.js';

/** Every CPE setting: flag --a-b, variable CPE_A_B, file key a.b (README, "CPE settings"). */
export const CPE_SETTINGS = {
  ...BUS_SETTINGS,
  ...RECOVERY_SETTINGS,
  stateDir: {
    key: 'state.dir',
    type: 'string',
    default: '/var/lib/cpe',
    help: 'where deployables are stored (and, for process-supervised DPEs, their pidfiles and logs)',
  },
  supervisor: {
    key: 'supervisor',
    type: 'string',
    default: 'auto',
    oneOf: ['auto', 'systemd', 'process'],
    help: 'how DPEs run: systemd units over D-Bus, or child processes; auto takes systemd when the system bus answers',
  },
  dpeCommand: {
    key: 'dpe.command',
    type: 'string',
    default: '',
    help: "the DPE command for the process supervisor, split at spaces (default: this package's dpe)",
  },
  router: {
    key: 'router.enabled',
    type: 'boolean',
    default: true,
    help: 'run the embedded AMQP 1.0 router (--no-router-enabled when a broker is used)',
  },
  routerHost: {
    key: 'router.host',
    type: 'string',
    default: '127.0.0.1',
    help: 'the router listens here',
  },
  routerPort: { key: 'router.port', type: 'integer', default: 5673, help: "the router's port" },
  routerCredentials: {
    key: 'router.credentialsFile',
    type: 'string',
    default: '',
    help: 'SASL PLAIN users (lines from cpectl bus-password); required off loopback',
  },
  routerTlsCert: {
    key: 'router.tlsCert',
    type: 'string',
    default: '',
    help: 'TLS certificate (PEM) for the router',
  },
  routerTlsKey: {
    key: 'router.tlsKey',
    type: 'string',
    default: '',
    help: 'TLS key (PEM) for the router',
  },
} as const satisfies SettingsTable;
