import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { DEFERRED_EXTRA_CA_ENV, deferExtraCa, deferredCa } from '../../../lib/bus/extra-ca.js';
import { silentLogger, type Logger } from '../../../lib/log.js';

/** A logger that keeps its warnings. */
function warnings(): { log: Logger; seen: string[] } {
  const seen: string[] = [];
  const log: Logger = {
    ...silentLogger(),
    warn: (message, meta) => seen.push(`${message} ${JSON.stringify(meta)}`),
  };
  return { log, seen };
}

describe('NODE_EXTRA_CA_CERTS deferred to the bus (lib/bus/extra-ca.ts)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'extra-ca-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("moves it to the deferred variable in a DPE's environment, and leaves the rest", () => {
    const env = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/ca.pem' };
    const deferred = deferExtraCa(env);
    assert.deepEqual(deferred, { PATH: '/bin', [DEFERRED_EXTRA_CA_ENV]: '/etc/ca.pem' });
    assert.equal(env.NODE_EXTRA_CA_CERTS, '/etc/ca.pem', 'the given environment is not changed');
    const without = { PATH: '/bin' };
    assert.equal(deferExtraCa(without), without);
    // Node's default store is OpenSSL's then: the roots deferredCa adds would not be it.
    const openssl = { NODE_OPTIONS: '--use-openssl-ca', NODE_EXTRA_CA_CERTS: '/etc/ca.pem' };
    assert.equal(deferExtraCa(openssl), openssl);
  });

  it("adds the file's certificates to Node's roots, as Node would", () => {
    const file = join(dir, 'extra.pem');
    writeFileSync(file, 'PEM');
    const { log, seen } = warnings();
    const ca = deferredCa(log, { [DEFERRED_EXTRA_CA_ENV]: file });
    assert.ok(ca);
    assert.equal(ca.length, tls.rootCertificates.length + 1);
    assert.equal(String(ca.at(-1)), 'PEM');
    assert.deepEqual(seen, []);
  });

  it("is Node's default (undefined) when nothing was deferred", () => {
    assert.equal(deferredCa(silentLogger(), {}), undefined);
    assert.equal(deferredCa(silentLogger(), { [DEFERRED_EXTRA_CA_ENV]: '' }), undefined);
  });

  it('warns about a file it cannot read and trusts the roots alone', () => {
    const { log, seen } = warnings();
    const missing = join(dir, 'missing.pem');
    assert.equal(deferredCa(log, { [DEFERRED_EXTRA_CA_ENV]: missing }), undefined);
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /ignoring extra CA certificates/);
    assert.match(seen[0]!, /missing\.pem/);
  });
});
