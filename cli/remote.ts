/**
 * How cpectl reaches a CPE: over the bus, with the same settings as the
 * daemons (defaults < /etc/cpe/cpe.json or --config < CPE_BUS_* < flags), so
 * that on the CPE's host it needs no options at all. A connection that is
 * refused fails at once; --timeout bounds the whole command.
 */
import { CPE_NODE, CPE_OBJECT } from '../lib/addresses.js';
import { busUrlProblem, redactUrl } from '../lib/bus/bus.js';
import { MethodClient, type CallTarget } from '../lib/bus/client.js';
import { CLIENT_USER } from '../lib/bus/identity.js';
import { clientPasswordFile } from '../lib/bus/secrets.js';
import { BusCode, RemoteError } from '../lib/bus/errors.js';
import type { QmfMap } from '../lib/bus/qmf.js';
import { NAME_PATTERN } from '../lib/config/index.js';
import { busFrom } from '../lib/daemon.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import {
  BUS_SETTINGS,
  loadSettings,
  SETTINGS_FILE,
  settingsHelp,
  SettingsError,
  STATE_DIR,
  type Settings,
} from '../lib/settings.js';
import { UsageError, type Command, type Io } from './command.js';

/** The bus settings that mean something to a command line (no log level: cpectl logs nothing). */
const CPECTL_BUS = {
  busUrl: BUS_SETTINGS.busUrl,
  busProfile: BUS_SETTINGS.busProfile,
  busCa: BUS_SETTINGS.busCa,
  busUser: BUS_SETTINGS.busUser,
  busPasswordFile: BUS_SETTINGS.busPasswordFile,
  stateDir: {
    ...STATE_DIR,
    help: "the CPE's state directory: cpectl's bus password is its credentials/client",
  },
};

export const REMOTE_HELP = `Reaching the CPE (flags win over the environment, which wins over the
settings file, --config FILE or CPE_CONFIG, default ${SETTINGS_FILE.default}):
${settingsHelp(CPECTL_BUS)}
  --timeout SECONDS
      how long the whole command may take (default 30)`;

export interface Remote {
  /** A method of the CPE (within `timeoutMs`, when given, as well as the command's time). */
  call(method: string, args?: QmfMap, timeoutMs?: number): Promise<QmfMap>;
  /** A method of another object on the bus (an agent's fault injector). */
  callAt(target: CallTarget, method: string, args?: QmfMap): Promise<QmfMap>;
  /** What is left of the command's --timeout, in ms. */
  leftMs(): number;
}

export interface RemoteOptions {
  readonly settings: Settings<typeof CPECTL_BUS>;
  readonly timeoutMs: number;
  /** The arguments that were not about reaching the CPE. */
  readonly rest: readonly string[];
}

/** Splits the bus settings (and --timeout) off a command's arguments. */
export function remoteOptions(args: readonly string[]): RemoteOptions {
  let loaded;
  try {
    loaded = loadSettings(CPECTL_BUS, args, process.env, SETTINGS_FILE);
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
  const problem = busUrlProblem(loaded.settings.busUrl);
  if (problem) throw new UsageError(`--bus-url: ${problem}`);
  const rest = [...loaded.rest];
  let timeoutMs = 30_000;
  const at = rest.indexOf('--timeout');
  if (at >= 0) {
    const seconds = Number(rest[at + 1]);
    if (!(seconds > 0)) throw new UsageError('--timeout needs a number of seconds');
    timeoutMs = seconds * 1000;
    rest.splice(at, 2);
  }
  return { settings: loaded.settings, timeoutMs, rest };
}

/** A deployable's or assembly's name, checked here: a typo needs no CPE to be told. */
export function checkedName(value: string, what = 'deployable'): string {
  if (!NAME_PATTERN.test(value))
    throw new UsageError(
      `"${value}" is not a ${what} name: 1 to 64 letters, digits, ".", "_" or "-", not starting with "." or "-"`,
    );
  return value;
}

/** The CPE's method names as the commands that call them (its messages name the methods). */
function inCommandWords(text: string): string {
  return text.replace(
    /\bdeployable_(create|update|destroy|list|status|start|stop)\b/g,
    (_, verb: string) => `cpectl ${verb}`,
  );
}

/** What to try when the bus cannot be reached: start the CPE, or log in (the router wants a user). */
function unreachableHint(error: string, user: string | undefined, clientFile: string): string {
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT/.test(error) || error.startsWith('no answer'))
    return 'is the CPE running, and --bus-url right?';
  if (user === undefined)
    return `the bus wants a user: cpectl logs in with ${clientFile}, which root and the group "cpe" can read; or give --bus-user and --bus-password-file`;
  if (/authenticate/i.test(error)) return `the bus refused ${user}'s password`;
  return 'is the CPE running, and --bus-url right?';
}

/** Connects, runs `work`, disconnects; returns what `work` returns. */
export async function withCpe<T>(
  { settings, timeoutMs }: RemoteOptions,
  work: (remote: Remote) => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // An unbounded command (events --follow) still gives timers a number they can take.
  const left = (): number => Math.min(deadline - Date.now(), 2 ** 31 - 1);
  const where = `${redactUrl(settings.busUrl)} (profile ${settings.busProfile})`;
  const log = silentLogger();
  const clientFile = clientPasswordFile(settings.stateDir);
  const bus = busFrom(settings, 'cpectl', log, { user: CLIENT_USER, files: [clientFile] });
  const client = new MethodClient(bus, {
    name: 'cpectl',
    logger: log,
    defaultTimeoutMs: timeoutMs,
  });
  const call = async (
    target: CallTarget,
    method: string,
    args: QmfMap,
    within = Infinity,
  ): Promise<QmfMap> => {
    if (left() <= 0) throw timedOut(timeoutMs);
    try {
      return await client.call(target, method, args, Math.min(left(), within));
    } catch (err) {
      throw explain(err, target, Math.min(timeoutMs, within));
    }
  };
  const timedOut = (ms: number): CpeError =>
    new CpeError(
      BusCode.callTimeout,
      `no answer within ${ms / 1000} s from the CPE on ${where}: is the CPE running, and is this its bus? (a broker needs the CPE's --bus-profile: rabbitmq, artemis or plain)`,
    );
  const explain = (err: unknown, target: CallTarget, ms: number): unknown => {
    if (err instanceof RemoteError)
      return new CpeError(err.code, inCommandWords(err.message), { cause: err });
    if (!(err instanceof CpeError)) return err;
    if (err.code === BusCode.callTimeout) return timedOut(ms);
    if (err.code === BusCode.noRoute)
      return new CpeError(
        err.code,
        `nobody serves ${target.address} on ${where}: ${target.address === CPE_NODE ? 'is the CPE running, and is this its bus?' : 'is it running?'}`,
      );
    return err;
  };
  try {
    try {
      await bus.whenUp(Math.max(1, left()), { failFast: true });
    } catch (err) {
      throw new CpeError(
        BusCode.unreachable,
        `cannot reach the bus at ${redactUrl(settings.busUrl)}: ${errorMessage(err) || 'closed at once'} (${unreachableHint(errorMessage(err), bus.user, clientFile)})`,
      );
    }
    return await work({
      call: (method, a = {}, within) =>
        call({ address: CPE_NODE, object: CPE_OBJECT }, method, a, within),
      callAt: (target, method, a = {}) => call(target, method, a),
      leftMs: left,
    });
  } finally {
    client.close();
    await bus.close();
  }
}

/** What a remote command does once its arguments are checked: the call, or an exit status. */
type Prepared = ((remote: Remote) => Promise<number>) | number;

/**
 * A command that talks to the CPE. `prepare` checks its own arguments (and
 * a config) before anything connects, so a typo needs no CPE to be told.
 */
export function remoteCommand(
  name: string,
  summary: string,
  usage: string,
  prepare: (args: readonly string[], io: Io) => Prepared | Promise<Prepared>,
  /** The command's own time limit when --timeout is not given (events --follow: none). */
  defaultTimeoutMs?: (args: readonly string[]) => number | undefined,
): Command {
  return {
    name,
    summary,
    usage: `${usage}\n\n${REMOTE_HELP}`,
    async run(args, io) {
      let options = remoteOptions(args);
      const own = args.includes('--timeout') ? undefined : defaultTimeoutMs?.(args);
      if (own !== undefined) options = { ...options, timeoutMs: own };
      const action = await prepare(options.rest, io);
      return typeof action === 'number' ? action : withCpe(options, action);
    },
  };
}
