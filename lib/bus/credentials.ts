/**
 * The embedded router's credentials file: one `user:scrypt$N$r$p$salt$hash`
 * line per user (salt and hash in base64), `#` comments. Passwords are never
 * stored; `cpectl bus-password USER` prints a line.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CpeError } from '../errors.js';

interface Entry {
  readonly salt: Buffer;
  readonly hash: Buffer;
  readonly options: ScryptOptions;
}

const USER = /^[A-Za-z0-9._@-]{1,200}$/;
const PARAMS = { N: 16384, r: 8, p: 1 };
const KEY_BYTES = 32;

function derive(
  password: string,
  salt: Buffer,
  options: ScryptOptions,
  bytes: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, bytes, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function credentialLine(user: string, password: string): Promise<string> {
  if (!USER.test(user)) throw new CpeError('BAD_USER', `user names are 1-200 of [A-Za-z0-9._@-]`);
  if (password.length < 8)
    throw new CpeError('WEAK_PASSWORD', 'use a password of at least 8 characters');
  const salt = randomBytes(16);
  const hash = await derive(password, salt, PARAMS, KEY_BYTES);
  return `${user}:scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export class Credentials {
  readonly #entries = new Map<string, Entry>();
  /** Compared against when the user is unknown, so timing does not tell whether a user exists. */
  readonly #decoy: Entry = { salt: randomBytes(16), hash: randomBytes(KEY_BYTES), options: PARAMS };

  static fromFile(path: string): Credentials {
    const credentials = new Credentials();
    const lines = readFileSync(path, 'utf8').split('\n');
    for (const [i, raw] of lines.entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([^:]+):scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(
        line,
      );
      if (!m || !USER.test(m[1]!)) {
        throw new CpeError(
          'BAD_CREDENTIALS_FILE',
          `${path}:${i + 1}: expected user:scrypt$N$r$p$salt$hash (see cpectl bus-password)`,
        );
      }
      credentials.#entries.set(m[1]!, {
        options: { N: Number(m[2]), r: Number(m[3]), p: Number(m[4]) },
        salt: Buffer.from(m[5]!, 'base64'),
        hash: Buffer.from(m[6]!, 'base64'),
      });
    }
    if (credentials.#entries.size === 0)
      throw new CpeError('BAD_CREDENTIALS_FILE', `${path}: no users`);
    return credentials;
  }

  get size(): number {
    return this.#entries.size;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const entry = this.#entries.get(user);
    const { salt, hash, options } = entry ?? this.#decoy;
    const derived = await derive(password, salt, options, hash.length).catch(() => null);
    return entry !== undefined && derived !== null && timingSafeEqual(derived, hash);
  }
}

/**
 * The bus key: a random secret of the CPE from which each user's password is
 * derived (HMAC-SHA256 of the name), so that the CPE can give every DPE a
 * password of its own, and root can give one to an agent, with no password
 * file to keep in step. A derived password is worth what the key is: the key
 * stays readable by root alone.
 */
export class BusKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new CpeError('BAD_BUS_KEY', 'a bus key has at least 32 bytes');
    this.#key = key;
  }

  /** The password of `user` (43 characters of base64url). */
  password(user: string): string {
    if (!USER.test(user)) throw new CpeError('BAD_USER', `user names are 1-200 of [A-Za-z0-9._@-]`);
    return createHmac('sha256', this.#key).update(`cpe-bus-user:${user}`).digest('base64url');
  }

  verify(user: string, password: string): boolean {
    if (!USER.test(user)) return false;
    const expected = Buffer.from(this.password(user));
    const given = Buffer.from(password);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
