/**
 * A real etcd cluster for tests: Debian's etcd-server, N members on one
 * address (loopback, or a test network's bridge) with ports of their own,
 * each in a private data directory. Members can be killed and started again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { CI } from './bus.js';
import { freePorts } from './cpe.js';

/** Why etcd cannot run here, or undefined. */
export function etcdUnavailable(): string | undefined {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0
    ? undefined
    : 'etcd is missing (Debian package etcd-server)';
}

/** Skips the suite without etcd, and fails it under CI=true. */
export function requireEtcd(context: Mocha.Context): void {
  const why = etcdUnavailable();
  if (why === undefined) return;
  if (CI) throw new Error(`etcd is required under CI=true: ${why}`);
  context.skip();
}

interface Member {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  output: string;
}

export class EtcdCluster {
  readonly #members: Member[];
  readonly #host: string;
  readonly #root: string;
  readonly #token = `cpe-test-${process.pid}-${Date.now()}`;

  private constructor(host: string, members: Member[], root: string) {
    this.#host = host;
    this.#members = members;
    this.#root = root;
  }

  static async start(size = 3, host = '127.0.0.1'): Promise<EtcdCluster> {
    const root = mkdtempSync(join(tmpdir(), 'cpe-etcd-'));
    const members: Member[] = [];
    const ports = await freePorts(2 * size);
    for (let i = 1; i <= size; i++)
      members.push({
        name: `m${i}`,
        client: ports[2 * i - 2]!,
        peer: ports[2 * i - 1]!,
        dataDir: join(root, `m${i}`),
        child: undefined,
        output: '',
      });
    const cluster = new EtcdCluster(host, members, root);
    for (let i = 0; i < size; i++) cluster.startMember(i);
    await cluster.waitHealthy();
    return cluster;
  }

  /** Every member's client URL, as etcd.endpoints takes them. */
  get endpoints(): string[] {
    return this.#members.map((m) => `http://${this.#host}:${m.client}`);
  }

  startMember(i: number): void {
    const m = this.#members[i]!;
    const url = (port: number): string => `http://${this.#host}:${port}`;
    const initial = this.#members.map((x) => `${x.name}=${url(x.peer)}`).join(',');
    m.output = '';
    m.child = spawn(
      'etcd',
      [
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        url(m.client),
        '--advertise-client-urls',
        url(m.client),
        '--listen-peer-urls',
        url(m.peer),
        '--initial-advertise-peer-urls',
        url(m.peer),
        '--initial-cluster',
        initial,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        this.#token,
        '--log-level',
        'warn',
        '--logger',
        'zap',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer): void => {
      m.output = (m.output + chunk.toString()).slice(-20_000);
    };
    m.child.stdout!.on('data', keep);
    m.child.stderr!.on('data', keep);
  }

  /** SIGKILL: the member is gone at once, its port refuses. */
  async kill(i: number): Promise<void> {
    const child = this.#members[i]!.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Resolves once a write through every running member's endpoint succeeds. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const client = new Etcd3({ hosts: this.endpoints, dialTimeout: 1000 });
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        try {
          await client.put('cpe-test-health').value(String(Date.now())).exec();
          return;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`etcd is not healthy: ${String(err)}\n${this.logs()}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      client.close();
    }
  }

  logs(): string {
    return this.#members.map((m) => `--- etcd ${m.name}\n${m.output.slice(-3000)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.#members.length; i++) await this.kill(i);
    rmSync(this.#root, { recursive: true, force: true });
  }
}
