import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { credentialLine } from '../../lib/bus/credentials.js';
import { DEFERRED_EXTRA_CA_ENV } from '../../lib/bus/extra-ca.js';
import { CACHED_PROGRAMS } from '../../lib/code-cache.js';
import { CpeClient, CpeProcess, exampleAs } from '../support/cpe.js';
import { selfSignedCert } from '../support/tls.js';

const root = join(import.meta.dirname, '..', '..');
/**
 * The built JS maps back onto the same sources; its coverage would garble the
 * in-process figures. Node re-adds NODE_V8_COVERAGE to a child's environment
 * unless the key is there, so it is set empty (off).
 */
const env = { ...process.env, NODE_V8_COVERAGE: '' };

/** The README's promise: after the build that `npm ci` runs, `npx cpectl` works. */
describe('the cpectl command (built)', function () {
  this.timeout(120_000);

  before(() => {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', env });
  });

  it('validates the examples through npx, exit 0', () => {
    const r = spawnSync(
      'npx',
      [
        '--no-install',
        'cpectl',
        'validate',
        'examples/wordpress-original.xml',
        'examples/wordpress-ha.xml',
      ],
      {
        cwd: root,
        env,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'examples/wordpress-original.xml: ok\nexamples/wordpress-ha.xml: ok\n');
  });

  it('exits 1 with the errors for a bad config, and no stack trace', () => {
    const r = spawnSync(
      process.execPath,
      ['dist/cli/main.js', 'validate', 'test/lib/config/cases/refuse-billion-laughs.xml'],
      {
        cwd: root,
        env,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 1);
    assert.match(
      r.stdout,
      /refuse-billion-laughs\.xml:2: <!DOCTYPE> declarations are refused.*\[CONFIG_DOCTYPE\]\n$/,
    );
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /);
  });
});

describe('cpectl output to a closed pipe', function () {
  this.timeout(60_000);

  it('stops quietly when the reader goes away (cpectl show --json | head -1)', () => {
    // Megabytes of output: head is long gone before cpectl finishes writing.
    const assemblies = Array.from(
      { length: 3000 },
      (_, i) =>
        `<assembly name="a${i}" uuid="u${i}"><services><service name="s" class="lsb" type="t"/></services></assembly>`,
    ).join('');
    const file = join(mkdtempSync(join(tmpdir(), 'cpectl-')), 'big.xml');
    writeFileSync(
      file,
      `<deployable name="big" uuid="1"><assemblies>${assemblies}</assemblies></deployable>`,
    );
    const r = spawnSync(
      'bash',
      ['-c', `node --import tsx cli/main.ts show --json ${file} | head -1`],
      {
        cwd: root,
        env,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '{\n');
    assert.equal(r.stderr, '');
  });
});

describe('the dpe and cpe-agent commands (built)', function () {
  this.timeout(60_000);
  it('cpe-agent without who it is says what is missing, exit 2', () => {
    const agent = (...args: string[]) =>
      spawnSync(process.execPath, ['dist/agent/main.js', ...args], {
        cwd: root,
        env,
        encoding: 'utf8',
      });
    const none = agent();
    assert.equal(none.status, 2);
    assert.match(
      none.stderr,
      /--deployable NAME is required \(or --simulate for simulated assemblies\)/,
    );
    const noAssembly = agent('--deployable', 'web');
    assert.equal(noAssembly.status, 2);
    assert.match(noAssembly.stderr, /--assembly NAME is required/);
    const bad = agent('--deployable', 'web', '--assembly', '../etc');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--assembly: "\.\.\/etc" is not a name/);
  });

  it('cpe-agent refuses a list of services it cannot read, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-agent-bad-state-'));
    writeFileSync(join(dir, 'services.json'), 'not json');
    const r = spawnSync(
      process.execPath,
      ['dist/agent/main.js', '--deployable', 'web', '--assembly', 'a1', '--state-dir', dir],
      { cwd: root, env, encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /services\.json is not the agent's list of services .*move it aside/);
    rmSync(dir, { recursive: true });
  });

  it('refuses unknown arguments and bad names, exit 2', () => {
    const agent = spawnSync(process.execPath, ['dist/agent/main.js', '--simulate', '--bogus'], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    assert.equal(agent.status, 2);
    assert.match(agent.stderr, /unknown argument --bogus/);
    const dpe = spawnSync(process.execPath, ['dist/dpe/main.js', '--name', 'x', '--bogus'], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    assert.equal(dpe.status, 2);
    assert.match(dpe.stderr, /unknown argument --bogus/);
    const name = spawnSync(process.execPath, ['dist/dpe/main.js', '--name', '../etc'], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    assert.equal(name.status, 2);
    assert.match(name.stderr, /is not a deployable name/);
  });
});

describe('words and exits, as an operator meets them (built)', function () {
  this.timeout(60_000);
  // An empty settings file: the host's /etc/cpe/cpe.json must not leak in.
  const settings = join(mkdtempSync(join(tmpdir(), 'cpe-words-')), 'cpe.json');
  writeFileSync(settings, '{}\n');
  const run = (main: string, ...args: string[]) =>
    spawnSync(process.execPath, [`dist/${main}/main.js`, ...args], {
      cwd: root,
      env: { ...env, CPE_CONFIG: settings },
      encoding: 'utf8',
    });
  const version = (
    JSON.parse(execFileSync('cat', [join(root, 'package.json')], { encoding: 'utf8' })) as {
      version: string;
    }
  ).version;

  it('--version on cpectl and every daemon, exit 0', () => {
    for (const [main, program] of [
      ['cli', 'cpectl'],
      ['cpe', 'cpe'],
      ['dpe', 'dpe'],
      ['agent', 'cpe-agent'],
    ] as const) {
      const r = run(main, '--version');
      assert.equal(r.status, 0, program);
      assert.equal(r.stdout, `${program} ${version}\n`);
    }
  });

  it('cpectl help of no such command is a usage error, in two lines', () => {
    const r = run('cli', 'help', 'nosuch');
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      'cpectl: unknown command "nosuch"\n(cpectl --help lists the commands)\n',
    );
    assert.equal(run('cli', 'help').status, 0);
  });

  it('the daemons refuse unknown arguments and bad bus URLs, exit 2', () => {
    const cpe = run('cpe', '--supervisr', 'process');
    assert.equal(cpe.status, 2);
    assert.equal(
      cpe.stderr,
      'cpe: unknown argument --supervisr\n(cpe --help lists every setting)\n',
    );
    const url = run('dpe', '--name', 'x', '--bus-url', 'nonsense');
    assert.equal(url.status, 2);
    assert.match(url.stderr, /^dpe: --bus-url: "nonsense" is not a bus URL/);
    // A password file that cannot be read is a settings error too, in one line.
    const password = run(
      'agent',
      '--deployable',
      'd',
      '--assembly',
      'a',
      '--bus-password-file',
      '/nonexistent',
    );
    assert.equal(password.status, 2);
    assert.equal(password.stderr, 'cpe-agent: bus.passwordFile: /nonexistent: no such file\n');
  });

  it('one wording, with a code, for a file that cannot be read', () => {
    const missing = run('cli', 'simulate', 'nosuch.json');
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, 'cpectl simulate: nosuch.json: no such file [FILE_UNREADABLE]\n');
    const dir = run('cli', 'simulate', 'examples');
    assert.equal(
      dir.stderr,
      'cpectl simulate: examples: is a directory, not a file [FILE_UNREADABLE]\n',
    );
    const validate = run('cli', 'validate', 'examples');
    assert.equal(validate.status, 1);
    assert.equal(
      validate.stdout + validate.stderr,
      'examples: is a directory, not a file [CONFIG_UNREADABLE]\n',
    );
    const create = run('cli', 'create', 'nosuch.xml');
    assert.equal(create.status, 1);
    assert.equal(create.stderr, 'cpectl create: nosuch.xml: no such file [CONFIG_UNREADABLE]\n');
  });

  it('simulate --explain of a service that does not exist is an error', () => {
    const r = run('cli', 'simulate', '--explain', 'nosuch', 'examples/wordpress-ha.xml');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^cpectl simulate: --explain nosuch: no such service in the config \(its services: rsc_web1_httpd, rsc_web2_httpd, rsc_db1_mysql\) \[NO_SUCH_SERVICE\]\n$/,
    );
  });
});

/** What production runs: the bundles in dist/, the CPE spawning the bundled DPE. */
describe('the bundled CPE and DPE (built)', function () {
  this.timeout(120_000);
  let cpe: CpeProcess | undefined;
  let api: CpeClient | undefined;

  before(() => {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe', env });
  });

  after(async () => {
    await api?.close();
    await cpe?.stop();
  });

  it('creates a deployable whose DPE fetches its config and reports ready, then updates and destroys it', async () => {
    cpe = await CpeProcess.create(true, { env: { NODE_V8_COVERAGE: '' } });
    await cpe.start();
    api = new CpeClient(cpe.url);
    await api.bus.whenUp(10_000);
    await api.call('deployable_create', { name: 'bundled', config: exampleAs('bundled') });
    // The DPE's own generation: it fetched the config it was told of.
    const ready = (generation: number) => api!.waitReady('bundled', generation);
    await ready(1);
    const changed = exampleAs('bundled').replace(
      'monitor_interval="10s"',
      'monitor_interval="11s"',
    );
    assert.notEqual(changed, exampleAs('bundled'));
    await api.call('deployable_update', { name: 'bundled', config: changed });
    await ready(2);
    await api.call('deployable_destroy', { name: 'bundled' });
  });

  it('serves and speaks amqps:// (the bundles load tls on first use): the DPE, trusting the router by NODE_EXTRA_CA_CERTS, connects over TLS and reports ready', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-bundled-tls-'));
    const tls = selfSignedCert(dir, '127.0.0.1');
    const credentialsFile = join(dir, 'bus-users');
    writeFileSync(credentialsFile, `${await credentialLine('cpe', 'bundled-tls')}\n`);
    // No bus.ca for the DPE: it trusts the router as Node would by NODE_EXTRA_CA_CERTS,
    // which the process supervisor defers to its first TLS connection (lib/bus/extra-ca.ts).
    const secure = await CpeProcess.create(true, {
      env: { NODE_V8_COVERAGE: '', NODE_EXTRA_CA_CERTS: tls.ca },
      router: {
        host: '127.0.0.1',
        credentialsFile,
        user: 'cpe',
        password: 'bundled-tls',
        tls,
        caByEnvironment: true,
      },
    });
    await secure.start();
    const client = new CpeClient(secure.url, 'embedded', tls.ca);
    try {
      assert.match(secure.url, /^amqps:/);
      await client.bus.whenUp(10_000);
      await client.call('deployable_create', { name: 'tls', config: exampleAs('tls') });
      const s = await client.waitReady('tls', 1);
      const environ = readFileSync(`/proc/${Number(s.dpe_pid)}/environ`, 'utf8').split('\0');
      assert.ok(!environ.some((v) => v.startsWith('NODE_EXTRA_CA_CERTS=')), 'Node parsed it');
      assert.ok(environ.includes(`${DEFERRED_EXTRA_CA_ENV}=${tls.ca}`));
    } finally {
      // DPEs outlive their CPE: one left running would outlive the test run.
      await client.call('deployable_destroy', { name: 'tls' }).catch(() => undefined);
      await client.close();
      await secure.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs each daemon from the code cache the build wrote: V8 takes it under the flags the daemon runs with', () => {
    const units: Record<string, string> = {
      cpe: 'cpe.service',
      dpe: 'dpe@.service',
      agent: 'cpe-agent.service',
    };
    for (const [name, flags] of Object.entries(CACHED_PROGRAMS)) {
      const bundle = join(root, 'dist', name, 'main.cjs');
      const use = execFileSync(
        process.execPath,
        [
          ...flags,
          '--input-type=module',
          '-e',
          `import { compileWithCodeCache } from ${JSON.stringify(join(root, 'dist', 'lib', 'code-cache.js'))};
           process.stdout.write(compileWithCodeCache(${JSON.stringify(bundle)}, ${JSON.stringify(`${bundle}.cache`)}).use);`,
        ],
        { encoding: 'utf8', env },
      );
      assert.equal(use, 'used', name);
      if (name === 'dpe') {
        // Trained by a real run (scripts/train-code-cache.mjs): not every function's.
        const all = join(mkdtempSync(join(tmpdir(), 'cpe-cache-')), 'all.cache');
        execFileSync(
          process.execPath,
          [
            ...flags,
            '--input-type=module',
            '-e',
            `import { writeCodeCache } from ${JSON.stringify(join(root, 'dist', 'lib', 'code-cache.js'))};
             writeCodeCache(${JSON.stringify(bundle)}, ${JSON.stringify(all)});`,
          ],
          { env },
        );
        const trained = readFileSync(`${bundle}.cache`).length;
        assert.ok(trained < readFileSync(all).length * 0.8, `${trained} bytes: not trained`);
        rmSync(dirname(all), { recursive: true, force: true });
      }
      // No import() left: from a cache it has no loader to call (a DPE's recovery commands failed so).
      assert.doesNotMatch(readFileSync(bundle, 'utf8'), /[^\w$.]import\(/, name);
      // Whatever starts it (its unit, npm's link, an operator) runs node with the
      // same flags, from its #! line; the process supervisor passes DPE_NODE_FLAGS.
      const launcher = readFileSync(join(root, 'dist', name, 'main.js'), 'utf8');
      const shebang = launcher.split('\n', 1)[0];
      assert.equal(
        shebang,
        `#!/usr/bin/env ${flags.length > 0 ? '-S ' : ''}${['node', ...flags].join(' ')}`,
      );
      const unit = readFileSync(join(root, 'systemd', units[name]!), 'utf8');
      assert.match(
        unit,
        new RegExp(`^ExecStart=/usr/local/bin/${name === 'agent' ? 'cpe-agent' : name}\\b`, 'm'),
      );
      assert.doesNotMatch(unit, /NODE_OPTIONS/, units[name]);
    }
  });
});
