/**
 * How cpectl reaches a CPE: over the bus, with the same settings as the
 * daemons (defaults < /etc/cpe/cpe.json or --config < CPE_BUS_* < flags), so
 * that on the CPE's host it needs no options at all.
 */
import { CPE_NODE, CPE_OBJECT } from '../lib/addresses.js';
import type { QmfMap } from '../lib/bus/qmf.js';
import { MethodClient, type CallTarget } from '../lib/bus/client.js';
import { busFrom } from '../lib/daemon.js';
import { CpeError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import {
  BUS_SETTINGS,
  loadSettings,
  SETTINGS_FILE,
  settingsHelp,
  SettingsError,
  type Settings,
} from '../lib/settings.js';
import { UsageError } from './command.js';

const CONNECT_TIMEOUT_MS = 10_000;

export const REMOTE_HELP = `Reaching the CPE (as its daemons do; flags win over the environment,
which wins over the settings file, --config FILE or CPE_CONFIG, default ${SETTINGS_FILE.default}):
${settingsHelp(BUS_SETTINGS)}
  --timeout SECONDS
      how long to wait for the CPE (default 30)`;

export interface Remote {
  /** A method of the CPE. */
  call(method: string, args?: QmfMap): Promise<QmfMap>;
  /** A method of another object on the bus (an agent's fault injector). */
  callAt(target: CallTarget, method: string, args?: QmfMap): Promise<QmfMap>;
}

export interface RemoteOptions {
  readonly settings: Settings<typeof BUS_SETTINGS>;
  readonly timeoutMs: number;
  /** The arguments that were not about reaching the CPE. */
  readonly rest: readonly string[];
}

/** Splits the bus settings (and --timeout) off a command's arguments. */
export function remoteOptions(args: readonly string[]): RemoteOptions {
  let loaded;
  try {
    loaded = loadSettings(BUS_SETTINGS, args, process.env, SETTINGS_FILE);
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(err.message);
    throw err;
  }
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

/** Connects, runs `work`, disconnects; returns what `work` returns. */
export async function withCpe<T>(
  { settings, timeoutMs }: RemoteOptions,
  work: (remote: Remote) => Promise<T>,
): Promise<T> {
  const log = silentLogger();
  const bus = busFrom(settings, 'cpectl', log);
  const client = new MethodClient(bus, {
    name: 'cpectl',
    logger: log,
    defaultTimeoutMs: timeoutMs,
  });
  try {
    try {
      await bus.whenUp(Math.min(timeoutMs, CONNECT_TIMEOUT_MS));
    } catch {
      throw new CpeError(
        'BUS_UNREACHABLE',
        `cannot reach the bus at ${settings.busUrl} (is the CPE running?)`,
      );
    }
    return await work({
      call: (method, a = {}) => client.call({ address: CPE_NODE, object: CPE_OBJECT }, method, a),
      callAt: (target, method, a = {}) => client.call(target, method, a),
    });
  } finally {
    client.close();
    await bus.close();
  }
}
