/**
 * The DPE's lifecycle: fetch the deployable's config from the CPE over the
 * bus (retrying until the CPE answers), check and compile it (the CPE did
 * the schema pass before storing it), tell the CPE which generation it runs
 * through its heartbeat, and fetch again when told the config changed (SIGHUP from systemd's ReloadUnit or the CPE's supervisor,
 * or the CPE's deployable_config_changed event). Watching assemblies and
 * running the policy engine build on this.
 */
import {
  CPE_EVENTS,
  CPE_NODE,
  CPE_OBJECT,
  DPE_HEARTBEATS,
  dpeAgentName,
} from '../lib/addresses.js';
import type { Bus, Subscription } from '../lib/bus/bus.js';
import { MethodClient } from '../lib/bus/client.js';
import { RemoteError } from '../lib/bus/errors.js';
import { HeartbeatSender, subscribeEvents } from '../lib/bus/events.js';
import { loadDeployableConfig, type DeployableConfig } from '../lib/config/index.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

export interface DpeOptions {
  readonly name: string;
  readonly bus: Bus;
  readonly log: Logger;
  readonly heartbeatMs: number;
  /** Called whenever a new generation is loaded. */
  readonly onLoaded?: (generation: number) => void;
}

export class Dpe {
  readonly #o: DpeOptions;
  readonly #client: MethodClient;
  readonly #beats: HeartbeatSender;
  #events: Subscription | undefined;
  #config: DeployableConfig | undefined;
  #generation = 0;
  #fetching: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DpeOptions) {
    this.#o = options;
    this.#client = new MethodClient(options.bus, {
      name: `dpe.${options.name}`,
      logger: options.log,
    });
    this.#beats = new HeartbeatSender(
      options.bus,
      DPE_HEARTBEATS,
      dpeAgentName(options.name),
      options.heartbeatMs,
      () => ({ deployable: options.name, generation: this.#generation, pid: process.pid }),
    );
  }

  get generation(): number {
    return this.#generation;
  }

  get config(): DeployableConfig | undefined {
    return this.#config;
  }

  async start(): Promise<void> {
    this.#events = subscribeEvents(
      this.#o.bus,
      CPE_EVENTS,
      (e) => {
        if (Number(e.values.generation) !== this.#generation) this.refetch();
      },
      { names: ['deployable_config_changed'], values: { deployable: this.#o.name } },
    );
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
        this.#generation = generation;
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

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#beats.stop();
    this.#events?.close();
    this.#client.close();
    await this.#o.bus.close();
  }
}
