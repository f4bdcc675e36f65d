/**
 * Real systemd for integration tests and benchmarks: the machine's own
 * systemd booted as PID 1 of private namespaces (systemd-sandbox-boot.sh
 * beside this file; ../shared/recipes/README.md says why each line of it is
 * there), with this package's unit files installed and its compiled commands
 * behind them.
 *
 * From the host the sandbox is reached three ways: commands through nsenter,
 * its system bus through /proc/PID/root (D-Bus sockets are files), and its
 * loopback network (where the CPE's router listens) through a bridge: a
 * process inside the network namespace that forwards a Unix socket on the
 * host's file system to a port inside, fronted by a host TCP port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLIENT_USER } from '../../lib/bus/identity.js';
import { clientPasswordFile, readBusKey } from '../../lib/bus/secrets.js';
import { packageRoot } from '../../lib/paths.js';

const run = promisify(execFile);
const SYSTEMD = '/lib/systemd/systemd';
/** Where the wrappers for the compiled commands go, inside the sandbox. */
const BIN = '/run/cpe-test/bin';
/** Where the boot script shows this package to the units, wherever it is on the host. */
const PROJECT = '/run/cpe-test/project';

/** Why real systemd cannot run here, or undefined when it can. */
export function sandboxUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const f of [SYSTEMD, '/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/dbus-daemon'])
    if (!existsSync(f)) return `${f} is missing`;
  if (!existsSync(join(packageRoot(), 'dist', 'cpe', 'main.js')))
    return 'the package is not built (npm run build)';
  return undefined;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class SystemdSandbox {
  readonly #unshare: ChildProcess;
  readonly #bridges: { server: net.Server; child: ChildProcess; dir: string }[] = [];
  bootLog = '';

  private constructor(
    unshare: ChildProcess,
    /** systemd's pid, as the host sees it. */
    readonly pid: number,
  ) {
    this.#unshare = unshare;
    unshare.stdout?.on('data', (c: Buffer) => (this.bootLog += c.toString()));
    unshare.stderr?.on('data', (c: Buffer) => (this.bootLog += c.toString()));
  }

  /** Boots it and waits until systemd reports the boot finished. */
  static async boot(): Promise<SystemdSandbox> {
    const why = sandboxUnavailable();
    if (why) throw new Error(`cannot boot systemd: ${why}`);
    const script = join(packageRoot(), 'test', 'support', 'systemd-sandbox-boot.sh');
    const unshare = spawn(
      'unshare',
      ['--pid', '--fork', '--mount', '--uts', '--ipc', '--net', '--mount-proc', script],
      {
        detached: true, // its own session, as setsid in the recipe
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SANDBOX_KEEP: packageRoot() },
      },
    );
    const pid = await poll(10_000, async () => {
      const { stdout } = await run('pgrep', ['-P', String(unshare.pid)]).catch(() => ({
        stdout: '',
      }));
      return Number(stdout.trim().split('\n')[0]) || undefined;
    });
    const sandbox = new SystemdSandbox(unshare, pid);
    try {
      await poll(60_000, async () => {
        const state = await sandbox.exec(['systemctl', 'is-system-running']).then(
          (r) => r.stdout.trim(),
          (err: { stdout?: string }) => (err.stdout ?? '').trim(),
        );
        return state === 'running' || state === 'degraded' ? state : undefined;
      });
    } catch (err) {
      await sandbox.destroy();
      throw new Error(`systemd did not finish booting:\n${sandbox.bootLog}`, { cause: err });
    }
    return sandbox;
  }

  /** The sandbox's system bus, reachable from the host. */
  get busAddress(): string {
    return `unix:path=/proc/${this.pid}/root/run/dbus/system_bus_socket`;
  }

  /** Runs a command inside every namespace of the sandbox. */
  async exec(argv: readonly string[]): Promise<ExecResult> {
    return run('nsenter', ['-t', String(this.pid), '-m', '-p', '-n', '--', ...argv], {
      maxBuffer: 16 << 20,
    });
  }

  systemctl(...args: string[]): Promise<ExecResult> {
    return this.exec(['systemctl', '--no-pager', ...args]);
  }

  /** The unit's journal, for failure messages. */
  async journal(unit: string, lines = 80): Promise<string> {
    const r = await this.exec(['journalctl', '--no-pager', '-n', String(lines), '-u', unit]).catch(
      (err: Error) => ({ stdout: err.message }),
    );
    return r.stdout;
  }

  /** A file inside the sandbox's mount namespace, as a host path. */
  path(inside: string): string {
    return `/proc/${this.pid}/root${inside}`;
  }

  /**
   * Installs this package's unit files as scripts/install-systemd.sh does,
   * with the compiled commands behind them, and reloads systemd.
   */
  async installUnits(settings: Record<string, unknown> = {}): Promise<void> {
    mkdirSync(this.path(BIN), { recursive: true });
    for (const [cmd, main] of [
      ['cpe', 'cpe'],
      ['dpe', 'dpe'],
      ['cpe-agent', 'agent'],
    ] as const) {
      // Links, as `npm install -g` makes them: each runs under the node flags on its #! line.
      const file = this.path(`${BIN}/${cmd}`);
      rmSync(file, { force: true });
      symlinkSync(`${PROJECT}/dist/${main}/main.js`, file);
    }
    await this.exec(['sh', `${PROJECT}/scripts/install-systemd.sh`, BIN, '/run/systemd/system']);
    // The sandbox shares the host's /etc: the host's /etc/cpe/cpe.json must not leak
    // in, and ConfigurationDirectory= must not create /etc/cpe on the host. The test's
    // own settings file instead.
    // The DPEs and the agent read it too, as they read /etc/cpe/cpe.json on a real host.
    writeFileSync(this.path('/run/cpe-test/cpe.json'), `${JSON.stringify(settings)}\n`);
    for (const unit of ['cpe.service', 'dpe@.service', 'cpe-agent.service']) {
      await this.exec(['mkdir', '-p', `/run/systemd/system/${unit}.d`]);
      writeFileSync(
        this.path(`/run/systemd/system/${unit}.d/test.conf`),
        '[Service]\nConfigurationDirectory=\nEnvironment=CPE_CONFIG=/run/cpe-test/cpe.json\n',
      );
    }
    await this.systemctl('daemon-reload');
  }

  /**
   * The URL of the sandbox's CPE router, through a bridge, as `user` (by
   * default a client, with the password the CPE wrote for clients; another
   * user with the password its key derives).
   */
  async busUrl(port: number, user = CLIENT_USER): Promise<string> {
    const stateDir = this.path('/var/lib/cpe');
    const password =
      user === CLIENT_USER
        ? readFileSync(clientPasswordFile(stateDir), 'utf8').trim()
        : readBusKey(stateDir).password(user);
    return `amqp://${user}:${password}@127.0.0.1:${await this.bridge(port)}`;
  }

  /**
   * A host port that reaches `port` on the sandbox's loopback (where the
   * CPE's router listens): a forwarder inside the network namespace on a Unix
   * socket, and a TCP listener here in front of it.
   */
  async bridge(port: number): Promise<number> {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-sandbox-bridge-'));
    const sock = join(dir, 'bridge.sock');
    const forwarder = `const net=require('net');
net.createServer((c)=>{const s=net.connect(${port},'127.0.0.1');c.pipe(s).pipe(c);
c.on('error',()=>s.destroy());s.on('error',()=>c.destroy());}).listen(${JSON.stringify(sock)},()=>console.log('up'));`;
    const child = spawn(
      'nsenter',
      ['-t', String(this.pid), '-n', '--', process.execPath, '-e', forwarder],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the bridge exited (${code})`)));
    });
    const server = net.createServer((c) => {
      const s = net.connect(sock);
      c.pipe(s).pipe(c);
      c.on('error', () => s.destroy());
      s.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#bridges.push({ server, child, dir });
    return (server.address() as net.AddressInfo).port;
  }

  /** Powers it off (all units stop), killing what is left after a while. */
  async destroy(): Promise<void> {
    for (const b of this.#bridges) {
      b.server.close();
      b.child.kill('SIGKILL');
      rmSync(b.dir, { recursive: true, force: true });
    }
    this.#bridges.length = 0;
    const exited = new Promise<void>((resolve) => {
      if (this.#unshare.exitCode !== null || this.#unshare.signalCode !== null) resolve();
      else this.#unshare.once('exit', () => resolve());
    });
    await this.systemctl('poweroff', '--no-block').catch(() => undefined);
    const timer = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL'); // PID 1 of the namespace: takes everything inside along
      } catch {
        /* gone already */
      }
    }, 15_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Calls `probe` until it returns a value, every 100 ms, for at most `ms`. */
export async function poll<T>(ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms`, { cause: lastError });
    await new Promise((r) => setTimeout(r, 100));
  }
}
