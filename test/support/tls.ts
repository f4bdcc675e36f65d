/** A self-signed certificate for a test's router, made with openssl (its own CA). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function selfSignedCert(
  dir: string,
  ip: string,
  dns?: string,
): { readonly cert: string; readonly key: string; readonly ca: string } {
  const cert = join(dir, 'router.crt');
  const key = join(dir, 'router.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      `/CN=${ip}`,
      '-addext',
      `subjectAltName=IP:${ip}${dns ? `,DNS:${dns}` : ''}`,
    ],
    { stdio: 'ignore' },
  );
  // Self-signed: the certificate is its own CA.
  return { cert, key, ca: cert };
}
