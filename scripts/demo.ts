/**
 * `npm run demo`: the product on its embedded defaults, as an operator would
 * drive it. Starts a CPE (embedded router, DPEs as child processes, state in
 * a temporary directory), then runs cpectl against it: create the example
 * deployable, wait for its DPE, kill the DPE and watch the CPE restart it,
 * update, destroy, and stop the CPE. Prints each command and what it said.
 * No broker and no systemd needed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name: string): string => join(root, 'dist', name, 'main.js');
const state = mkdtempSync(join(tmpdir(), 'cpe-demo-'));
const settings = join(state, 'cpe.json');
writeFileSync(settings, '{}\n'); // the host's /etc/cpe/cpe.json stays out of the demo
const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = s.address() as net.AddressInfo;
    s.close(() => resolve(p));
  });
});
const bus = ['--config', settings, '--bus-url', `amqp://127.0.0.1:${port}`]; // for cpectl

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Runs cpectl as an operator would, printing the command and its output. */
function cpectl(...args: string[]): { code: number; out: string } {
  say(`\n$ cpectl ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin('cli'), ...args, ...bus], {
    cwd: root,
    encoding: 'utf8',
  });
  process.stdout.write(r.stdout + r.stderr);
  return { code: r.status ?? 1, out: r.stdout };
}

function quietStatus(): Record<string, unknown> {
  const r = spawnSync(process.execPath, [bin('cli'), 'status', '--json', 'wordpress-ha', ...bus], {
    encoding: 'utf8',
  });
  return r.status === 0 || r.stdout.startsWith('{')
    ? (JSON.parse(r.stdout) as Record<string, unknown>)
    : {};
}

async function waitReady(notPid?: unknown): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const s = quietStatus();
    if (s.dpe_ready === true && s.dpe_pid !== notPid) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the DPE did not become ready in 30 s');
}

const log = join(state, 'cpe.log');
const url = `amqp://127.0.0.1:${port}`;
say(`$ cpe --supervisor process --state-dir ${state} --router-port ${port} --bus-url ${url} &`);
say(`  (its log: ${log})`);
const cpe = spawn(
  process.execPath,
  [
    bin('cpe'),
    '--supervisor',
    'process',
    '--state-dir',
    state,
    '--router-port',
    String(port),
    '--bus-url',
    url,
  ],
  {
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
    env: { ...process.env, CPE_CONFIG: settings, NOTIFY_SOCKET: '' },
  },
);
let failed = false;
try {
  const deadline = Date.now() + 30_000;
  while (!/ INFO ready /.test(readFileSync(log, 'utf8'))) {
    if (cpe.exitCode !== null || Date.now() > deadline)
      throw new Error(`the CPE did not start:\n${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (cpectl('create', 'examples/wordpress-ha.xml').code !== 0) throw new Error('create failed');
  await waitReady();
  cpectl('list');
  const pid = quietStatus().dpe_pid;
  cpectl('status', 'wordpress-ha');
  say(`\n$ kill -9 ${String(pid)}          # the DPE dies; the CPE starts another`);
  process.kill(Number(pid), 'SIGKILL');
  await waitReady(pid);
  cpectl('status', 'wordpress-ha');
  cpectl('destroy', 'wordpress-ha');
  say('\nThe CPE said (its log):');
  for (const line of readFileSync(log, 'utf8').split('\n'))
    if (/DPE|deployable|ready|adopt/i.test(line)) say(`  ${line.slice(0, 160)}`);
} catch (err) {
  failed = true;
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
} finally {
  say(`\n$ kill ${String(cpe.pid)}           # SIGTERM: the CPE stops gracefully`);
  await new Promise<void>((resolve) => {
    if (cpe.exitCode !== null) return resolve();
    cpe.once('exit', () => resolve());
    cpe.kill('SIGTERM');
  });
  rmSync(state, { recursive: true, force: true });
}
say(failed ? '\ndemo failed' : '\ndemo done: run `npx cpe --help` and `npx cpectl help` for more');
process.exit(failed ? 1 : 0);
