// The DPE's code cache, trained by a real run (issue #13). The build first
// writes every daemon's cache with all of its functions compiled
// (lib/code-cache.ts, writeCodeCache); a DPE deserialises all of them as it
// starts and keeps their bytecode, though it runs only some: ~0.85 MB of an
// idle DPE. Here the built CPE (embedded router, process supervisor, state
// in a temporary directory) runs a DPE for examples/wordpress-ha.xml, which
// compiles each function as it first calls it and, as it exits, writes the
// cache of what it compiled (CPE_CODE_CACHE_TRAINING_DIR, lib/launch.ts).
// What it did not call on its way to ready compiles from source when a DPE
// first needs it. If the run fails, the DPE keeps the full cache, and the
// build says so.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIMEOUT_MS = 60_000;
/** Left running after ready: its first passes and heartbeat checks compile too. */
const RUN_AFTER_READY_MS = 2000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls until `ok()` or the deadline; throws with `what` and the CPE's log. */
async function until(what, ok, deadline, log) {
  while (!(await ok())) {
    if (Date.now() > deadline) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`gave up waiting for ${what}\n${tail}`);
    }
    await sleep(100);
  }
}

/**
 * Trains dist/dpe/main.cjs.cache, written under `flags` (the DPE's node flags),
 * or throws (the full cache stays).
 */
export async function trainDpeCodeCache(root, flags) {
  const bin = (name) => join(root, 'dist', name, 'main.js');
  const bundle = join(root, 'dist', 'dpe', 'main.cjs');
  const state = mkdtempSync(join(tmpdir(), 'cpe-train-'));
  try {
    await trainIn(state, root, flags, bundle, bin);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

async function trainIn(state, root, flags, bundle, bin) {
  const trained = join(state, 'trained');
  mkdirSync(trained);
  const settings = join(state, 'cpe.json');
  const log = join(state, 'cpe.log');
  // The host's /etc/cpe/cpe.json stays out of it; cpectl finds its bus password in state.dir.
  writeFileSync(settings, `${JSON.stringify({ state: { dir: state } })}\n`);
  const [port, httpPort] = [await freePort(), await freePort()];
  const bus = ['--config', settings, '--bus-url', `amqp://127.0.0.1:${port}`];
  const env = { ...process.env, CPE_CONFIG: settings, NOTIFY_SOCKET: '' };
  const deadline = Date.now() + TIMEOUT_MS;
  const cpectl = (...args) =>
    spawnSync(process.execPath, [bin('cli'), ...args, ...bus], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
  // The CPE's DPE inherits the setting: each writes its cache there (the CPE's is not used).
  const cpe = spawn(
    process.execPath,
    [
      ...[bin('cpe'), '--supervisor', 'process', '--state-dir', state],
      ...['--router-port', String(port), '--http-port', String(httpPort), ...bus],
    ],
    {
      stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
      env: { ...env, CPE_CODE_CACHE_TRAINING_DIR: trained },
    },
  );
  let failed;
  cpe.once('error', (err) => (failed = err));
  let created = false;
  try {
    await until(
      'the CPE to start',
      () => {
        if (failed || cpe.exitCode !== null)
          throw new Error(
            `the CPE did not start (${failed?.message ?? `exit ${cpe.exitCode}`}):\n${readFileSync(log, 'utf8').slice(-2000)}`,
          );
        return / INFO ready /.test(readFileSync(log, 'utf8'));
      },
      deadline,
      log,
    );
    const create = cpectl('create', join(root, 'examples', 'wordpress-ha.xml'));
    if (create.status !== 0) throw new Error(`cpectl create: ${create.stdout}${create.stderr}`);
    created = true;
    await until(
      'the DPE to be ready',
      () => cpectl('status', 'wordpress-ha').status === 0,
      deadline,
      log,
    );
    await sleep(RUN_AFTER_READY_MS);
    const destroy = cpectl('destroy', 'wordpress-ha');
    if (destroy.status !== 0) throw new Error(`cpectl destroy: ${destroy.stdout}${destroy.stderr}`);
    created = false;
    await until(
      'the DPE to write its cache',
      () => existsSync(join(trained, 'dpe.cache')),
      deadline,
      log,
    );
  } finally {
    // A DPE outlives its CPE (its own session): never leave one behind.
    if (created) cpectl('destroy', 'wordpress-ha');
    if (!failed && cpe.exitCode === null) {
      cpe.kill('SIGTERM');
      await new Promise((r) => cpe.once('exit', r));
    }
  }
  // V8 takes it only under the flags it was written with: check before it replaces the full one.
  const check = spawnSync(
    process.execPath,
    [
      ...flags,
      '--input-type=module',
      '-e',
      `import { compileWithCodeCache } from ${JSON.stringify(join(root, 'dist', 'lib', 'code-cache.js'))};
       process.exit(compileWithCodeCache(${JSON.stringify(bundle)}, ${JSON.stringify(join(trained, 'dpe.cache'))}).use === 'used' ? 0 : 1);`,
    ],
    { stdio: 'inherit' },
  );
  if (check.status !== 0) throw new Error('V8 rejected the trained cache');
  renameSync(join(trained, 'dpe.cache'), `${bundle}.cache`);
}
