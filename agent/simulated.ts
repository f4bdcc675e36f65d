/**
 * `cpe-agent --simulate`: many simulated assemblies in one process, on one
 * bus connection. Each beats on its deployable's heartbeat topic and serves
 * the agent methods (inventory, start, stop, monitor) on its own node, as a
 * real agent does, plus the fault injector (schemas/agent-api.md).
 */
import { AGENT_OBJECT, FAULT_OBJECT, agentNode } from '../lib/addresses.js';
import { FAULT_ARGS, SERVICE_ARGS, specFromArgs, type ServiceOp } from '../lib/agent/protocol.js';
import type { Bus } from '../lib/bus/bus.js';
import { qmfText, type QmfMap } from '../lib/bus/qmf.js';
import { MethodServer, type ObjectMethods } from '../lib/bus/server.js';
import type { Logger } from '../lib/log.js';
import { SimAssembly, type SimAnswer } from '../lib/sim/assembly.js';
import { randomId } from '../lib/random-id.js';
import { readFile } from 'node:fs/promises';
import { loadDeployableConfig, NAME_PATTERN } from '../lib/config/index.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { unreadable } from '../lib/files.js';
import type { Settings } from '../lib/settings.js';
import type { AGENT_SETTINGS } from './settings.js';
import { BeatTimer, sendBeat } from './beat.js';

export interface SimulatedHost {
  readonly name: string;
  readonly intervalMs: number;
  /** What the assembly reports of itself. */
  readonly cpus: number;
  readonly memoryMb: number;
  readonly address: string;
}

/** One simulated assembly on the bus. */
class SimulatedAgent {
  readonly sim: SimAssembly;
  readonly #server: MethodServer;
  readonly #beats = new BeatTimer();

  constructor(
    private readonly bus: Bus,
    private readonly deployable: string,
    private readonly host: SimulatedHost,
    log: Logger,
  ) {
    this.sim = new SimAssembly(host.name, { newEpoch: () => randomId() });
    this.#server = new MethodServer(bus, {
      address: agentNode(deployable, host.name),
      objects: { [AGENT_OBJECT]: this.#agentMethods(), [FAULT_OBJECT]: this.#faultMethods() },
      logger: log.child({ assembly: host.name }),
    });
  }

  async start(): Promise<void> {
    await this.#server.start();
    // Spread the beats over the interval: a thousand assemblies must not beat at once.
    this.#beats.start(this.host.intervalMs, Math.floor(Math.random() * this.host.intervalMs), () =>
      this.beat(),
    );
  }

  beat(): void {
    sendBeat(this.bus, this.deployable, this.host.name, this.host.intervalMs, () => {
      const sequence = this.sim.beat();
      if (sequence === null) return null;
      const running = this.sim.services().filter((s) => s.state === 'running').length;
      return {
        epoch: this.sim.epoch,
        sequence,
        values: {
          load1: 0.1 * running,
          mem_total_mb: this.host.memoryMb,
          mem_free_mb: Math.max(0, this.host.memoryMb - 64 * running),
          cpus: this.host.cpus,
          hostname: this.host.name,
          ipaddress: this.host.address,
        },
      };
    });
  }

  /** An answer after the simulated delay, or never (a hang). */
  #answer(a: SimAnswer): Promise<QmfMap> {
    if (a.kind === 'hang') return new Promise(() => undefined);
    const value = { rc: a.rc, text: a.text, epoch: this.sim.epoch };
    if (a.delayMs <= 0) return Promise.resolve(value);
    return new Promise((resolve) => setTimeout(() => resolve(value), a.delayMs));
  }

  #agentMethods(): ObjectMethods {
    const op = (name: ServiceOp) => ({
      args: SERVICE_ARGS,
      handler: (args: QmfMap) => this.#answer(this.sim.op(name, specFromArgs(args).resource)),
    });
    return {
      inventory: {
        args: {},
        handler: () => {
          const inv = this.sim.inventory();
          if (inv === null) return new Promise<QmfMap>(() => undefined);
          const value = { epoch: inv.epoch, services: inv.services.map((s) => ({ ...s })) };
          const delay = this.sim.inventoryDelayMs;
          return delay <= 0
            ? value
            : new Promise<QmfMap>((resolve) => setTimeout(() => resolve(value), delay));
        },
      },
      start: op('start'),
      stop: op('stop'),
      monitor: op('monitor'),
      probe: op('monitor'), // a simulated service has nothing a probe would see otherwise
    };
  }

  /** The fault injector answers even while the assembly is partitioned: it is the test's side door. */
  #faultMethods(): ObjectMethods {
    const sim = this.sim;
    const done = (): QmfMap => this.#state();
    return {
      heartbeat: {
        args: FAULT_ARGS.heartbeat,
        handler: (a) => {
          sim.heartbeating = a.enabled === true;
          return done();
        },
      },
      fail: {
        args: FAULT_ARGS.fail,
        handler: (a) => {
          sim.fail(qmfText(a.resource), a.mode as 'once' | 'always' | 'clear');
          return done();
        },
      },
      hang: {
        args: FAULT_ARGS.hang,
        handler: (a) => {
          sim.hang(qmfText(a.resource), a.enabled === true);
          return done();
        },
      },
      slow: {
        args: FAULT_ARGS.slow,
        handler: (a) => {
          sim.delayMs = Number(a.delay_ms);
          return done();
        },
      },
      restart: {
        args: FAULT_ARGS.restart,
        handler: () => {
          sim.restart();
          this.beat(); // the new session speaks at once
          return done();
        },
      },
      partition: {
        args: FAULT_ARGS.partition,
        handler: (a) => {
          sim.partitioned = a.enabled === true;
          return done();
        },
      },
      state: { args: FAULT_ARGS.state, handler: done },
    };
  }

  #state(): QmfMap {
    return {
      assembly: this.host.name,
      epoch: this.sim.epoch,
      heartbeating: this.sim.heartbeating,
      partitioned: this.sim.partitioned,
      delay_ms: this.sim.delayMs,
      services: this.sim.services().map((s) => ({ ...s })),
    };
  }

  stop(): void {
    this.#beats.stop();
    this.#server.close();
  }
}

export class SimulatedAgents {
  readonly #agents: SimulatedAgent[];

  constructor(bus: Bus, deployable: string, hosts: readonly SimulatedHost[], log: Logger) {
    this.#agents = hosts.map((h) => new SimulatedAgent(bus, deployable, h, log));
  }

  get count(): number {
    return this.#agents.length;
  }

  async start(): Promise<void> {
    await Promise.all(this.#agents.map((a) => a.start()));
  }

  stop(): void {
    for (const a of this.#agents) a.stop();
  }
}

/** The assemblies to simulate, from --deployable-config or --deployable with --count. */
export async function simulatedHosts(
  s: Settings<typeof AGENT_SETTINGS>,
): Promise<{ deployable: string; hosts: SimulatedHost[] }> {
  const usage = (problem: string): CpeError => new CpeError('USAGE', problem);
  let deployable = s.deployable;
  let hosts: SimulatedHost[];
  if (s.deployableConfig) {
    const bytes = await readFile(s.deployableConfig).catch((err: unknown) => {
      throw unreadable(s.deployableConfig, err, 'CONFIG_UNREADABLE');
    });
    const { config } = await loadDeployableConfig(bytes, {
      file: s.deployableConfig,
    }).catch((err: unknown) => {
      throw new CpeError('CONFIG_UNREADABLE', `${s.deployableConfig}: ${errorMessage(err)}`);
    });
    if (deployable && deployable !== config.name)
      throw usage(`--deployable ${deployable} but the config names ${config.name}`);
    deployable = config.name;
    hosts = config.assemblies.map((a, i) => ({
      name: a.name,
      intervalMs: a.heartbeat.intervalMs,
      cpus: a.capacity.cpu ?? 2,
      memoryMb: a.capacity.memoryMb ?? 4096,
      address: a.address ?? `127.0.1.${(i % 254) + 1}`,
    }));
  } else {
    if (!deployable) throw usage('--deployable NAME (or --deployable-config FILE) is required');
    if (s.count < 1) throw usage('--count N (at least 1) or --deployable-config FILE is required');
    hosts = Array.from({ length: s.count }, (_, i) => ({
      name: `asm-${i + 1}`,
      intervalMs: s.heartbeatMs,
      cpus: 2,
      memoryMb: 4096,
      address: `127.0.1.${(i % 254) + 1}`,
    }));
  }
  if (!NAME_PATTERN.test(deployable))
    throw usage(`--deployable: "${deployable}" is not a deployable name`);
  return { deployable, hosts };
}
