/**
 * Daemon settings in layers, each overriding the one before: built-in
 * defaults, a JSON settings file, environment variables, command-line flags.
 * One table per daemon declares every setting once: its flag, its variable,
 * its type, its default and one line of help, so `--help` and the parser
 * can never disagree.
 */
import { readFileSync } from 'node:fs';
import { CpeError } from './errors.js';
import { PROFILE_NAMES } from './bus/addressing.js';

export type SettingType = 'string' | 'integer' | 'boolean';

export interface SettingSpec {
  /** Dotted key in the settings file, e.g. "bus.url". */
  readonly key: string;
  readonly type: SettingType;
  readonly default: string | number | boolean | undefined;
  readonly help: string;
  /** Accepted values, for strings. */
  readonly oneOf?: readonly string[];
  /** Overrides the flag derived from the key. */
  readonly flag?: string;
  /** Overrides the environment variable derived from the key. */
  readonly env?: string;
}

export type SettingsTable = Readonly<Record<string, SettingSpec>>;
export type Settings<T extends SettingsTable> = {
  -readonly [K in keyof T]: T[K]['type'] extends 'integer'
    ? number
    : T[K]['type'] extends 'boolean'
      ? boolean
      : string;
};

export class SettingsError extends CpeError {
  override name = 'SettingsError';

  constructor(message: string) {
    super('BAD_SETTING', message);
  }
}

/** "bus.url" → "--bus-url" */
export function flagOf(spec: SettingSpec): string {
  if (spec.flag) return spec.flag;
  return `--${spec.key.replace(/[.]/g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** "bus.url" → "CPE_BUS_URL" */
export function envOf(spec: SettingSpec): string {
  if (spec.env) return spec.env;
  return `CPE_${spec.key
    .replace(/[.]/g, '_')
    .replace(/[A-Z]/g, (c) => `_${c}`)
    .toUpperCase()}`;
}

function convert(spec: SettingSpec, raw: unknown, where: string): string | number | boolean {
  if (spec.type === 'integer') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < 0)
      throw new SettingsError(
        `${where}: ${spec.key} must be a whole number ≥ 0, not ${String(raw)}`,
      );
    return n;
  }
  if (spec.type === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1' || raw === 'yes') return true;
    if (raw === 'false' || raw === '0' || raw === 'no') return false;
    throw new SettingsError(`${where}: ${spec.key} must be true or false, not ${String(raw)}`);
  }
  if (typeof raw !== 'string' && typeof raw !== 'number')
    throw new SettingsError(`${where}: ${spec.key} must be a string`);
  const value = String(raw);
  if (spec.oneOf && !spec.oneOf.includes(value))
    throw new SettingsError(
      `${where}: ${spec.key} must be one of ${spec.oneOf.join(', ')}, not ${value}`,
    );
  return value;
}

function lookup(tree: unknown, key: string): unknown {
  let node = tree;
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

export interface LoadedSettings<T extends SettingsTable> {
  readonly settings: Settings<T>;
  /** Flags that are not settings (e.g. --help), and positionals. */
  readonly rest: readonly string[];
  readonly file: string | undefined;
}

/**
 * Reads the layers. `fileSetting` names the setting holding the file's path
 * (itself taken from flags or environment only); a missing default file is
 * fine, a missing file asked for by name is an error.
 */
export function loadSettings<T extends SettingsTable>(
  table: T,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  fileSetting: { readonly flag: string; readonly env: string; readonly default: string },
): LoadedSettings<T> {
  const specs = Object.entries(table);
  const byFlag = new Map(specs.map(([name, spec]) => [flagOf(spec), [name, spec] as const]));
  const flags = new Map<string, string>();
  const rest: string[] = [];
  let fileArg: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const known = byFlag.get(flag);
    if (known?.[1].type === 'boolean' && inline === undefined) {
      // A bare on/off flag means on; an explicit value may follow it.
      const next = argv[i + 1];
      const explicit = next !== undefined && /^(true|false|yes|no|1|0)$/.test(next);
      flags.set(known[0], explicit ? next : 'true');
      if (explicit) i += 1;
    } else if (flag === fileSetting.flag || known) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new SettingsError(`${flag} needs a value`);
      if (flag === fileSetting.flag) fileArg = value;
      else flags.set(known![0], value);
    } else if (
      known === undefined &&
      flag.startsWith('--no-') &&
      byFlag.has(`--${flag.slice(5)}`)
    ) {
      const [name, spec] = byFlag.get(`--${flag.slice(5)}`)!;
      if (spec.type !== 'boolean') throw new SettingsError(`${flag}: ${spec.key} is not on/off`);
      flags.set(name, 'false');
    } else rest.push(arg);
  }
  const named = fileArg ?? env[fileSetting.env];
  const path = named ?? fileSetting.default;
  let tree: unknown = {};
  let file: string | undefined;
  try {
    tree = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    file = path;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || named !== undefined)
      throw new SettingsError(
        `settings file ${path}: ${err instanceof SyntaxError ? `not JSON: ${err.message}` : (code ?? String(err))}`,
      );
  }
  const settings: Record<string, string | number | boolean | undefined> = {};
  for (const [name, spec] of specs) {
    let value = spec.default;
    const fromFile = lookup(tree, spec.key);
    if (fromFile !== undefined) value = convert(spec, fromFile, file ?? path);
    const fromEnv = env[envOf(spec)];
    if (fromEnv !== undefined && fromEnv !== '') value = convert(spec, fromEnv, envOf(spec));
    const fromFlag = flags.get(name);
    if (fromFlag !== undefined) value = convert(spec, fromFlag, flagOf(spec));
    settings[name] = value;
  }
  return { settings: settings as Settings<T>, rest, file };
}

/** The --help table: flag, variable, default, help. */
export function settingsHelp(table: SettingsTable): string {
  return Object.values(table)
    .map((spec) => {
      const value = spec.type === 'boolean' ? '' : ` ${spec.type === 'integer' ? 'N' : 'VALUE'}`;
      const def =
        spec.default === undefined || spec.default === ''
          ? ''
          : ` (default: ${String(spec.default)})`;
      const choices = spec.oneOf ? ` [${spec.oneOf.join('|')}]` : '';
      return `  ${flagOf(spec)}${value}\n      ${spec.help}${choices}${def}\n      file: ${spec.key}, environment: ${envOf(spec)}`;
    })
    .join('\n');
}

/** Where every daemon looks for its settings file, unless told otherwise. */
export const SETTINGS_FILE = { flag: '--config', env: 'CPE_CONFIG', default: '/etc/cpe/cpe.json' };

/** The bus settings every daemon shares (one file can serve them all). */
export const BUS_SETTINGS = {
  busUrl: {
    key: 'bus.url',
    type: 'string',
    default: 'amqp://127.0.0.1:5673',
    help: "the AMQP 1.0 bus: the CPE's embedded router, or a broker (amqps:// for TLS)",
  },
  busProfile: {
    key: 'bus.profile',
    type: 'string',
    default: 'embedded',
    oneOf: PROFILE_NAMES,
    help: 'how logical addresses are spelled for the bus (schemas/messages.md)',
  },
  busCa: { key: 'bus.ca', type: 'string', default: '', help: 'CA certificate file for amqps://' },
  busUser: {
    key: 'bus.user',
    type: 'string',
    default: '',
    help: "who to be on the bus when bus.url names no user (default: this program's own identity)",
  },
  busPasswordFile: {
    key: 'bus.passwordFile',
    type: 'string',
    default: '',
    help: 'a file holding the bus password (default: $CREDENTIALS_DIRECTORY/bus-password; for cpectl, STATE_DIR/credentials/client)',
  },
  logLevel: {
    key: 'log.level',
    type: 'string',
    default: 'info',
    oneOf: ['error', 'warn', 'info', 'debug'],
    help: 'log level (SIGHUP re-reads it)',
  },
} as const satisfies SettingsTable;

/** The CPE's state directory (cpectl reads its bus password there: credentials/client). */
export const STATE_DIR = {
  key: 'state.dir',
  type: 'string',
  default: '/var/lib/cpe',
  help: 'where deployables are stored (and, for process-supervised DPEs, their pidfiles and logs)',
} as const satisfies SettingSpec;

/** Where DPEs keep their state, NAME/ each (the CPE's process supervisor sets it for its DPEs). */
/**
 * Set by a CPE of a cluster on the DPEs it starts as processes: the CPE's
 * pid. Such a DPE exits when its CPE is gone, since another CPE takes the
 * deployable once the dead one's lease runs out (README, "Running a cluster").
 */
export const DPE_BOUND_TO_ENV = 'CPE_DPE_BOUND_TO';

export const DPE_STATE_ROOT = {
  key: 'dpe.stateRoot',
  type: 'string',
  default: '/var/lib/cpe/dpe',
  help: 'where the DPE keeps its saved PE inputs, in NAME/ (under systemd, $STATE_DIRECTORY instead)',
} as const satisfies SettingSpec;
