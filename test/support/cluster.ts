/**
 * A CPE cluster for tests: a real etcd cluster, CPEs (process supervisor)
 * sharing RabbitMQ, and a watch over /proc that records any moment two DPE
 * processes run for one deployable.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QmfMap } from '../../lib/bus/qmf.js';
import type { Transport } from './bus.js';
import { CpeClient, CpeProcess, type CpeProcessOptions } from './cpe.js';
import type { EtcdCluster } from './etcd.js';

/** A process's parent, from /proc/PID/stat (after the command, which may hold spaces). */
function parentOf(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * Every DPE process whose state root lies under one of `stateDirs`, by
 * deployable. A DPE's own child between fork and exec (it runs commands)
 * still shows the DPE's command line: it is not counted.
 */
export function dpeProcesses(
  stateDirs: readonly string[],
): Map<string, { pid: number; cpe: string }[]> {
  const roots = new Map(stateDirs.map((d) => [`CPE_DPE_STATE_ROOT=${d}/dpe`, d]));
  const all: { pid: number; parent: number; cpe: string; name: string }[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline: string[];
    let environ: string[];
    let parent: number;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      parent = parentOf(pid);
    } catch {
      continue; // gone meanwhile
    }
    if (!cmdline.some((a) => /dpe\/main\.[jt]s$/.test(a))) continue;
    const cpe = environ.map((e) => roots.get(e)).find((d) => d !== undefined);
    if (cpe === undefined) continue;
    const name = cmdline[cmdline.indexOf('--name') + 1] ?? '?';
    all.push({ pid: Number(pid), parent, cpe, name });
  }
  const dpes = new Set(all.map((p) => p.pid));
  const found = new Map<string, { pid: number; cpe: string }[]>();
  for (const p of all.filter((p) => !dpes.has(p.parent)))
    found.set(p.name, [...(found.get(p.name) ?? []), { pid: p.pid, cpe: p.cpe }]);
  return found;
}

export class TestCluster {
  readonly cpes = new Map<string, CpeProcess>();
  readonly prefix = `/cpe-test-${randomUUID()}/`;
  /** Every moment seen with two DPEs for one deployable. */
  readonly doubles: string[] = [];
  #sampler: NodeJS.Timeout | undefined;
  #client: CpeClient | undefined;

  constructor(
    readonly etcd: EtcdCluster,
    readonly broker: Transport,
    readonly ttlSeconds = 5,
    /** dist/ rather than the sources under tsx (benchmarks). */
    readonly compiled = false,
  ) {}

  /** Starts a CPE named `name` (options: to run it on a test host). */
  async add(
    name: string,
    options: Partial<CpeProcessOptions> = {},
    endpoints = this.etcd.endpoints,
  ): Promise<CpeProcess> {
    const cpe = await CpeProcess.create(this.compiled, {
      broker: { url: this.broker.url, profile: this.broker.profile },
      ...options,
      args: [
        '--store',
        'etcd',
        '--etcd-endpoints',
        endpoints.join(','),
        '--etcd-prefix',
        this.prefix,
        '--cluster-name',
        name,
        '--cluster-lease-ttl',
        String(this.ttlSeconds),
        ...(options.args ?? []),
      ],
    });
    this.cpes.set(name, cpe);
    await cpe.start();
    return cpe;
  }

  get client(): CpeClient {
    this.#client ??= new CpeClient(this.broker.url, 'rabbitmq');
    return this.#client;
  }

  /** The CPE whose state directory is `dir`, by name. */
  nameOf(dir: string): string {
    for (const [name, cpe] of this.cpes) if (cpe.stateDir === dir) return name;
    return '?';
  }

  /** Deployable → the CPE whose DPE runs it (one each). */
  running(): Map<string, string> {
    const all = dpeProcesses([...this.cpes.values()].map((c) => c.stateDir));
    return new Map(
      [...all].map(([name, ps]) => [name, ps.map((p) => this.nameOf(p.cpe)).join('+')]),
    );
  }

  pids(): Map<string, number> {
    const all = dpeProcesses([...this.cpes.values()].map((c) => c.stateDir));
    return new Map([...all].map(([name, ps]) => [name, ps[0]!.pid]));
  }

  /** Looks at /proc every 50 ms for the whole run. */
  watchForDoubles(): void {
    this.#sampler = setInterval(() => {
      const all = dpeProcesses([...this.cpes.values()].map((c) => c.stateDir));
      for (const [name, ps] of all)
        if (ps.length > 1)
          this.doubles.push(
            `${new Date().toISOString()} ${name}: ${ps.map((p) => `${p.pid}@${this.nameOf(p.cpe)}`).join(', ')}`,
          );
    }, 50);
  }

  /**
   * Resolves once every one of `names` is ready (asked of any CPE) and runs
   * one DPE, and `also` holds of their status.
   */
  async allReady(
    names: readonly string[],
    timeoutMs = 60_000,
    also: (status: Map<string, QmfMap>) => boolean = () => true,
  ): Promise<Map<string, QmfMap>> {
    const deadline = Date.now() + timeoutMs;
    let last = new Map<string, QmfMap>();
    for (;;) {
      last = new Map();
      let listed: QmfMap[] = [];
      try {
        listed = (await this.client.call('deployable_list')).deployables as QmfMap[];
      } catch (err) {
        // A loaded machine: etcd slow to answer a member; ask again until the deadline.
        if (Date.now() > deadline) throw err;
      }
      for (const s of listed) last.set(s.name as string, s);
      const running = this.running();
      if (
        names.every(
          // One DPE, where the owner everyone reports runs it.
          (n) =>
            last.get(n)?.dpe_ready === true &&
            running.get(n)?.includes('+') === false &&
            last.get(n)?.owner === running.get(n),
        ) &&
        last.size > 0 &&
        also(last)
      )
        return last;
      if (Date.now() > deadline)
        throw new Error(
          `not all ready: ${JSON.stringify([...last.values()].map((s) => [s.name, s.owner, s.dpe_ready]))} running ${JSON.stringify([...running])}\n${this.logs()}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** How often any CPE fenced itself (stopped its DPEs for want of its lease). */
  fences(): number {
    return [...this.cpes.values()].reduce(
      (n, c) => n + (c.output.match(/stopping every DPE here before it can expire/g)?.length ?? 0),
      0,
    );
  }

  /** The end of each CPE's output; the whole of it is written to STATE_DIR/output.log. */
  logs(): string {
    return [...this.cpes]
      .map(([name, c]) => {
        const file = join(c.stateDir, 'output.log');
        writeFileSync(file, c.output);
        return `--- CPE ${name} (all of it: ${file})\n${c.output.slice(-4000)}`;
      })
      .join('\n');
  }

  async stop(): Promise<void> {
    clearInterval(this.#sampler);
    await this.#client?.close();
    for (const cpe of this.cpes.values()) await cpe.stop().catch(() => cpe.kill9());
  }
}
