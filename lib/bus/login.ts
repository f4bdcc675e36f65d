/**
 * Who a program is on the bus, and with what password:
 *
 * 1. the URL's user, when it names one;
 * 2. the program's own identity, with the password its service manager gave
 *    it in $CREDENTIALS_DIRECTORY/bus-password (systemd's LoadCredential=, or
 *    the CPE for a DPE it runs as a child): this one is for it alone;
 * 3. `bus.user` (or its identity) with the password in `bus.passwordFile`;
 * 4. the same user with the first of the program's usual files that it can
 *    read (cpectl: the CPE's credentials/client).
 */
import { join } from 'node:path';
import { readTokenFile } from '../files.js';
import { PASSWORD_CREDENTIAL } from './secrets.js';

export interface Login {
  readonly user: string;
  readonly password: string;
}

export interface LoginSettings {
  readonly busUrl: string;
  readonly busUser?: string;
  readonly busPasswordFile?: string;
}

/** $CREDENTIALS_DIRECTORY/bus-password, where systemd (or the CPE) put one. */
function credentialFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = env.CREDENTIALS_DIRECTORY;
  return dir ? [join(dir, PASSWORD_CREDENTIAL)] : [];
}

/**
 * The login to use, or undefined for the URL's own (a user in it, or none:
 * SASL ANONYMOUS). A password file named by a setting must be readable; the
 * others are skipped when absent or not this user's to read.
 */
export function busLogin(
  s: LoginSettings,
  identity: string,
  usualFiles: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Login | undefined {
  if (URL.parse(s.busUrl)?.username) return undefined;
  const own = readable(credentialFiles(env));
  if (own !== undefined) return { user: identity, password: own };
  const user = s.busUser || identity;
  if (s.busPasswordFile)
    return {
      user,
      password: readTokenFile(s.busPasswordFile, 'bus.passwordFile', 'BUS_PASSWORD_UNREADABLE'),
    };
  const usual = readable(usualFiles);
  return usual === undefined ? undefined : { user, password: usual };
}

/** The first line of the first of `files` that can be read and is not empty. */
function readable(files: readonly string[]): string | undefined {
  for (const file of files) {
    try {
      return readTokenFile(file, 'bus password');
    } catch {
      // absent, empty, or another user's: the next one, or none
    }
  }
  return undefined;
}
