/**
 * DPEs as child processes, for hosts without systemd (the embedded default).
 * Children run in their own session so that a CPE restart leaves them
 * running; a pidfile per DPE (pid + kernel start time, so a recycled pid is
 * never taken for ours) lets a restarted CPE adopt them instead of starting
 * a second copy. Adopted DPEs are not our children: their exit is noticed
 * by polling. Each DPE writes to RUNDIR/NAME.log, rotated copy-and-truncate
 * (the DPE's descriptor appends, so it carries on at the start) to NAME.log.1.
 *
 * A CPE killed between starting a DPE and writing its pidfile leaves a DPE
 * no pidfile names. Every DPE carries its run directory in its environment
 * (RUN_DIR_ENV), so a restarted CPE also looks for those among the running
 * processes: it adopts the one per name it should have, and stops any other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { deferExtraCa } from '../lib/bus/extra-ca.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { DPE_BOUND_TO_ENV } from '../lib/settings.js';
import type { DpeChange, DpeState, DpeSupervisor, PrepareDpe } from './supervisor.js';

export interface ProcessSupervisorOptions {
  /** The DPE command; `--name NAME` is appended. */
  readonly command: readonly string[];
  /** Pidfiles and DPE logs go here. */
  readonly runDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly prepare?: PrepareDpe;
  readonly log: Logger;
  readonly stopTimeoutMs?: number;
  readonly pollMs?: number;
  /** In a cluster: each DPE exits when this CPE is gone (DPE_BOUND_TO_ENV). */
  readonly boundToCpe?: boolean;
  /** The DPEs' nice value: in a cluster they yield to the CPE, which must renew its lease in time. */
  readonly niceness?: number;
  /** A DPE's log is rotated past this size (default 10 MiB); one old log is kept. */
  readonly logMaxBytes?: number;
}

/** Marks a DPE's environment with the run directory of the supervisor that started it. */
export const RUN_DIR_ENV = 'CPE_SUPERVISOR_RUN_DIR';

interface Tracked {
  readonly pid: number;
  readonly startTime: string;
  readonly child?: ChildProcess;
  state: DpeState;
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function cmdlineHasName(pid: number, name: string): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((a, i) => a === '--name' && args[i + 1] === name);
  } catch {
    return false;
  }
}

/** Running processes whose environment says this run directory started them, by `--name`. */
export function dpesStartedFrom(runDir: string): Map<string, number[]> {
  const marker = `${RUN_DIR_ENV}=${runDir}`;
  const found = new Map<string, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let args: string[];
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker)) continue;
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    const name = args[args.lastIndexOf('--name') + 1];
    if (args.includes('--name') && name) found.set(name, [...(found.get(name) ?? []), pid]);
  }
  return found;
}

/** The process a pidfile names, if that very process (pid and start time) still runs. */
export function runningFromPidfile(file: string): { pid: number; startTime: string } | undefined {
  try {
    const { pid, startTime } = JSON.parse(readFileSync(file, 'utf8')) as {
      pid: number;
      startTime: string;
    };
    return processStartTime(pid) === startTime ? { pid, startTime } : undefined;
  } catch {
    return undefined;
  }
}

export class ProcessSupervisor implements DpeSupervisor {
  readonly kind = 'process';
  readonly #o: ProcessSupervisorOptions;
  readonly #tracked = new Map<string, Tracked>();
  readonly #last = new Map<string, DpeState>();
  readonly #listeners: ((c: DpeChange) => void)[] = [];
  readonly #poll: NodeJS.Timeout;

  constructor(options: ProcessSupervisorOptions) {
    this.#o = options;
    mkdirSync(options.runDir, { recursive: true, mode: 0o750 });
    this.#adopt();
    this.#poll = setInterval(() => {
      this.#checkAdopted();
      this.#rotateLogs();
    }, options.pollMs ?? 1000);
    this.#poll.unref();
  }

  #pidfile(name: string): string {
    return join(this.#o.runDir, `${name}.pid`);
  }

  /**
   * Pidfiles left by an earlier CPE: adopt the DPEs that still run, drop the
   * rest. Then the DPEs it started but had no time to write down: adopt one
   * per name where none is, and stop any second one.
   */
  #adopt(): void {
    for (const file of readdirSync(this.#o.runDir)) {
      if (!file.endsWith('.pid')) continue;
      const name = file.slice(0, -4);
      // An unreadable pidfile is treated as stale.
      const running = runningFromPidfile(join(this.#o.runDir, file));
      if (running && cmdlineHasName(running.pid, name)) {
        this.#tracked.set(name, { ...running, state: 'active' });
        this.#o.log.info('adopted a running DPE', { deployable: name, pid: running.pid });
        continue;
      }
      rmSync(join(this.#o.runDir, file), { force: true });
    }
    for (const [name, pids] of dpesStartedFrom(this.#o.runDir)) {
      for (const pid of pids) {
        const tracked = this.#tracked.get(name);
        if (tracked?.pid === pid) continue;
        const startTime = processStartTime(pid);
        if (startTime === undefined) continue;
        if (tracked) {
          this.#o.log.warn('stopping a second DPE no pidfile named', { deployable: name, pid });
          signal(pid, 'SIGTERM');
          continue;
        }
        this.#tracked.set(name, { pid, startTime, state: 'active' });
        writeFileSync(this.#pidfile(name), JSON.stringify({ pid, startTime }), { mode: 0o640 });
        this.#o.log.warn('adopted a running DPE no pidfile named (its CPE died starting it)', {
          deployable: name,
          pid,
        });
      }
    }
  }

  #checkAdopted(): void {
    for (const [name, t] of this.#tracked) {
      if (t.child || processStartTime(t.pid) === t.startTime) continue;
      this.#exited(name, t, 'exited (not our child: status unknown)');
    }
  }

  #rotateLogs(): void {
    const max = this.#o.logMaxBytes ?? 10 * 1024 * 1024;
    for (const name of this.#tracked.keys()) {
      const file = join(this.#o.runDir, `${name}.log`);
      try {
        if (statSync(file).size <= max) continue;
        copyFileSync(file, `${file}.1`);
        truncateSync(file, 0); // lines written between the copy and this are lost, as with logrotate's copytruncate
      } catch (err) {
        this.#o.log.warn('cannot rotate a DPE log', {
          deployable: name,
          error: (err as Error).message,
        });
      }
    }
  }

  #exited(name: string, t: Tracked, detail: string): void {
    if (this.#tracked.get(name) !== t) return;
    this.#tracked.delete(name);
    rmSync(this.#pidfile(name), { force: true });
    const state: DpeState = t.state === 'deactivating' ? 'inactive' : 'failed';
    // Only failures are remembered: inactive is what an unknown name reads anyway.
    if (state === 'failed') this.#last.set(name, state);
    else this.#last.delete(name);
    this.#emit({ name, state, detail, pid: t.pid });
  }

  async start(name: string): Promise<void> {
    if (this.#tracked.has(name)) return;
    const [file, ...args] = this.#o.command;
    if (!file) throw new CpeError('SUPERVISOR_FAILED', 'no DPE command configured');
    const env = deferExtraCa({
      ...this.#o.env,
      ...this.#o.prepare?.(name),
      [RUN_DIR_ENV]: this.#o.runDir,
      ...(this.#o.boundToCpe ? { [DPE_BOUND_TO_ENV]: String(process.pid) } : {}),
    });
    const logFd = openSync(join(this.#o.runDir, `${name}.log`), 'a', 0o640);
    let child: ChildProcess;
    try {
      child = spawn(file, [...args, '--name', name], {
        detached: true, // its own session: it outlives a CPE restart
        stdio: ['ignore', logFd, logFd],
        env,
      });
    } finally {
      closeSync(logFd);
    }
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) =>
        reject(
          new CpeError('SUPERVISOR_FAILED', `cannot start the DPE of ${name}: ${err.message}`),
        ),
      );
    });
    child.unref();
    if (this.#o.niceness) {
      try {
        setPriority(pid, this.#o.niceness);
      } catch (err) {
        this.#o.log.warn("cannot lower the DPE's priority", {
          deployable: name,
          error: errorMessage(err),
        });
      }
    }
    const t: Tracked = { pid, startTime: processStartTime(pid) ?? '', child, state: 'active' };
    this.#tracked.set(name, t);
    writeFileSync(this.#pidfile(name), JSON.stringify({ pid, startTime: t.startTime }), {
      mode: 0o640,
    });
    child.once('exit', (code, signal) =>
      this.#exited(name, t, signal ? `signal ${signal.replace(/^SIG/, '')}` : `exit-code ${code}`),
    );
    this.#last.set(name, 'active');
    this.#emit({ name, state: 'active', pid });
  }

  async stop(name: string): Promise<void> {
    const t = this.#tracked.get(name);
    if (!t) return;
    t.state = 'deactivating';
    // Our child says when it is gone (after #exited, whose listener came first);
    // an adopted DPE is not our child, so its end is polled for.
    const child = t.child;
    const gone = child
      ? new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        })
      : new Promise<void>((resolve) => {
          const check = setInterval(() => {
            this.#checkAdopted();
            if (this.#tracked.get(name) !== t) {
              clearInterval(check);
              resolve();
            }
          }, 25);
        });
    signal(t.pid, 'SIGTERM');
    const timer = setTimeout(() => signal(t.pid, 'SIGKILL'), this.#o.stopTimeoutMs ?? 10_000);
    await gone;
    clearTimeout(timer);
  }

  reload(name: string): Promise<void> {
    const t = this.#tracked.get(name);
    if (t) signal(t.pid, 'SIGHUP');
    return Promise.resolve();
  }

  state(name: string): DpeState {
    return this.#tracked.get(name)?.state ?? this.#last.get(name) ?? 'inactive';
  }

  pid(name: string): number | undefined {
    return this.#tracked.get(name)?.pid;
  }

  running(): Promise<string[]> {
    return Promise.resolve([...this.#tracked.keys()]);
  }

  onChange(listener: (change: DpeChange) => void): void {
    this.#listeners.push(listener);
  }

  close(): Promise<void> {
    clearInterval(this.#poll);
    // Our children stay; their exit would now go unnoticed, so forget the listeners.
    for (const t of this.#tracked.values()) t.child?.removeAllListeners('exit');
    this.#listeners.length = 0;
    return Promise.resolve();
  }

  #emit(change: DpeChange): void {
    for (const l of this.#listeners) l(change);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
