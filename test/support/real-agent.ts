/**
 * Real agents for tests: an OCF_ROOT holding Debian's resource agents
 * (resource-agents) and the fixtures' own, the fixtures' init scripts, and
 * `cpe-agent` as a real process on the test's bus.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../lib/paths.js';
import { requireOrSkip } from './bus.js';
import { untilReady } from './cpe.js';

export const DEBIAN_OCF = '/usr/lib/ocf';
export const FIXTURES = join(packageRoot(), 'test', 'fixtures');
export const LSB_DIR = join(FIXTURES, 'init.d');

/** Skips the suite (fails it under CI=true) when Debian's resource-agents is not installed. */
export function requireResourceAgents(context: Mocha.Context): void {
  const dummy = join(DEBIAN_OCF, 'resource.d', 'heartbeat', 'Dummy');
  requireOrSkip(
    context,
    "Debian's resource-agents",
    existsSync(dummy) ? undefined : `${dummy} is missing (apt-get install resource-agents)`,
  );
}

/** A fresh OCF_ROOT: Debian's heartbeat agents and shell functions, and the fixtures' provider cpetest. */
export function testOcfRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'cpe-ocf-'));
  mkdirSync(join(root, 'resource.d'));
  symlinkSync(join(DEBIAN_OCF, 'lib'), join(root, 'lib'));
  symlinkSync(join(DEBIAN_OCF, 'resource.d', 'heartbeat'), join(root, 'resource.d', 'heartbeat'));
  symlinkSync(join(FIXTURES, 'ocf', 'cpetest'), join(root, 'resource.d', 'cpetest'));
  return root;
}

export interface AgentProcessOptions {
  readonly deployable: string;
  readonly assembly: string;
  readonly busUrl: string;
  readonly busProfile?: string;
  readonly stateDir: string;
  readonly ocfRoot: string;
  /** HA_RSCTMP: where Dummy and the fixtures keep their state (one per assembly). */
  readonly rscTmp: string;
  readonly heartbeatMs?: number;
  readonly extra?: readonly string[];
  /** Runs the command under another, e.g. ['ip', 'netns', 'exec', NS]. */
  readonly wrap?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Runs dist/ (benchmarks) instead of the sources under tsx. */
  readonly compiled?: boolean;
  /** The settings file (the CPE's, in tests); none by default. */
  readonly settingsFile?: string;
}

/** `cpe-agent` for one assembly, as a real process. */
export class RealAgent {
  child: ChildProcess | undefined;
  output = '';

  constructor(readonly o: AgentProcessOptions) {}

  async start(): Promise<void> {
    const o = this.o;
    const argv = [
      process.execPath,
      ...(o.compiled
        ? [join(packageRoot(), 'dist', 'agent', 'main.js')]
        : ['--import', 'tsx', join(packageRoot(), 'agent', 'main.ts')]),
      '--deployable',
      o.deployable,
      '--assembly',
      o.assembly,
      '--bus-url',
      o.busUrl,
      '--bus-profile',
      o.busProfile ?? 'embedded',
      '--state-dir',
      o.stateDir,
      '--ocf-root',
      o.ocfRoot,
      '--lsb-dir',
      LSB_DIR,
      '--heartbeat-ms',
      String(o.heartbeatMs ?? 500),
      ...(o.extra ?? []),
    ];
    const [cmd, ...args] = [...(o.wrap ?? []), ...argv];
    mkdirSync(o.rscTmp, { recursive: true });
    this.output = '';
    const child = spawn(cmd!, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: packageRoot(),
      env: {
        ...process.env,
        NOTIFY_SOCKET: '',
        CPE_CONFIG: o.settingsFile ?? '',
        HA_RSCTMP: o.rscTmp,
        ...o.env,
      },
    });
    this.child = child;
    await untilReady(child, `the agent of ${o.assembly}`, (text) => (this.output += text));
  }

  /** SIGTERM, and the exit status. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child) return null;
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  }

  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

/** Where an assembly's agent under `dir` keeps its resources' state (HA_RSCTMP). */
export function rscTmpOf(dir: string, assembly: string): string {
  return join(dir, 'rsctmp', assembly);
}

export interface RealAgentsOptions {
  readonly deployable: string;
  /** The CPE whose bus and settings file they use. */
  readonly cpe: { urlAs(user: string): string; readonly settingsFile: string };
  /** Their state and rsctmp directories go under it, one per assembly. */
  readonly dir: string;
  readonly ocfRoot: string;
  readonly compiled?: boolean;
  /** The command prefix that puts an assembly's agent where it runs (a namespace). */
  readonly wrap?: (assembly: string) => readonly string[];
}

/** Starts one agent per assembly, in turn; each goes into `into` before it starts (to be stopped). */
export async function startRealAgents(
  assemblies: Iterable<string>,
  o: RealAgentsOptions,
  into: Map<string, RealAgent>,
): Promise<void> {
  for (const assembly of assemblies) {
    const agent = new RealAgent({
      deployable: o.deployable,
      assembly,
      busUrl: o.cpe.urlAs(`agent.${o.deployable}.${assembly}`),
      settingsFile: o.cpe.settingsFile,
      stateDir: join(o.dir, 'state', assembly),
      ocfRoot: o.ocfRoot,
      rscTmp: rscTmpOf(o.dir, assembly),
      ...(o.compiled ? { compiled: true } : {}),
      ...(o.wrap ? { wrap: o.wrap(assembly) } : {}),
    });
    into.set(assembly, agent);
    await agent.start();
  }
}
