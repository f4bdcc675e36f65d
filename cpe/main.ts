#!/usr/bin/env node
/** The CPE daemon: settings, signals and sd_notify around a Cpe. */
import {
  busFrom,
  daemonContext,
  handleSignals,
  orSettingsError,
  startDaemon,
} from '../lib/daemon.js';
import { BUS_SETTINGS, DPE_STATE_ROOT, envOf } from '../lib/settings.js';
import { errorMessage } from '../lib/errors.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { redactUrl } from '../lib/bus/bus.js';
import { CPE_USER } from '../lib/bus/identity.js';
import { busLogin, type Login } from '../lib/bus/login.js';
import { BusSecrets } from '../lib/bus/secrets.js';
import { readTokenFile } from '../lib/files.js';
import { allowedCommands } from '../lib/recovery.js';
import { Cpe } from './cpe.js';
import { CPE_SETTINGS } from './settings.js';

const USAGE = `usage: cpe [SETTINGS]

The Cloud Policy Engine daemon: serves the management API (QMF object "cpe")
on the AMQP 1.0 bus, stores deployables, and runs one DPE per deployable as a
systemd unit (dpe@NAME.service) or as a child process.`;

const ctx = daemonContext('cpe', USAGE, CPE_SETTINGS);
const { settings: s, log, notifier } = ctx;
if (ctx.rest.length > 0) {
  process.stderr.write(`cpe: unknown argument ${ctx.rest[0]}\n(cpe --help lists every setting)\n`);
  process.exit(2);
}
// The CPE's bus follows its own router unless told otherwise: `--router-port N`
// alone must not leave it talking to a router that is not there.
/** Where a client reaches a router listening on `host` (any address: loopback). */
function dialable(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
const busUrl =
  s.router && s.busUrl === BUS_SETTINGS.busUrl.default
    ? `amqp://${dialable(s.routerHost)}:${s.routerPort}`
    : s.busUrl;
const bus = { ...s, busUrl };
// The bus key and the passwords derived from it (STATE_DIR/credentials): the
// CPE's own, its DPEs', and the one cpectl reads.
let secrets: BusSecrets;
try {
  secrets = BusSecrets.open(s.stateDir);
} catch (err) {
  log.error('cannot start', { error: errorMessage(err) });
  process.exit(1);
}
/** Who the CPE is on its bus: "cpe", with its derived password, unless its settings say otherwise. */
function ownLogin(): Login | undefined {
  const given = busLogin(bus, CPE_USER, []);
  if (given || URL.parse(busUrl)?.username) return given;
  const user = s.busUser || CPE_USER;
  return { user, password: secrets.key.password(user) };
}
const login = orSettingsError('cpe', ownLogin);
// DPEs started as processes inherit the bus settings through the environment.
const dpeEnv: NodeJS.ProcessEnv = { ...process.env };
for (const key of [
  'busUrl',
  'busProfile',
  'busCa',
  'logLevel',
  'recoveryCommands',
  'recoveryQmfAddress',
  'recoveryQmfObject',
] as const)
  dpeEnv[envOf(CPE_SETTINGS[key])] = String(bus[key]);
// Their saved PE inputs go beside their pidfiles and logs.
dpeEnv[envOf(DPE_STATE_ROOT)] = join(s.stateDir, 'dpe');
/** The settings' token files, read now: a missing one is a start-up error, not a 401 later. */
function tokens(): { http: string | null; webhook: string | undefined } {
  try {
    return {
      http: s.httpTokenFile ? readTokenFile(s.httpTokenFile, 'http.tokenFile') : null,
      webhook: s.webhookTokenFile
        ? readTokenFile(s.webhookTokenFile, 'events.webhookTokenFile')
        : undefined,
    };
  } catch (err) {
    process.stderr.write(`cpe: ${errorMessage(err)}\n`);
    process.exit(2);
  }
}
const token = tokens();
/** With store etcd: a member of a cluster of CPEs, which share one broker. */
function clusterOf():
  { endpoints: string[]; prefix: string; member: string; ttlSeconds: number } | undefined {
  const endpoints = s.etcdEndpoints
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const usage = (message: string): never => {
    process.stderr.write(`cpe: ${message}\n`);
    process.exit(2);
  };
  if (s.store !== 'etcd') {
    if (endpoints.length > 0) usage('etcd.endpoints is set, but store is nedb: add --store etcd');
    return undefined;
  }
  if (endpoints.length === 0)
    usage('store etcd needs etcd.endpoints: every member of the etcd cluster, comma-separated');
  for (const e of endpoints)
    if (URL.parse(e)?.protocol !== 'http:')
      usage(
        `etcd.endpoints: "${e}" is not an http://HOST:PORT address (TLS to etcd is not supported yet)`,
      );
  if (s.router)
    usage(
      "store etcd: a cluster's CPEs share one broker; point bus.url at it and add --no-router-enabled",
    );
  if (!s.busProfile.startsWith('rabbitmq'))
    usage(
      `store etcd: a cluster runs on RabbitMQ (bus.profile rabbitmq or rabbitmq-topic), not ${s.busProfile}`,
    );
  if (s.supervisor === 'systemd')
    usage(
      'store etcd runs DPEs as its own processes (--supervisor process): a DPE must stop when its CPE dies, before another CPE takes its deployable',
    );
  if (s.clusterLeaseTtl < 5) usage('cluster.leaseTtl must be at least 5 (seconds)');
  return {
    endpoints,
    prefix: s.etcdPrefix,
    member: s.clusterName || hostname(),
    ttlSeconds: s.clusterLeaseTtl,
  };
}
const cluster = clusterOf();
if (s.webhookUrl && !/^https?:$/.test(URL.parse(s.webhookUrl)?.protocol ?? '')) {
  process.stderr.write(`cpe: events.webhookUrl: "${s.webhookUrl}" is not an http(s) URL\n`);
  process.exit(2);
}
const cpe = new Cpe({
  log,
  events: {
    retention: { maxAgeMs: s.eventsMaxAgeDays * 86_400_000, maxCount: s.eventsMaxCount },
    sync: s.eventsSync as 'full' | 'normal',
    log: s.eventsLog,
    webhook: s.webhookUrl
      ? { url: s.webhookUrl, token: token.webhook, maxQueue: s.webhookQueue }
      : undefined,
  },
  http: s.http ? { host: s.httpHost, port: s.httpPort, token: token.http } : null,
  stateDir: s.stateDir,
  cluster,
  recoveryCommands: allowedCommands(s.recoveryCommands),
  handoffDir: s.handoffDir,
  // A cluster's DPEs are the CPE's processes: they stop when it dies.
  supervisor: cluster ? 'process' : (s.supervisor as 'auto' | 'systemd' | 'process'),
  dpeCommand: s.dpeCommand ? s.dpeCommand.split(/\s+/).filter(Boolean) : undefined,
  dpeEnv,
  secrets,
  router: s.router
    ? {
        logger: log.child({ part: 'router' }),
        host: s.routerHost,
        port: s.routerPort,
        credentialsFile: s.routerCredentials || undefined,
        key: secrets.key,
        authorize: s.routerAuthorization,
        tls: s.routerTlsCert ? { certFile: s.routerTlsCert, keyFile: s.routerTlsKey } : undefined,
      }
    : undefined,
  bus: () => busFrom(bus, 'cpe', log.child({ part: 'bus' }), { user: CPE_USER, login }),
  onFatal: (err) => {
    // Unit state seen while away is lost: start over, as systemd restarts us
    // (Restart=on-failure); the DPEs keep running and are adopted.
    log.error('exiting to start over (DPEs keep running)', { error: errorMessage(err) });
    notifier.status(`exiting: ${errorMessage(err)}`);
    process.exit(1);
  },
});
const signals = handleSignals('cpe', CPE_SETTINGS, ctx, { stop: () => cpe.stop() });
startDaemon(signals, log, async () => {
  notifier.status('starting');
  await cpe.start();
  const count = (await cpe.store.list()).length;
  notifier.watchHealth(() => cpe.health());
  notifier.ready(`serving ${count} deployable(s), DPEs under ${cpe.supervisor.kind}`);
  log.info('ready', {
    supervisor: cpe.supervisor.kind,
    deployables: count,
    bus: redactUrl(busUrl),
    http: cpe.http?.url ?? null,
  });
});
