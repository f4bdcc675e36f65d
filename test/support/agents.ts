/**
 * Simulated agents for integration tests: `cpe-agent --simulate` as a real
 * process on the test's bus, and a client for their fault injectors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { agentNode, FAULT_OBJECT } from '../../lib/addresses.js';
import type { ProfileName } from '../../lib/bus/addressing.js';
import { Bus } from '../../lib/bus/bus.js';
import { MethodClient } from '../../lib/bus/client.js';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { silentLogger } from '../../lib/log.js';
import { packageRoot } from '../../lib/paths.js';
import { untilReady } from './cpe.js';

export interface SimService {
  readonly resource: string;
  readonly state: string;
  readonly starts: number;
}

export class AgentsProcess {
  child: ChildProcess | undefined;
  output = '';
  readonly #bus: Bus;
  readonly #client: MethodClient;

  constructor(
    readonly deployable: string,
    readonly configFile: string,
    /** The bus as a client: the fault injectors are called with it. */
    readonly url: string,
    readonly profile: ProfileName,
    readonly settingsFile: string,
    readonly compiled = false,
    /** The bus as the agents (identity agent.DEPLOYABLE); default `url`. */
    readonly agentUrl = url,
  ) {
    const logger = silentLogger();
    this.#bus = new Bus({
      url,
      profile,
      name: 'test-faults',
      logger,
      reconnect: { initialMs: 50, maxMs: 500 },
    });
    this.#client = new MethodClient(this.#bus, {
      name: 'test-faults',
      logger,
      defaultTimeoutMs: 10_000,
    });
  }

  async start(): Promise<void> {
    const root = packageRoot();
    const main = this.compiled
      ? [join(root, 'dist', 'agent', 'main.js')]
      : ['--import', 'tsx', join(root, 'agent', 'main.ts')];
    const child = spawn(
      process.execPath,
      [
        ...main,
        '--simulate',
        '--deployable-config',
        this.configFile,
        '--bus-url',
        this.agentUrl,
        '--bus-profile',
        this.profile,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CPE_CONFIG: this.settingsFile, NOTIFY_SOCKET: '' },
      },
    );
    this.child = child;
    await untilReady(child, 'the agents', (text) => (this.output += text));
    await this.#bus.whenUp(10_000);
  }

  fault(assembly: string, method: string, args: QmfMap = {}): Promise<QmfMap> {
    return this.#client.call(
      { address: agentNode(this.deployable, assembly), object: FAULT_OBJECT },
      method,
      args,
    );
  }

  async services(assembly: string): Promise<SimService[]> {
    return (await this.fault(assembly, 'state')).services as unknown as SimService[];
  }

  /** Every running copy of every service, as "service@assembly", and the starts asked of each. */
  async census(assemblies: readonly string[]): Promise<{ running: string[]; starts: number }> {
    const running: string[] = [];
    let starts = 0;
    for (const a of assemblies) {
      for (const s of await this.services(a)) {
        if (s.state === 'running') running.push(`${s.resource}@${a}`);
        starts += s.starts;
      }
    }
    return { running: running.sort(), starts };
  }

  async stop(): Promise<void> {
    this.#client.close();
    await this.#bus.close();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}
