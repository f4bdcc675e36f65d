/**
 * The CPE's bus credentials on disk, in STATE_DIR/credentials:
 *
 *   bus.key              the key every password is derived from (root only)
 *   client               the password of user "client", for cpectl and other
 *                        clients (root, and the group "cpe" where there is one)
 *   dpe.NAME/bus-password  the DPE of NAME's (root only; systemd hands it to
 *                        the unit with LoadCredential=, the process
 *                        supervisor through $CREDENTIALS_DIRECTORY)
 *
 * Other local users can read none of them, and so cannot use the bus.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CpeError } from '../errors.js';
import { fileMessage, replaceFile } from '../files.js';
import { BusKey } from './credentials.js';
import { CLIENT_USER } from './identity.js';

/** The file name a daemon finds its password under, in $CREDENTIALS_DIRECTORY. */
export const PASSWORD_CREDENTIAL = 'bus-password';
/** The group whose members may use cpectl on this host (when it exists). */
export const OPERATORS_GROUP = 'cpe';

export function credentialsDir(stateDir: string): string {
  return join(stateDir, 'credentials');
}

export function clientPasswordFile(stateDir: string): string {
  return join(credentialsDir(stateDir), CLIENT_USER);
}

export function dpeCredentialsDir(stateDir: string, name: string): string {
  return join(credentialsDir(stateDir), `dpe.${name}`);
}

function keyFile(stateDir: string): string {
  return join(credentialsDir(stateDir), 'bus.key');
}

/** The group id of `cpe`, from /etc/group; undefined when there is no such group. */
export function operatorsGid(groupFile = '/etc/group'): number | undefined {
  try {
    for (const line of readFileSync(groupFile, 'utf8').split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === OPERATORS_GROUP && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
    }
  } catch {
    // no group file: no group
  }
  return undefined;
}

/** The key, read from the state directory (cpectl bus-credentials, run as root). */
export function readBusKey(stateDir: string): BusKey {
  const file = keyFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CpeError(
      'BUS_KEY_UNREADABLE',
      `${fileMessage(file, err)} (the CPE makes it at its first start; it is root's only)`,
      { cause: err },
    );
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length < 32)
    throw new CpeError(
      'BAD_BUS_KEY',
      `${file} does not hold a bus key; remove it and restart the CPE to make a new one (every derived password changes)`,
    );
  return new BusKey(key);
}

function createKey(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  try {
    writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `file` with `text` unless it holds it already; then sets its mode
 * and group. Not durably: these passwords follow from the key, and are
 * checked and rewritten before every use (a DPE's, before each start), so a
 * crash that loses a write loses nothing (a create blocked ~6 ms on fsyncs).
 */
function keep(file: string, text: string, mode: number, gid: number | undefined): void {
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== text) replaceFile(file, text, mode);
  chmodSync(file, mode);
  if (gid !== undefined) chownSync(file, 0, gid);
}

export class BusSecrets {
  private constructor(
    readonly stateDir: string,
    readonly key: BusKey,
  ) {}

  /** Makes the key at the first start; (re)writes the client's password; lets group cpe in. */
  static open(stateDir: string): BusSecrets {
    const dir = credentialsDir(stateDir);
    const gid = process.getuid?.() === 0 ? operatorsGid() : undefined;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      chmodSync(dir, 0o750);
      createKey(keyFile(stateDir));
      chmodSync(keyFile(stateDir), 0o600);
      const key = readBusKey(stateDir);
      keep(clientPasswordFile(stateDir), `${key.password(CLIENT_USER)}\n`, 0o640, gid);
      if (gid !== undefined) {
        // The group may pass through the state directory to its own file, and no further.
        chownSync(dir, 0, gid);
        chownSync(stateDir, 0, gid);
        chmodSync(stateDir, statSync(stateDir).mode | 0o010);
      }
      return new BusSecrets(stateDir, key);
    } catch (err) {
      if (err instanceof CpeError) throw err;
      throw new CpeError('BUS_KEY_UNREADABLE', `bus credentials: ${fileMessage(dir, err)}`, {
        cause: err,
      });
    }
  }

  /** Writes the password of the DPE of `name`; returns its directory (its $CREDENTIALS_DIRECTORY). */
  writeDpe(name: string): string {
    const dir = dpeCredentialsDir(this.stateDir, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    keep(join(dir, PASSWORD_CREDENTIAL), `${this.key.password(`dpe.${name}`)}\n`, 0o600, undefined);
    return dir;
  }
}
