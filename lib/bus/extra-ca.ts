/**
 * NODE_EXTRA_CA_CERTS, read when it is needed. Node 20 reads and parses the
 * file it names on every start, before any code runs, whether or not the
 * process ever opens a TLS connection: on a host whose environment sets it
 * to the system bundle (144 certificates), that was ~90 ms of CPU and
 * ~1.8 MB of every process. A DPE needs a CA only to reach an amqps:// bus,
 * so the process supervisor hands it the file under DEFERRED_EXTRA_CA_ENV
 * instead, and the bus adds those certificates to Node's own roots when it
 * connects over TLS without bus.ca: what Node does with NODE_EXTRA_CA_CERTS.
 * (Under systemd a DPE has its unit's environment, without either.)
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export const DEFERRED_EXTRA_CA_ENV = 'CPE_DEFERRED_EXTRA_CA_CERTS';

/**
 * The environment for a DPE: NODE_EXTRA_CA_CERTS moved to DEFERRED_EXTRA_CA_ENV.
 * Not under --use-openssl-ca: Node's default store is then OpenSSL's, which
 * tls.rootCertificates (Node's own) would not stand for.
 */
export function deferExtraCa(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (file === undefined || /--use-openssl-ca\b/.test(env.NODE_OPTIONS ?? '')) return env;
  const deferred: NodeJS.ProcessEnv = { ...env, [DEFERRED_EXTRA_CA_ENV]: file };
  delete deferred.NODE_EXTRA_CA_CERTS;
  return deferred;
}

/**
 * The CAs a TLS connection without its own trusts: Node's roots and the
 * deferred file's certificates, or undefined (Node's default) when none was
 * deferred. A file that cannot be read is warned about and left out, as
 * Node does with NODE_EXTRA_CA_CERTS.
 */
export function deferredCa(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): (string | Buffer)[] | undefined {
  const file = env[DEFERRED_EXTRA_CA_ENV];
  if (!file) return undefined;
  try {
    return [...tls.rootCertificates, readFileSync(file)];
  } catch (err) {
    log.warn('ignoring extra CA certificates', {
      variable: DEFERRED_EXTRA_CA_ENV,
      file,
      error: errorMessage(err),
    });
    return undefined;
  }
}
