/**
 * The CPE, assembled: router (unless a broker is used), bus, store,
 * supervisor, reconciler, DPE watch and the management API. main.ts only
 * reads settings and signals; tests build a Cpe directly.
 */
import { randomId } from '../lib/random-id.js';
import { mkdirSync } from 'node:fs';
import { lockStateDir } from './lock.js';
import { join } from 'node:path';
import { CPE_EVENTS, CPE_NODE, CPE_OBJECT } from '../lib/addresses.js';
import { DPE_NODE_FLAGS } from '../lib/code-cache.js';
import { subscribeEvents } from '../lib/bus/events.js';
import type { Bus, Subscription } from '../lib/bus/bus.js';
import { EmbeddedRouter } from '../lib/bus/router.js';
import type { BusSecrets } from '../lib/bus/secrets.js';
import { MethodClient } from '../lib/bus/client.js';
import { MethodServer, type MethodServerOptions } from '../lib/bus/server.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { packageRoot, packageVersion } from '../lib/paths.js';
import { hostname } from 'node:os';
import { ORIGINAL_PACKAGE, PACKAGE, qmfText, type QmfMap } from '../lib/bus/qmf.js';
import { CpeApi } from './api.js';
import { DpeWatch } from './dpe-watch.js';
import { ProcessSupervisor } from './process-supervisor.js';
import { Reconciler, type RestartPolicy } from './reconcile.js';
import type { Cluster } from './cluster.js';
import type { EtcdStore } from './etcd-store.js';
import { fenceMarginMs } from './ownership.js';
import { NedbStore, type DeployableStore } from './store.js';
import type { DpeSupervisor } from './supervisor.js';
import { SystemdSupervisor } from './systemd-supervisor.js';
import { EventLog, type Retention } from './event-log.js';
import {
  EventPipeline,
  logPublisher,
  topicPublisher,
  type EventPublisher,
} from './event-pipeline.js';
import { HttpServer } from './http.js';
import { originalPublisher } from './original-events.js';
import { WebhookPublisher } from './webhook.js';

export interface CpeOptions {
  readonly log: Logger;
  readonly stateDir: string;
  readonly supervisor: 'auto' | 'systemd' | 'process';
  /** The commands a config's recovery driver may name (recovery.commands). */
  readonly recoveryCommands?: readonly string[];
  /** The original's config hand-off directory (original.configDir); empty or absent: off. */
  readonly handoffDir?: string;
  /** Process supervisor: the DPE command (`--name NAME` is appended). */
  readonly dpeCommand?: readonly string[];
  /** Process supervisor: the DPEs' environment (bus settings travel here). */
  readonly dpeEnv?: NodeJS.ProcessEnv;
  /** Gives each DPE its bus password before it starts. */
  readonly secrets?: BusSecrets;
  readonly router?: ConstructorParameters<typeof EmbeddedRouter>[0];
  readonly bus: () => Bus;
  readonly restartPolicy?: RestartPolicy;
  readonly resyncMs?: number;
  readonly events?: {
    readonly retention?: Retention;
    readonly sync?: 'full' | 'normal';
    /** Each event as a line of the CPE's log (default true). */
    readonly log?: boolean;
    readonly webhook?: { readonly url: string; readonly token?: string; readonly maxQueue: number };
  };
  /** The HTTP API and web view; null: none. */
  readonly http?: {
    readonly host: string;
    readonly port: number;
    readonly token: string | null;
  } | null;
  /** A member of a cluster on etcd (README, "Running a cluster"); absent: one host, nedb. */
  readonly cluster?: {
    readonly endpoints: readonly string[];
    readonly prefix: string;
    readonly member: string;
    readonly ttlSeconds: number;
  };
  /** Something the CPE cannot go on without is gone (the system bus): start over. */
  readonly onFatal?: (err: Error) => void;
}

/** This package's DPE: compiled when we run compiled, the sources under tsx otherwise. */
export function defaultDpeCommand(): string[] {
  const root = packageRoot();
  return import.meta.url.endsWith('.ts')
    ? [process.execPath, ...DPE_NODE_FLAGS, '--import', 'tsx', join(root, 'dpe', 'main.ts')]
    : [process.execPath, ...DPE_NODE_FLAGS, join(root, 'dist', 'dpe', 'main.js')];
}

export const DEFAULT_RETENTION: Retention = { maxAgeMs: 30 * 86_400_000, maxCount: 2_000_000 };
const PRUNE_EVERY_MS = 3_600_000;

/**
 * A cluster's DPEs run at this nice value: a host busy starting many of them
 * (a fail-over) must not starve the CPE's lease renewals, or the CPE fences
 * and stops them all again.
 */
export const DPE_NICENESS_IN_CLUSTER = 5;

/** DPEs a cluster member starts at once (StartLimit). */
const CLUSTER_MAX_STARTING = 4;

/** How long a starting CPE waits to hear whether another CPE serves its bus. */
const ALONE_CHECK_MS = 3000;

function alreadyServed(other: QmfMap): CpeError {
  const who = `pid ${qmfText(other.pid)} on ${qmfText(other.hostname)}, state directory ${qmfText(other.state_dir)}`;
  return new CpeError(
    'CPE_ALREADY_SERVING',
    `another CPE (${who}) already serves "${CPE_OBJECT}" on this bus: one CPE per bus. Stop it, or give this one a bus of its own (router.port, or bus.url)`,
  );
}

/** How long the bus may be down before the CPE counts as wedged (its watchdog starves). */
const STUCK_BUS_MS = 60_000;

async function chooseSupervisor(o: CpeOptions): Promise<DpeSupervisor> {
  const secrets = o.secrets;
  // systemd hands the file to the unit (LoadCredential=); a child is told where it is.
  const prepare = secrets
    ? (name: string) => ({ CREDENTIALS_DIRECTORY: secrets.writeDpe(name) })
    : undefined;
  if (o.supervisor !== 'process') {
    try {
      // Loaded only here: D-Bus and the cluster's etcd client are heavy to load.
      const { SystemdManager } = await import('../lib/systemd/manager.js');
      const manager = await SystemdManager.connect(o.log);
      manager.onLost((err) => o.onFatal?.(err));
      return await SystemdSupervisor.create(manager, o.log, prepare);
    } catch (err) {
      if (o.supervisor === 'systemd') throw err;
      o.log.info('no systemd on the system bus: DPEs run as child processes', {
        reason: errorMessage(err),
      });
    }
  }
  return new ProcessSupervisor({
    // In a cluster a DPE must be gone before the lease can expire (the fence).
    ...(o.cluster
      ? {
          stopTimeoutMs: fenceMarginMs(o.cluster.ttlSeconds) - 1000,
          boundToCpe: true,
          niceness: DPE_NICENESS_IN_CLUSTER,
        }
      : {}),
    command: o.dpeCommand ?? defaultDpeCommand(),
    runDir: join(o.stateDir, 'dpe'),
    env: o.dpeEnv ?? process.env,
    ...(prepare ? { prepare } : {}),
    log: o.log,
  });
}

/** Calls that change nothing: in a cluster every CPE answers them, and the caller takes the first answer. */
const READS = new Set([
  '',
  'cpe_info',
  'deployable_list',
  'deployable_status',
  'deployable_config',
  'events_query',
]);

/**
 * RabbitMQ gives every CPE of a cluster every call to "cpe" (README,
 * "Running a cluster"). A read is answered by all, so a dead member delays
 * none; a change is carried out by one: the owner of the deployable it
 * names, else the member its correlation id hashes to.
 */
function callsOf(cluster: Cluster): NonNullable<MethodServerOptions['mine']> {
  return ({ method, args, key }) =>
    READS.has(method) ||
    cluster.handles(typeof args.name === 'string' ? args.name : undefined, key);
}

export class Cpe {
  router: EmbeddedRouter | undefined;
  bus!: Bus;
  store!: DeployableStore;
  cluster: Cluster | undefined;
  #unwatchStore: (() => Promise<void>) | undefined;
  #replica: Subscription | undefined;
  supervisor!: DpeSupervisor;
  reconciler!: Reconciler;
  watch!: DpeWatch;
  api!: CpeApi;
  eventLog!: EventLog;
  events!: EventPipeline;
  webhook: WebhookPublisher | undefined;
  http: HttpServer | undefined;
  #prune: NodeJS.Timeout | undefined;
  /** This process's identity on the bus (cpe_info). */
  readonly instance = randomId();
  #server: MethodServer | undefined;
  #client: MethodClient | undefined;
  #resync: NodeJS.Timeout | undefined;
  #unlock: (() => void) | undefined;
  readonly #o: CpeOptions;

  constructor(options: CpeOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const { log } = this.#o;
    mkdirSync(this.#o.stateDir, { recursive: true, mode: 0o750 });
    this.#unlock = lockStateDir(this.#o.stateDir);
    this.store = await this.#openStore();
    const ev = this.#o.events ?? {};
    this.eventLog = EventLog.open(this.#o.stateDir, {
      retention: ev.retention ?? DEFAULT_RETENTION,
      sync: ev.sync,
      log: log.child({ part: 'events' }),
    });
    if (this.#o.router) {
      this.router = new EmbeddedRouter(this.#o.router);
      await this.router.start();
    }
    this.bus = this.#o.bus();
    await this.bus.whenUp(30_000);
    const publishers: EventPublisher[] = [
      topicPublisher(this.bus),
      originalPublisher(this.bus, this.store, log),
    ];
    if (ev.log !== false) publishers.push(logPublisher(log.child({ part: 'event' })));
    if (ev.webhook) {
      this.webhook = new WebhookPublisher({ ...ev.webhook, log: log.child({ part: 'webhook' }) });
      publishers.push(this.webhook);
    }
    this.events = new EventPipeline(this.eventLog, publishers, log);
    if (this.cluster) {
      const events = this.events;
      this.#replica = subscribeEvents(this.bus, CPE_EVENTS, (e) => events.replicate([e]), {}, log);
      await this.#replica.ready;
    }
    this.supervisor = await chooseSupervisor(this.#o);
    this.watch = new DpeWatch(this.bus, log);
    this.reconciler = new Reconciler(this.store, this.supervisor, log, {
      policy: this.#o.restartPolicy,
      reported: (name) => this.watch.report(name),
      ownership: this.cluster,
      // A member taking over a dead one's share starts them a few at a time.
      ...(this.cluster ? { maxStarting: CLUSTER_MAX_STARTING } : {}),
    });
    if (this.cluster) await this.#follow(this.cluster);
    this.#client = new MethodClient(this.bus, { name: 'cpe', logger: log });
    this.api = new CpeApi({
      dpes: this.#client,
      recoveryCommands: this.#o.recoveryCommands ?? [],
      handoffDir: this.#o.handoffDir,
      store: this.store,
      reconciler: this.reconciler,
      supervisor: this.supervisor,
      watch: this.watch,
      cluster: this.cluster,
      events: this.events,
      log,
      info: () => this.info(),
      requireIdentity: Boolean(this.#o.router?.authorize),
    });
    this.supervisor.onChange((c) => {
      const stopped = c.state === 'failed' || c.state === 'inactive';
      const fields = { deployable: c.name, state: c.state, pid: c.pid ?? null };
      if (stopped) {
        // failed: it died; inactive: it was stopped, or exited cleanly.
        const severity = c.state === 'failed' ? 'warn' : 'info';
        this.watch.forget(c.name);
        log[severity]('DPE stopped', { ...fields, detail: c.detail ?? '' });
        this.api.event('dpe_exited', severity, { ...fields, detail: c.detail ?? null });
      } else if (c.state === 'active') {
        this.api.event('dpe_started', 'info', { ...fields, detail: null });
      } else if (c.detail) {
        log.info('DPE restarting', { ...fields, detail: c.detail });
      }
      void this.reconciler.enqueue(c.name);
    });
    this.watch.onReport((name, report, first) => {
      if (!first) return;
      this.reconciler.started(name);
      // Every member hears every DPE: the one that runs it says so.
      if (this.cluster && this.cluster.ownerOf(name) !== this.cluster.member) return;
      this.api.event('dpe_ready', 'info', {
        deployable: name,
        generation: report.generation,
        pid: report.pid,
      });
      // A DPE heard for the first time (or on a new generation): does it run the stored one?
      void this.reconciler.enqueue(name);
    });
    await this.watch.ready;
    // A cluster's CPEs all serve "cpe" on their broker, and any of them answers.
    if (!this.cluster) await this.#alone();
    this.#server = new MethodServer(this.bus, {
      address: CPE_NODE,
      objects: { [CPE_OBJECT]: this.api.methods() },
      // The original's clients find the CPE by its package (pcloudsh: {class:cpe, package:…}).
      packages: { [CPE_OBJECT]: [PACKAGE, ORIGINAL_PACKAGE] },
      ...(this.cluster ? { mine: callsOf(this.cluster) } : {}),
      logger: log,
    });
    await this.#server.start();
    await this.#reachSelf();
    // Adopts what still runs, starts what should, stops what should not.
    await this.reconciler.resync();
    this.#resync = setInterval(() => void this.reconciler.resync(), this.#o.resyncMs ?? 30_000);
    this.#resync.unref();
    const prune = (): void =>
      void this.eventLog
        .prune()
        .catch((err: unknown) =>
          log.error('old events could not be deleted', { error: errorMessage(err) }),
        );
    prune();
    this.#prune = setInterval(prune, PRUNE_EVERY_MS);
    this.#prune.unref();
    if (this.#o.http)
      this.http = await HttpServer.start({
        ...this.#o.http,
        api: this.api,
        events: this.events,
        log: log.child({ part: 'http' }),
      });
  }

  /** What cpe_info answers: which CPE this is. */
  info(): QmfMap {
    return {
      instance: this.instance,
      pid: process.pid,
      version: packageVersion(),
      hostname: hostname(),
      state_dir: this.#o.stateDir,
      supervisor: this.supervisor?.kind ?? null,
      http: this.http?.url ?? null,
      ...(this.cluster ? { cluster: this.cluster.status() } : {}),
    };
  }

  async #openStore(): Promise<DeployableStore> {
    const { log, cluster } = this.#o;
    if (!cluster) return NedbStore.open(this.#o.stateDir, log);
    const [{ Cluster }, { EtcdStore }] = await Promise.all([
      import('./cluster.js'),
      import('./etcd-store.js'),
    ]);
    this.cluster = await Cluster.join({
      ...cluster,
      stateDir: this.#o.stateDir,
      about: { host: hostname(), pid: process.pid, instance: this.instance },
      log: log.child({ part: 'cluster' }),
    });
    return new EtcdStore(this.cluster.namespace);
  }

  /**
   * A cluster member looks again at a deployable when any CPE changed it, when
   * its owner changed, and at everything when a member came or went. At the
   * fence every DPE here stops.
   */
  async #follow(cluster: Cluster): Promise<void> {
    this.#unwatchStore = await (this.store as EtcdStore).watch(
      (name) => void this.reconciler.enqueue(name),
    );
    cluster.onChange((names) => {
      if (names === 'all') void this.reconciler.resync();
      else for (const name of names) void this.reconciler.enqueue(name);
    });
    cluster.onFence(() => this.#stopAllDpes());
  }

  async #stopAllDpes(): Promise<void> {
    const running = await this.supervisor.running();
    await Promise.all(
      running.map((name) =>
        this.supervisor.stop(name).catch((err: unknown) =>
          this.#o.log.error('cannot stop the DPE', {
            deployable: name,
            error: errorMessage(err),
          }),
        ),
      ),
    );
  }

  async #callCpe(method: string, timeoutMs: number): Promise<QmfMap> {
    return this.#client!.call({ address: CPE_NODE, object: CPE_OBJECT }, method, {}, timeoutMs);
  }

  /**
   * One CPE answers for `cpe` on a bus: a second one (pointed at the first
   * one's router or broker) would carry out every call a second time, with
   * DPEs of its own. Asked before serving: whoever answers is another CPE.
   */
  async #alone(): Promise<void> {
    let other: QmfMap;
    try {
      other = await this.#callCpe('cpe_info', ALONE_CHECK_MS);
    } catch {
      return; // nobody answers (no route, or a broker that drops it): this one may serve
    }
    throw alreadyServed(other);
  }

  /**
   * Calls its own object over the bus, as cpectl would: a CPE on a bus where
   * its address does not reach it (another router, a broker spelled with
   * another profile) says so instead of reporting ready and refusing every
   * call; and one whose calls another CPE answers (both started at once) says that.
   */
  async #reachSelf(): Promise<void> {
    let answer: QmfMap;
    try {
      answer = await this.#callCpe('cpe_info', 10_000);
    } catch (err) {
      throw new CpeError(
        'CPE_NOT_REACHABLE',
        `cannot reach its own object "${CPE_OBJECT}" on node "${CPE_NODE}" over the bus (${errorMessage(err)}): is bus.url its router's (or the broker's), and bus.profile the broker's?`,
      );
    }
    if (answer.instance !== this.instance && !this.cluster) throw alreadyServed(answer);
  }

  /**
   * Why the CPE is not doing its job, or null: its bus down for over a
   * minute (its own router's, or a broker's), or no resync finished for two
   * rounds. The watchdog is fed only while this is null.
   */
  health(now = Date.now()): string | null {
    const resyncMs = this.#o.resyncMs ?? 30_000;
    if (!this.bus.isUp && now - this.bus.since > STUCK_BUS_MS)
      return `the bus has been down for ${Math.round((now - this.bus.since) / 1000)} s`;
    const last = this.reconciler.lastResyncAt;
    if (last !== null && now - last > 2 * resyncMs + STUCK_BUS_MS)
      return `no resync has finished for ${Math.round((now - last) / 1000)} s`;
    return null;
  }

  /**
   * Stops serving; DPEs keep running (a CPE restart must not disturb
   * deployments). In a cluster the CPE leaves: its DPEs stop, and the other
   * members take its deployables at once. Also while starting: a SIGTERM may
   * come at any point of start().
   */
  async stop(): Promise<void> {
    const self = this as Partial<Cpe>;
    clearInterval(this.#resync);
    await this.#unwatchStore?.().catch(() => undefined);
    self.reconciler?.close();
    if (this.cluster && self.supervisor) await this.#stopAllDpes();
    await this.cluster?.leave();
    clearInterval(this.#prune);
    this.#replica?.close();
    // Followers (streams, long polls) end first, so the HTTP server can close.
    await self.events?.close();
    await this.http?.close();
    this.#server?.close();
    this.#client?.close();
    self.watch?.close();
    await self.supervisor?.close();
    self.store?.close();
    await this.cluster?.close();
    self.eventLog?.close();
    await self.bus?.close();
    await this.router?.close();
    this.#unlock?.();
  }
}
