/**
 * The agent of one assembly on the bus (schemas/agent-api.md): beats on its
 * deployable's heartbeat topic with the host's load, memory and facts, and
 * serves the `agent` object — inventory, start, stop, monitor — on
 * `agent.<deployable>.<assembly>`. A new epoch at every start tells its DPE
 * to ask what runs before trusting anything about this assembly.
 */
import { AGENT_OBJECT, agentNode } from '../lib/addresses.js';
import { SERVICE_ARGS, specFromArgs, type ServiceOp } from '../lib/agent/protocol.js';
import type { Bus } from '../lib/bus/bus.js';
import type { QmfMap } from '../lib/bus/qmf.js';
import { MethodServer, type ObjectMethods } from '../lib/bus/server.js';
import type { Logger } from '../lib/log.js';
import { randomId } from '../lib/random-id.js';
import { BeatTimer, heartbeatsReady, sendBeat } from './beat.js';
import type { OpAnswer } from './driver.js';
import { hostAddresses, hostMetrics, hostName } from './host.js';
import type { ServiceRunner } from './services.js';

export interface AgentOptions {
  readonly bus: Bus;
  readonly deployable: string;
  readonly assembly: string;
  readonly intervalMs: number;
  readonly runner: ServiceRunner;
  /** Settings that override what the host says of itself ('' = ask the host). */
  readonly hostname: string;
  readonly address: string;
  readonly log: Logger;
}

export class Agent {
  readonly epoch = randomId();
  readonly #o: AgentOptions;
  readonly #server: MethodServer;
  readonly #beats = new BeatTimer();
  #sequence = 0;

  constructor(o: AgentOptions) {
    this.#o = o;
    this.#server = new MethodServer(o.bus, {
      address: agentNode(o.deployable, o.assembly),
      objects: { [AGENT_OBJECT]: this.#methods() },
      logger: o.log,
    });
  }

  get sequence(): number {
    return this.#sequence;
  }

  async start(): Promise<void> {
    await this.#server.start();
    // The first beat at once: a new session should be heard (and inventoried) without delay.
    await heartbeatsReady(this.#o.bus, this.#o.deployable, this.#o.intervalMs);
    this.#beats.start(this.#o.intervalMs, 0, () => this.beat());
  }

  beat(): void {
    const o = this.#o;
    sendBeat(o.bus, o.deployable, o.assembly, o.intervalMs, () => {
      const addresses = hostAddresses(o.address);
      return {
        epoch: this.epoch,
        sequence: ++this.#sequence,
        values: {
          ...hostMetrics(),
          hostname: hostName(o.hostname),
          ...(addresses[0] === undefined ? {} : { ipaddress: addresses[0] }),
          addresses,
        },
      };
    });
  }

  #answer(a: OpAnswer): QmfMap {
    return {
      rc: a.rc,
      text: a.text,
      epoch: this.epoch,
      ...(a.timedOut ? { timed_out: true } : {}),
    };
  }

  #methods(): ObjectMethods {
    const runner = this.#o.runner;
    const op = (name: ServiceOp, probe = false) => ({
      args: SERVICE_ARGS,
      handler: async (args: QmfMap) =>
        this.#answer(
          await runner.call(
            name,
            specFromArgs(args),
            typeof args.timeout_ms === 'number' ? args.timeout_ms : undefined,
            !probe && typeof args.interval_ms === 'number' ? args.interval_ms : 0,
          ),
        ),
    });
    return {
      inventory: {
        args: {},
        handler: async () => ({
          epoch: this.epoch,
          services: (await runner.inventory()).map((s) => ({ ...s })),
        }),
      },
      start: op('start'),
      stop: op('stop'),
      monitor: op('monitor'),
      // A monitor that asks what runs: no interval, so an OCF agent knows it for a probe.
      probe: op('monitor', true),
    };
  }

  stop(): void {
    this.#beats.stop();
    this.#server.close();
    this.#o.runner.close();
  }
}
