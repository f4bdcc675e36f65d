/**
 * Runs a program as the daemons run every outside command: never through a
 * shell, with an environment built by the caller (not inherited), in its
 * own process group, and past its time limit the whole group is killed —
 * a resource agent's or recovery script's children die with it.
 */
import type * as ChildProcess from 'node:child_process';
import { errorMessage } from './errors.js';
import { onFirstUse } from './lazy.js';

export interface RunOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** Output kept per stream (the rest is read and dropped). */
  readonly maxOutput?: number;
  readonly cwd?: string;
}

export interface RunResult {
  /** The exit code; null when killed by a signal, timed out or not started. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** Why it could not be started (ENOENT, EACCES, …). */
  readonly spawnError: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

// Most DPEs never run a program (only to fence), and child_process (with
// dgram, which it loads) was ~0.4 MB of each.
const childProcess = onFirstUse<typeof ChildProcess>('node:child_process');

/** After the program exits, how long its output may still arrive (a daemon it left may hold the pipes). */
const DRAIN_MS = 200;

export function runProgram(
  file: string,
  args: readonly string[],
  o: RunOptions,
): Promise<RunResult> {
  const { spawn } = childProcess();
  const max = o.maxOutput ?? 4096;
  return new Promise((resolve) => {
    const out = { stdout: '', stderr: '' };
    let timedOut = false;
    let settled = false;
    const child = spawn(file, args, {
      shell: false,
      detached: true, // a process group of its own, killed whole at the timeout
      stdio: ['ignore', 'pipe', 'pipe'],
      env: o.env,
      ...(o.cwd ? { cwd: o.cwd } : {}),
    });
    const keep = (key: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (out[key].length < max) out[key] = (out[key] + chunk.toString('utf8')).slice(0, max);
    };
    child.stdout.on('data', keep('stdout'));
    child.stderr.on('data', keep('stderr'));
    const finish = (r: Omit<RunResult, 'stdout' | 'stderr' | 'timedOut'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ ...r, timedOut, ...out });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, () => child.kill('SIGKILL'));
    }, o.timeoutMs);
    child.once('error', (err) =>
      finish({ code: null, signal: null, spawnError: errorMessage(err) }),
    );
    child.once('exit', (code, signal) => {
      const done = (): void => finish({ code, signal, spawnError: null });
      child.once('close', done);
      setTimeout(done, DRAIN_MS).unref();
    });
  });
}

function killGroup(pid: number | undefined, fallback: () => void): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    fallback();
  }
}

/** The last non-empty line of some output, for one-line answers. */
export function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  );
}
