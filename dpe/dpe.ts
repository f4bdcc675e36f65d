/**
 * The DPE on the bus: fetch the deployable's config from the CPE (retrying
 * until the CPE answers), check and compile it (the CPE did the schema pass
 * before storing it), tell the CPE which generation it runs through its
 * heartbeat, and fetch again when told the config changed (SIGHUP from
 * systemd's ReloadUnit or the CPE's supervisor: the CPE reloads a DPE as
 * long as it beats an older generation). Not from the CPE's
 * deployable_config_changed event: every DPE would get every event of the
 * host (a hundred DPEs starting made some 80,000 deliveries).
 *
 * Around the engine: the agents' heartbeats in, agent calls and recovery
 * drivers out, events to the CPE's event log (through the outbox, at least
 * once), the `dpe` object's status, and saved PE inputs.
 */
import {
  agentHeartbeats,
  agentNode,
  CPE_NODE,
  CPE_OBJECT,
  DPE_HEARTBEATS,
  DPE_OBJECT,
  dpeAgentName,
  dpeNode,
} from '../lib/addresses.js';
import type { Bus, Subscription } from '../lib/bus/bus.js';
import { MethodClient } from '../lib/bus/client.js';
import { RemoteError } from '../lib/bus/errors.js';
import { HeartbeatSender, subscribeHeartbeats } from '../lib/bus/events.js';
import type { Heartbeat, QmfValue } from '../lib/bus/qmf.js';
import { MethodServer } from '../lib/bus/server.js';
import { systemClock } from '../lib/clock.js';
import { loadDeployableConfig, type DeployableConfig } from '../lib/config/index.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { Outbox } from '../lib/events/outbox.js';
import type { Logger } from '../lib/log.js';
import { randomId } from '../lib/random-id.js';
import { busAgents } from './agents.js';
import { EventForwarder } from './event-forwarder.js';
import type { AssemblyMetrics } from '../pe/index.js';
import { DeployableEngine } from './engine.js';
import { countersOf } from './status.js';
import type { Beat } from './observations.js';
import { recoveryPort } from './recovery.js';
import { ReplayLog } from './replay.js';

export interface DpeOptions {
  readonly name: string;
  readonly bus: Bus;
  readonly log: Logger;
  readonly heartbeatMs: number;
  /** Called whenever a new generation is loaded. */
  readonly onLoaded?: (generation: number) => void;
  /** Where saved PE inputs go; null keeps none. */
  readonly replay: { readonly dir: string; readonly keep: number } | null;
  readonly recovery: {
    readonly allowed: readonly string[];
    readonly qmfAddress: string;
    readonly qmfObject: string;
  };
  /** After the bus returns, how long agents get to reconnect before silence counts. */
  readonly agentReconnectMs: number;
  readonly inventoryTimeoutMs: number;
  /** The events not yet acknowledged by the CPE: a file (outbox.jsonl), or null to keep them in memory. */
  readonly outbox: { readonly file: string | null; readonly max: number };
}

/** The outbox file, or (it cannot be read or written) one in memory: events still flow, only a crash loses the unsent. */
function openOutbox(o: DpeOptions): Outbox {
  try {
    return new Outbox(o.outbox.file, o.outbox.max, o.log);
  } catch (err) {
    o.log.error('events wait for the CPE in memory only: the outbox file is not usable', {
      file: o.outbox.file,
      error: errorMessage(err),
    });
    return new Outbox(null, o.outbox.max, o.log);
  }
}

/** How long a stopping DPE waits for the CPE to take its last events (the rest wait in the outbox). */
const DRAIN_MS = 2000;

export class Dpe {
  readonly #o: DpeOptions;
  readonly #client: MethodClient;
  readonly #beats: HeartbeatSender;
  readonly #forwarder: EventForwarder;
  #beatsIn: Subscription | undefined;
  #server: MethodServer | undefined;
  #engine: DeployableEngine | undefined;
  #replay: ReplayLog | undefined;
  #stopWatchingBus: (() => void) | undefined;
  #config: DeployableConfig | undefined;
  #configXml = '';
  #generation = 0;
  #fetching: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DpeOptions) {
    this.#o = options;
    this.#client = new MethodClient(options.bus, {
      name: `dpe.${options.name}`,
      logger: options.log,
      maxInFlight: 20_000,
    });
    this.#forwarder = new EventForwarder({
      deployable: options.name,
      outbox: openOutbox(options),
      client: this.#client,
      bus: options.bus,
      log: options.log,
    });
    this.#beats = new HeartbeatSender(
      options.bus,
      DPE_HEARTBEATS,
      dpeAgentName(options.name),
      options.heartbeatMs,
      () => {
        // What `cpectl list` shows of every deployable without asking each DPE.
        const s = this.#engine?.state;
        return {
          deployable: options.name,
          generation: this.#generation,
          pid: process.pid,
          ...(s
            ? {
                state: s.state,
                assemblies_up: s.counts.assembliesUp,
                assemblies: s.counts.assemblies,
                services_running: s.counts.servicesRunning,
                services: s.counts.services,
              }
            : {}),
        };
      },
    );
  }

  get generation(): number {
    return this.#generation;
  }

  get config(): DeployableConfig | undefined {
    return this.#config;
  }

  get engine(): DeployableEngine | undefined {
    return this.#engine;
  }

  async start(): Promise<void> {
    this.#forwarder.start();
    await this.#fetch();
    this.#beats.start();
  }

  /** Fetches again (coalesced: one fetch at a time, one more if asked meanwhile). */
  refetch(): void {
    if (this.#fetching) {
      this.#again = true;
      return;
    }
    this.#fetching = this.#fetch()
      .catch((err: unknown) =>
        this.#o.log.error('config fetch failed', { error: errorMessage(err) }),
      )
      .finally(() => {
        this.#fetching = undefined;
        if (this.#again) {
          this.#again = false;
          this.refetch();
        }
      });
  }

  async #fetch(): Promise<void> {
    const log = this.#o.log;
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await this.#o.bus.whenUp(30_000);
        const reply = await this.#client.call(
          { address: CPE_NODE, object: CPE_OBJECT },
          'deployable_config',
          {
            name: this.#o.name,
          },
        );
        const generation = Number(reply.generation);
        if (generation === this.#generation) return;
        const { config } = await loadDeployableConfig(
          typeof reply.config === 'string' ? reply.config : '',
          // No second schema pass: the CPE validated this text before storing it,
          // and the pass would cost every DPE some 20 MB and 150 ms at start. The
          // bus is the trust boundary here (a client that can answer as the CPE can
          // also drive its API); decoding, declarations and semantics are still checked.
          { file: `${this.#o.name}.xml`, trusted: true },
        );
        this.#config = config;
        this.#configXml = typeof reply.config === 'string' ? reply.config : '';
        this.#generation = generation;
        this.#run(config);
        log.info('config loaded', {
          generation,
          assemblies: config.assemblies.length,
          services: config.services.length,
        });
        this.#beats.beat(); // tell the CPE at once, not at the next interval
        this.#o.onLoaded?.(generation);
        return;
      } catch (err) {
        if (err instanceof RemoteError && err.code === 'UNKNOWN_DEPLOYABLE')
          throw new CpeError('UNKNOWN_DEPLOYABLE', `the CPE has no deployable "${this.#o.name}"`);
        const delay = Math.min(10_000, 200 * 2 ** Math.min(attempt, 6));
        log.warn('cannot fetch the config yet; retrying', {
          error: errorMessage(err),
          retry_ms: delay,
        });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Starts the engine on the first config; later ones reconfigure it. */
  #run(config: DeployableConfig): void {
    if (this.#engine) {
      this.#engine.reconfigure(config);
      return;
    }
    const o = this.#o;
    const log = o.log;
    if (o.replay) {
      try {
        this.#replay = new ReplayLog(o.replay.dir, o.replay.keep, log);
      } catch (err) {
        log.error('PE inputs will not be saved: the state directory is not usable', {
          dir: o.replay.dir,
          error: errorMessage(err),
        });
      }
    }
    const engine = new DeployableEngine({
      config,
      clock: systemClock,
      log,
      agents: busAgents(this.#client, o.name),
      recovery: recoveryPort({
        allowed: o.recovery.allowed,
        qmf: { client: this.#client, address: o.recovery.qmfAddress, object: o.recovery.qmfObject },
        log,
      }),
      newId: randomId,
      emit: (name, severity, values) =>
        this.#forwarder.add({ name, severity, timestamp: Date.now(), values }),
      onPlan: (input, plan) => {
        if (plan.actions.length === 0 || !this.#replay) return;
        // Off the path from a deadline to the actions it calls for.
        const [xml, generation] = [this.#configXml, this.#generation];
        setImmediate(() => this.#replay?.save(input, plan, xml, generation));
      },
      inventoryTimeoutMs: o.inventoryTimeoutMs,
    });
    this.#engine = engine;
    const onBus = (up: boolean, since: number): void =>
      engine.setBus(up, up ? since + o.agentReconnectMs : since);
    onBus(o.bus.isUp, o.bus.since);
    this.#stopWatchingBus = o.bus.onStateChange((state, since) => {
      if (state === 'up' || state === 'down') onBus(state === 'up', since);
    });
    const prefix = `${agentNode(o.name, '')}`;
    this.#beatsIn = subscribeHeartbeats(
      o.bus,
      agentHeartbeats(o.name),
      (beat) => {
        if (beat.agent.startsWith(prefix))
          engine.heartbeat(beat.agent.slice(prefix.length), toBeat(beat));
      },
      {},
      log,
    );
    this.#server = new MethodServer(o.bus, {
      address: dpeNode(o.name),
      objects: {
        [DPE_OBJECT]: {
          status: {
            args: {},
            handler: () => ({ generation: this.#generation, pid: process.pid, ...engine.status() }),
          },
          // Cheap to answer, however large the deployable: for monitoring and benchmarks.
          counters: { args: {}, handler: () => countersOf(engine) },
        },
      },
      logger: log,
    });
    void this.#server.start();
    engine.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#engine?.close();
    this.#stopWatchingBus?.();
    this.#beatsIn?.close();
    this.#server?.close();
    this.#beats.stop();
    await this.#forwarder.drain(DRAIN_MS);
    this.#forwarder.close();
    this.#client.close();
    await this.#o.bus.close();
  }
}

function num(v: QmfValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Heartbeat values → metrics fields: the agent's names and ours. */
const METRICS: readonly (readonly [string, keyof AssemblyMetrics])[] = [
  ['load1', 'load1'],
  ['mem_free_mb', 'memoryFreeMb'],
  ['mem_total_mb', 'memoryTotalMb'],
  ['cpus', 'cpus'],
];

/** What the engine takes of a heartbeat (every one passes here): its session, facts and metrics. */
function toBeat(beat: Heartbeat): Beat {
  const v = beat.values;
  let metrics: Record<string, number> | null = null;
  for (const [from, to] of METRICS) {
    const n = num(v[from]);
    if (n !== undefined) (metrics ??= {})[to] = n;
  }
  const facts: Record<string, string> = {};
  if (typeof v.hostname === 'string') facts.hostname = v.hostname;
  if (typeof v.ipaddress === 'string') facts.ipaddress = v.ipaddress;
  return { epoch: beat.epoch, sequence: beat.sequence, metrics, facts };
}
