import { RECOVERY_SETTINGS } from '../lib/recovery.js';
import { BUS_SETTINGS, STATE_DIR, type SettingsTable } from '../lib/settings.js';

/** Every CPE setting: flag --a-b, variable CPE_A_B, file key a.b (README, "CPE settings"). */
export const CPE_SETTINGS = {
  ...BUS_SETTINGS,
  ...RECOVERY_SETTINGS,
  stateDir: STATE_DIR,
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
  routerAuthorization: {
    key: 'router.authorization',
    type: 'boolean',
    default: true,
    help: 'each user only where its identity allows; users log in with a password (STATE_DIR/credentials); off: anyone on loopback may do anything',
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
  handoffDir: {
    key: 'original.configDir',
    type: 'string',
    default: '/var/run',
    help: "the original's config hand-off: deployable_start of a name not stored reads DIR/UUID.xml, as pcloudsh wrote it (empty: off)",
  },
  eventsMaxAgeDays: {
    key: 'events.maxAgeDays',
    type: 'integer',
    default: 30,
    help: 'the event log keeps events this many days (0: whatever their age)',
  },
  eventsMaxCount: {
    key: 'events.maxCount',
    type: 'integer',
    default: 2_000_000,
    help: 'the event log keeps at most this many events, the newest (0: no limit)',
  },
  eventsSync: {
    key: 'events.sync',
    type: 'string',
    default: 'full',
    oneOf: ['full', 'normal'],
    help: 'full: every stored event is fsynced before it is acknowledged; normal: at checkpoints (a power cut may lose the last ones; a crash of the CPE loses none)',
  },
  eventsLog: {
    key: 'events.log',
    type: 'boolean',
    default: true,
    help: "write every event to the CPE's log (the journal, under systemd) at its severity",
  },
  webhookUrl: {
    key: 'events.webhookUrl',
    type: 'string',
    default: '',
    help: 'POST every stored event to this URL (JSON, in order, retried with backoff); empty: no webhook',
  },
  webhookTokenFile: {
    key: 'events.webhookTokenFile',
    type: 'string',
    default: '',
    help: 'a file holding a bearer token for the webhook',
  },
  webhookQueue: {
    key: 'events.webhookQueue',
    type: 'integer',
    default: 10_000,
    help: 'events waiting for the webhook at most; past it the oldest are dropped (counted and logged)',
  },
  http: {
    key: 'http.enabled',
    type: 'boolean',
    default: true,
    help: 'serve the HTTP API (events, status) and the web view',
  },
  httpHost: {
    key: 'http.host',
    type: 'string',
    default: '127.0.0.1',
    help: 'the HTTP API listens here (beyond loopback only with http.tokenFile)',
  },
  httpPort: { key: 'http.port', type: 'integer', default: 8673, help: "the HTTP API's port" },
  httpTokenFile: {
    key: 'http.tokenFile',
    type: 'string',
    default: '',
    help: 'a file holding the bearer token the HTTP API requires (required off loopback)',
  },
} as const satisfies SettingsTable;
