/**
 * A real CPE for integration tests: cpe/main.ts as a child process (under
 * tsx), with its embedded router on a free port, a private state directory
 * and the process supervisor; plus a client on its bus.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProfileName } from '../../lib/bus/addressing.js';
import { Bus } from '../../lib/bus/bus.js';
import { CLIENT_USER } from '../../lib/bus/identity.js';
import { clientPasswordFile, readBusKey } from '../../lib/bus/secrets.js';
import { MethodClient } from '../../lib/bus/client.js';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { silentLogger } from '../../lib/log.js';
import { packageRoot } from '../../lib/paths.js';

/** The example deployable the CPE tests and benchmarks create. */
export const EXAMPLE_XML = readFileSync(
  join(packageRoot(), 'examples', 'wordpress-ha.xml'),
  'utf8',
);
export const EXAMPLE_NAME = /<deployable[^>]*\sname="([^"]+)"/.exec(EXAMPLE_XML)![1]!;

/** The example under another name and uuid: as many deployables as a test needs. */
export function exampleAs(name: string, uuid: string = randomUUID()): string {
  return EXAMPLE_XML.replace(`name="${EXAMPLE_NAME}"`, `name="${name}"`).replace(
    /(<deployable[^>]*\suuid=")[^"]+/,
    `$1${uuid}`,
  );
}

/** Whether process `pid` still exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * `count` different ports free on loopback now. Each is held until all are
 * found: the kernel may hand out a port it just had back, and a CPE's router
 * and HTTP API once got the same one (EADDRINUSE at start).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Resolves once a daemon logs " INFO ready "; its output goes to `onOutput` meanwhile and after. */
export function untilReady(
  child: ChildProcess,
  what: string,
  onOutput: (text: string) => void,
): Promise<void> {
  let output = '';
  return new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      onOutput(chunk.toString());
      if (/ INFO ready /.test(output)) resolve();
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`${what} exited (${code}) before ready:\n${output}`)),
    );
  });
}

/** A CPE's embedded router as a client logs in to it: with the password the CPE wrote for clients. */
export function clientUrl(stateDir: string, port: number): string {
  const password = readFileSync(clientPasswordFile(stateDir), 'utf8').trim();
  return `amqp://${CLIENT_USER}:${password}@127.0.0.1:${port}`;
}

export interface CpeProcessOptions {
  /** The settings file's content (the DPEs read it too). */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** More arguments (settings as flags). */
  readonly args?: readonly string[];
  /** A command prefix it runs under (ip netns exec NS: on a test host). */
  readonly wrap?: readonly string[];
  /** More environment (its DPEs inherit it). */
  readonly env?: Readonly<Record<string, string>>;
  /** A broker instead of the embedded router. */
  readonly broker?: { readonly url: string; readonly profile: string };
  /** The router off loopback (then with SASL PLAIN users: a credentials file, and who the CPE is). */
  readonly router?: {
    readonly host: string;
    readonly credentialsFile: string;
    readonly user: string;
    readonly password: string;
    /** TLS (PLAIN beyond loopback requires it): the router's certificate and key, and the CA clients trust. */
    readonly tls: { readonly cert: string; readonly key: string; readonly ca: string };
    /** No --bus-ca: the CPE and its DPEs trust the router by NODE_EXTRA_CA_CERTS (in env). */
    readonly caByEnvironment?: boolean;
  };
}

export class CpeProcess {
  child: ChildProcess | undefined;
  output = '';

  constructor(
    readonly stateDir: string,
    readonly port: number,
    /** Runs dist/cpe/main.js (and so the compiled DPE) instead of the sources under tsx. */
    readonly compiled = false,
    readonly options: CpeProcessOptions = {},
    /** The HTTP API's port (0: one the kernel picks, see httpUrl). */
    readonly httpPort = 0,
  ) {}

  static async create(compiled = false, options: CpeProcessOptions = {}): Promise<CpeProcess> {
    const [router, http] = await freePorts(2);
    return new CpeProcess(
      mkdtempSync(join(tmpdir(), 'cpe-state-')),
      router!,
      compiled,
      options,
      http,
    );
  }

  /** The HTTP API, as its "ready" line says. */
  get httpUrl(): string {
    const m = / http=(http:\/\/\S+)/.exec(this.output);
    if (!m)
      throw new Error(`the CPE has not said where its HTTP API is:\n${this.output.slice(-1000)}`);
    return m[1]!;
  }

  /** The bus as a client (cpectl) sees it: with the password the CPE wrote for clients, once it has. */
  get url(): string {
    if (this.options.router || this.options.broker) return this.#ownUrl;
    return existsSync(clientPasswordFile(this.stateDir))
      ? clientUrl(this.stateDir, this.port)
      : this.#ownUrl;
  }

  /** The bus as `user` (an agent's identity, say), with the password the CPE's key derives for it. */
  urlAs(user: string): string {
    if (this.options.broker) return this.options.broker.url;
    return this.#withLogin(user, readBusKey(this.stateDir).password(user));
  }

  #withLogin(user: string, password: string): string {
    const r = this.options.router;
    const where = r ? `amqps://${r.host}:${this.port}` : `amqp://127.0.0.1:${this.port}`;
    const url = new URL(where);
    url.username = user;
    url.password = password;
    return url.toString().replace(/\/$/, '');
  }

  /** The CPE's own bus setting. */
  get #ownUrl(): string {
    const r = this.options.router;
    if (r) return `amqps://${r.user}:${r.password}@${r.host}:${this.port}`;
    return this.options.broker?.url ?? `amqp://127.0.0.1:${this.port}`;
  }

  get profile(): string {
    return this.options.broker?.profile ?? 'embedded';
  }

  /** The settings file, by default empty: the host's /etc/cpe/cpe.json must not leak into tests. */
  get settingsFile(): string {
    const file = join(this.stateDir, 'settings.json');
    writeFileSync(file, `${JSON.stringify(this.options.settings ?? {})}\n`);
    return file;
  }

  /**
   * The CPE on this state directory with the process supervisor, its router
   * on `routerPort` and its HTTP API on `httpPort`, then `args`; under the
   * options' command prefix (a test host), with the test's settings file.
   */
  #spawn(routerPort: number, httpPort: number, args: readonly string[]): ChildProcess {
    const root = packageRoot();
    const main = this.compiled
      ? [join(root, 'dist', 'cpe', 'main.js')]
      : ['--import', 'tsx', join(root, 'cpe', 'main.ts')];
    const [command, ...prefix] = [...(this.options.wrap ?? []), process.execPath];
    return spawn(
      command,
      [
        ...prefix,
        ...main,
        '--supervisor',
        'process',
        '--state-dir',
        this.stateDir,
        '--router-port',
        String(routerPort),
        '--http-port',
        String(httpPort),
        ...args,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...this.options.env,
          CPE_CONFIG: this.settingsFile,
          NOTIFY_SOCKET: '',
        },
      },
    );
  }

  /** Starts it; resolves when it logs "ready". */
  async start(): Promise<void> {
    const child = this.#spawn(this.port, this.httpPort, [
      '--bus-url',
      this.#ownUrl,
      '--bus-profile',
      this.profile,
      ...(this.options.broker ? ['--no-router-enabled'] : []),
      ...(this.options.router
        ? [
            '--router-host',
            this.options.router.host,
            '--router-credentials-file',
            this.options.router.credentialsFile,
            '--router-tls-cert',
            this.options.router.tls.cert,
            '--router-tls-key',
            this.options.router.tls.key,
            ...(this.options.router.caByEnvironment
              ? []
              : ['--bus-ca', this.options.router.tls.ca]),
          ]
        : []),
      ...(this.options.args ?? []),
    ]);
    this.child = child;
    await untilReady(child, 'the CPE', (text) => (this.output += text));
  }

  /**
   * Runs the CPE on this state directory with `args` (a free router port, the
   * kernel's HTTP port), expecting it to exit: its exit code and its stderr.
   */
  async runOnce(args: readonly string[]): Promise<{ code: number | null; out: string }> {
    const child = this.#spawn(await freePort(), 0, args);
    let out = '';
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    return { code, out };
  }

  kill9(): Promise<void> {
    return this.#signal('SIGKILL');
  }

  /** SIGTERM: a graceful stop, which must exit 0 (anything else fails the caller). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await this.#signal('SIGTERM');
    if (child.exitCode !== 0)
      throw new Error(
        `the CPE did not stop gracefully (exit ${String(child.exitCode)}, signal ${String(child.signalCode)}):\n${this.output.slice(-2000)}`,
      );
  }

  #signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(sig);
    });
  }
}

export interface WaitOptions {
  readonly notPid?: number;
  readonly timeoutMs?: number;
  /** What to add to the error when it times out (logs). */
  readonly context?: () => string | Promise<string>;
}

export class CpeClient {
  readonly bus: Bus;
  readonly client: MethodClient;

  constructor(url: string, profile: ProfileName = 'embedded', caFile?: string) {
    const logger = silentLogger();
    this.bus = new Bus({
      url,
      profile,
      name: 'test',
      logger,
      reconnect: { initialMs: 50, maxMs: 500 },
      ...(caFile ? { tls: { caFile } } : {}),
    });
    this.client = new MethodClient(this.bus, { name: 'test', logger, defaultTimeoutMs: 30_000 });
  }

  call(method: string, args: QmfMap = {}): Promise<QmfMap> {
    return this.client.call({ address: 'cpe', object: 'cpe' }, method, args);
  }

  /**
   * The deployable's status once its DPE reports ready on `generation`
   * (and, given `notPid`, is another process than that one).
   */
  async waitReady(
    name: string,
    generation: number,
    { notPid, timeoutMs = 30_000, context = () => '' }: WaitOptions = {},
  ): Promise<QmfMap> {
    const deadline = Date.now() + timeoutMs;
    let last: QmfMap = {};
    while (Date.now() < deadline) {
      last = await this.call('deployable_status', { name });
      if (
        last.dpe_ready === true &&
        last.dpe_generation === generation &&
        last.dpe_pid &&
        last.dpe_pid !== notPid
      )
        return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `the DPE of ${name} was not ready on generation ${generation}: ${JSON.stringify(last)}\n${await context()}`,
    );
  }

  async close(): Promise<void> {
    this.client.close();
    await this.bus.close();
  }
}
