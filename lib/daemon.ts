/**
 * What every daemon's main.ts shares: settings from file + environment +
 * flags (with --help), the logger, sd_notify, and signals — SIGTERM/SIGINT
 * stop gracefully (a second one exits at once), SIGHUP re-reads settings.
 */
import { Bus, busUrlProblem } from './bus/bus.js';
import type { ProfileName } from './bus/addressing.js';
import { busLogin, type Login } from './bus/login.js';
import { errorMessage } from './errors.js';
import { createLogger, type Logger, type LogLevel } from './log.js';
import { Notifier } from './notify.js';
import { packageVersion } from './paths.js';
import {
  type BUS_SETTINGS,
  loadSettings,
  SETTINGS_FILE,
  settingsHelp,
  type Settings,
  type SettingsTable,
} from './settings.js';

export interface DaemonContext<T extends SettingsTable> {
  readonly settings: Settings<T>;
  readonly rest: readonly string[];
  readonly log: Logger;
  readonly notifier: Notifier;
}

export interface DaemonHooks {
  stop(): Promise<void>;
  /** Called on SIGHUP with freshly read settings (already applied: the log level). */
  reload?(): Promise<void> | void;
}

/** Parses settings or prints help/errors and exits: 0 for --help, 2 for bad settings. */
export function daemonContext<T extends SettingsTable>(
  program: string,
  usage: string,
  table: T,
  argv = process.argv.slice(2),
): DaemonContext<T> {
  if (argv.includes('--version') || argv.includes('-V')) {
    process.stdout.write(`${program} ${packageVersion()}\n`);
    process.exit(0);
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `${usage}\n\nSettings (flag, then file key and environment variable; flags win over the\nenvironment, which wins over the file ${SETTINGS_FILE.default}, or --config FILE / $${SETTINGS_FILE.env}):\n${settingsHelp(table)}\n`,
    );
    process.exit(0);
  }
  let loaded;
  try {
    loaded = loadSettings(table, argv, process.env, SETTINGS_FILE);
  } catch (err) {
    process.stderr.write(`${program}: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  const settings = loaded.settings as Settings<T> & { logLevel?: string; busUrl?: string };
  const badUrl = settings.busUrl === undefined ? undefined : busUrlProblem(settings.busUrl);
  if (badUrl) {
    process.stderr.write(
      `${program}: --bus-url: ${badUrl}\n(${program} --help lists every setting)\n`,
    );
    process.exit(2);
  }
  const log = createLogger({ name: program, level: (settings.logLevel ?? 'info') as LogLevel });
  if (loaded.file) log.debug('settings read', { file: loaded.file });
  return { settings: loaded.settings, rest: loaded.rest, log, notifier: new Notifier(log) };
}

/**
 * What a setting names and cannot be used (a password file that cannot be
 * read) is a settings error: said in one line, exit 2, as a bad flag is.
 */
export function orSettingsError<T>(program: string, make: () => T): T {
  try {
    return make();
  } catch (err) {
    process.stderr.write(`${program}: ${errorMessage(err)}\n`);
    process.exit(2);
  }
}

/**
 * The program's bus. `identity` is who it is where the URL names no user
 * (schemas/messages.md, "Identities"), with its password from `login`, or
 * found as busLogin says.
 */
export function busFrom(
  settings: Pick<Settings<typeof BUS_SETTINGS>, 'busUrl' | 'busProfile' | 'busCa'> &
    Partial<Pick<Settings<typeof BUS_SETTINGS>, 'busUser' | 'busPasswordFile'>>,
  name: string,
  log: Logger,
  identity: {
    readonly user: string;
    readonly files?: readonly string[];
    readonly login?: Login;
  } = {
    user: name,
  },
): Bus {
  const login = identity.login ?? busLogin(settings, identity.user, identity.files ?? []);
  return new Bus({
    url: settings.busUrl,
    profile: settings.busProfile as ProfileName,
    name,
    logger: log,
    tls: settings.busCa ? { caFile: settings.busCa } : undefined,
    ...(login ? { username: login.user, password: login.password } : {}),
  });
}

/**
 * A failure while starting that a stop caused (SIGTERM closed the bus under
 * start) is no failure: wait for the stop to exit 0 instead of exiting 1.
 */
async function unlessStopping(signals: { stopping(): boolean }): Promise<void> {
  if (signals.stopping()) await new Promise(() => undefined);
}

/**
 * Runs a daemon's start: a failure is logged ("cannot start", as `explain`
 * words it) and exits 1, unless a stop caused it. Not a top-level await: the
 * built daemons are CommonJS bundles (lib/code-cache.ts).
 */
export function startDaemon(
  signals: { stopping(): boolean },
  log: Logger,
  start: () => Promise<void>,
  explain: (err: unknown) => string = errorMessage,
): void {
  start().catch(async (err: unknown) => {
    await unlessStopping(signals);
    log.error('cannot start', { error: explain(err) });
    process.exit(1);
  });
}

export function handleSignals<T extends SettingsTable>(
  program: string,
  table: T,
  ctx: DaemonContext<T>,
  hooks: DaemonHooks,
): { readonly stopping: () => boolean } {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      ctx.log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    ctx.log.info('stopping', { signal });
    ctx.notifier.stopping();
    hooks.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        ctx.log.error('stop failed', { error: errorMessage(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      const fresh = loadSettings(table, process.argv.slice(2), process.env, SETTINGS_FILE)
        .settings as Settings<T> & { logLevel?: string };
      if (fresh.logLevel) ctx.log.setLevel(fresh.logLevel as LogLevel);
      ctx.log.info('settings re-read (the log level applies now; the rest at restart)', {
        program,
      });
    } catch (err) {
      ctx.log.error('settings not re-read: keeping the old ones', { error: errorMessage(err) });
    }
    void Promise.resolve(hooks.reload?.()).catch((err: unknown) =>
      ctx.log.error('reload failed', { error: errorMessage(err) }),
    );
  });
  return { stopping: () => stopping };
}
