/**
 * sd_notify(3) for every daemon: READY=1 once serving, STATUS=…, WATCHDOG=1
 * at half of WATCHDOG_USEC, STOPPING=1, RELOADING=1. Datagrams go to
 * $NOTIFY_SOCKET through unix-dgram (Node has no AF_UNIX datagram socket,
 * and the npm systemd-notify package only spawns the binary, which cannot
 * keep a watchdog fed from our PID). Silent when NOTIFY_SOCKET is unset.
 */
import { getSystemErrorName } from 'node:util';
import { onFirstUse } from './lazy.js';
import type { Logger } from './log.js';

interface DgramSocket {
  on(event: 'error', listener: (err: Error & { errno?: number; syscall?: string }) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback?: () => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: 'unix_dgram'): DgramSocket;
}
/**
 * Loaded on the first notification: where no service manager listens (a DPE
 * of the process supervisor) neither the addon nor dgram is loaded.
 */
const unixDgram = onFirstUse<UnixDgram>('unix-dgram');

export class Notifier {
  readonly #socketPath: string | undefined;
  readonly #log: Logger;
  readonly #watchdogMs: number | undefined;
  #socket: DgramSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #health: () => string | null = () => null;
  #starving: string | null = null;

  constructor(log: Logger, env: NodeJS.ProcessEnv = process.env, pid = process.pid) {
    this.#log = log;
    const path = env.NOTIFY_SOCKET;
    if (path?.startsWith('@')) {
      // unix-dgram copies the path with strncpy: no abstract-namespace sockets.
      log.warn('NOTIFY_SOCKET is an abstract socket, which is not supported: not notifying', {
        socket: path,
      });
    } else if (path) this.#socketPath = path;
    const usec = Number(env.WATCHDOG_USEC);
    const forPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : pid;
    if (this.#socketPath && Number.isFinite(usec) && usec > 0 && forPid === pid)
      this.#watchdogMs = Math.max(1, Math.floor(usec / 2000));
  }

  /** Whether a service manager is listening. */
  get enabled(): boolean {
    return this.#socketPath !== undefined;
  }

  /** Half of WATCHDOG_USEC, when systemd asked for keep-alives. */
  get watchdogIntervalMs(): number | undefined {
    return this.#watchdogMs;
  }

  /**
   * What must hold for the watchdog to be fed: `check` answers null when all
   * is well, or why not. A timer alone proves only that the event loop
   * turns; a daemon whose bus or main loop is wedged must starve the
   * watchdog so that systemd restarts it.
   */
  watchHealth(check: () => string | null): void {
    this.#health = check;
  }

  ready(status?: string): void {
    this.send(status ? `READY=1\nSTATUS=${status}` : 'READY=1');
    this.#startWatchdog();
  }

  status(text: string): void {
    this.send(`STATUS=${text}`);
  }

  reloading(): void {
    this.send('RELOADING=1');
  }

  stopping(status?: string): void {
    this.#stopWatchdog();
    this.send(status ? `STOPPING=1\nSTATUS=${status}` : 'STOPPING=1');
  }

  send(state: string): void {
    const path = this.#socketPath;
    if (!path) return;
    if (!this.#socket) {
      this.#socket = unixDgram().createSocket('unix_dgram');
      // unix-dgram's errors say "send -2": name the errno.
      this.#socket.on('error', (err: Error & { errno?: number; syscall?: string }) =>
        this.#log.warn('sd_notify failed', {
          socket: path,
          error:
            typeof err.errno === 'number' && err.errno < 0
              ? `${err.syscall ?? 'send'}: ${getSystemErrorName(err.errno)}`
              : err.message,
        }),
      );
    }
    const buf = Buffer.from(state, 'utf8');
    this.#socket.send(buf, 0, buf.length, path);
  }

  close(): void {
    this.#stopWatchdog();
    this.#socket?.close();
    this.#socket = undefined;
  }

  #startWatchdog(): void {
    if (this.#watchdogMs === undefined || this.#timer) return;
    this.#timer = setInterval(() => this.#feed(), this.#watchdogMs);
    this.#timer.unref();
  }

  #feed(): void {
    const problem = this.#health();
    if (problem !== this.#starving) {
      if (problem)
        this.#log.error('not feeding the watchdog: systemd will restart us', { problem });
      else this.#log.info('feeding the watchdog again');
      this.#starving = problem;
    }
    if (problem === null) this.send('WATCHDOG=1');
  }

  #stopWatchdog(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
