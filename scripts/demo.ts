/**
 * `npm run demo`: the engine at work on its embedded defaults, as an
 * operator would drive it — no broker, no systemd. Starts a CPE (embedded
 * router, DPEs as child processes, state in a temporary directory) and
 * simulated assemblies (cpe-agent --simulate), then runs cpectl: create the
 * example deployable, fail a service (it is restarted where it failed),
 * silence an assembly (its service moves), kill the DPE (it comes back and
 * restarts nothing), ask the event log what it did, destroy it, stop
 * everything. Prints each command, what it said, and the events that say
 * why (from `cpectl events --follow`). `--keep` leaves it running at the
 * end, for the web view, until Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = join(import.meta.dirname, '..');
const bin = (name: string): string => join(root, 'dist', name, 'main.js');
const state = mkdtempSync(join(tmpdir(), 'cpe-demo-'));
const NAME = 'wordpress-ha';
// The example, with the demo's recovery command (the host's settings allow it).
const recover = join(root, 'scripts', 'demo-recover');
const config = join(state, 'wordpress-ha.xml');
writeFileSync(
  config,
  readFileSync(join(root, 'examples', 'wordpress-ha.xml'), 'utf8').replace(
    'command="/usr/libexec/cpe/recover-assembly"',
    `command="${recover}"`,
  ),
);
const settings = join(state, 'cpe.json');
// The host's /etc/cpe/cpe.json stays out of the demo.
// state.dir: the CPE keeps its state there, and cpectl finds its bus password there.
writeFileSync(
  settings,
  `${JSON.stringify({ recovery: { commands: recover }, state: { dir: state } })}\n`,
);
const keep = process.argv.includes('--keep');
const freePort = (): Promise<number> =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as net.AddressInfo;
      s.close(() => resolve(p));
    });
  });
const port = await freePort();
const httpPort = await freePort();
const web = `http://127.0.0.1:${httpPort}/`;
const url = `amqp://127.0.0.1:${port}`;
const bus = ['--config', settings, '--bus-url', url]; // for cpectl and the agents

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs cpectl; events keep printing meanwhile. */
async function run(
  args: readonly string[],
  extra: readonly string[] = bus,
): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [bin('cli'), ...args, ...extra], { cwd: root });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  return { code, out };
}

/** Runs cpectl as an operator would, printing the command and its output. */
async function cpectl(...args: string[]): Promise<{ code: number; out: string }> {
  say(`\n$ cpectl ${args.join(' ')}`);
  const r = await run(args);
  process.stdout.write(r.out);
  return r;
}

async function quietStatus(): Promise<Record<string, unknown>> {
  const r = await run(['status', '--json', NAME]);
  return r.out.startsWith('{') ? (JSON.parse(r.out) as Record<string, unknown>) : {};
}

async function until(what: string, ok: (s: Record<string, unknown>) => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (ok(await quietStatus())) return;
    await sleep(250);
  }
  throw new Error(`gave up waiting for ${what}`);
}

const where = (s: Record<string, unknown>, service: string): unknown =>
  (s.services as { id: string; assembly: unknown }[] | undefined)?.find((x) => x.id === service)
    ?.assembly;

/** Starts a daemon with its output in a log file; resolves once it logs "ready". */
async function daemon(name: string, args: string[], log: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bin(name), ...args], {
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
    // A process group of its own: Ctrl-C reaches the demo, which stops it (below).
    detached: true,
    env: { ...process.env, CPE_CONFIG: settings, NOTIFY_SOCKET: '' },
  });
  const deadline = Date.now() + 30_000;
  while (!/ INFO ready /.test(readFileSync(log, 'utf8'))) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${name} did not start:\n${readFileSync(log, 'utf8')}`);
    await sleep(100);
  }
  return child;
}

/** SIGTERM, and how it ended: "exit 0" is a graceful stop. */
function stop(child: ChildProcess | undefined): Promise<string> {
  return new Promise((resolve) => {
    const how = (code: number | null, signal: NodeJS.Signals | null): string =>
      signal ? `killed by ${signal}` : `exit ${String(code)}`;
    if (!child) return resolve('not running');
    if (child.exitCode !== null || child.signalCode !== null)
      return resolve(`had already ended (${how(child.exitCode, child.signalCode)})`);
    child.once('exit', (code, signal) => resolve(how(code, signal)));
    child.kill('SIGTERM');
  });
}

let cpe: ChildProcess | undefined;
let agents: ChildProcess | undefined;
let watcher: ChildProcess | undefined;
let failed = false;
// Ctrl-C: with --keep, the end of the wait; otherwise the daemons are stopped before leaving.
let interrupted: () => void = () => {
  process.stderr.write('\ndemo interrupted: stopping the daemons\n');
  void Promise.all([stop(agents), stop(cpe)]).then(() => {
    rmSync(state, { recursive: true, force: true });
    process.exit(130);
  });
};
process.on('SIGINT', () => interrupted());
try {
  const cpeLog = join(state, 'cpe.log');
  const cpeArgs = ['--supervisor', 'process', '--state-dir', state, '--router-port', String(port)];
  say(`$ cpe ${cpeArgs.join(' ')} --http-port ${httpPort} &`);
  say(`  (its log: ${cpeLog}; its web view: ${web})`);
  cpe = await daemon('cpe', [...cpeArgs, '--http-port', String(httpPort), ...bus], cpeLog);
  // The agents log in as themselves, with the password the CPE's key derives for them.
  const agentPassword = join(state, 'agent-password');
  say(`\n$ cpectl bus-credentials agent.${NAME} > ${agentPassword}`);
  const credentials = await run(['bus-credentials', `agent.${NAME}`], ['--config', settings]);
  if (credentials.code !== 0) throw new Error(`bus-credentials failed: ${credentials.out}`);
  writeFileSync(agentPassword, credentials.out, { mode: 0o600 });
  say(
    `$ cpe-agent --simulate --deployable-config ${config} --bus-password-file ${agentPassword} &`,
  );
  say('  (three simulated assemblies, web1, web2 and db1, each with a fault injector)');
  agents = await daemon(
    'agent',
    ['--simulate', '--deployable-config', config, '--bus-password-file', agentPassword, ...bus],
    join(state, 'agents.log'),
  );

  // What the CPE and the DPE say as they work, as the event log stores it.
  say(`\n$ cpectl events --follow ${NAME} &`);
  watcher = spawn(process.execPath, [bin('cli'), 'events', '--follow', NAME, ...bus], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: watcher.stdout! }).on('line', (l) =>
    // The time and severity columns off: the demo's reader wants the words.
    say(`  event: ${l.replace(/^\S+\s+\S+\s+\S+\s+/, '')}`),
  );

  if ((await cpectl('create', config)).code !== 0) throw new Error('create failed');
  await until('the deployable running', (s) => s.state === 'running');
  await cpectl('status', NAME);

  say('\n# A service crashes; its next monitor finds it, and it is restarted where it ran.');
  await cpectl('fault', '--deployable', NAME, 'web2', 'fail', 'rsc_web2_httpd');
  await until('the restart', (s) =>
    (s.services as { id: string; failures: unknown[]; state: string }[]).some(
      (x) => x.id === 'rsc_web2_httpd' && x.failures.length > 0 && x.state === 'running',
    ),
  );

  say('\n# web1 stops beating: after 3 missed beats (2 s each) its service moves, and');
  say('# its recovery driver is called.');
  await cpectl('fault', '--deployable', NAME, 'web1', 'silence');
  await until('the move', (s) => where(s, 'rsc_web1_httpd') === 'web2');
  await sleep(500);
  await cpectl('status', NAME);

  const pid = (await quietStatus()).dpe_pid;
  say(`\n$ kill -9 ${String(pid)}    # the DPE dies: the CPE restarts it, it asks the agents`);
  say('                      # what they run, and restarts nothing');
  process.kill(Number(pid), 'SIGKILL');
  await until('the new DPE', (s) => s.dpe_ready === true && s.dpe_pid !== pid && s.state !== null);
  await sleep(1500);
  await cpectl('status');

  say('\n# What did it do, and why? The event log keeps it (also over HTTP, and live in');
  say(`# the web view at ${web}).`);
  watcher.kill('SIGTERM');
  await cpectl('events', '--kind', 'action_finished', NAME);
  if (keep) {
    say(`\nThe system keeps running (--keep): the web view is ${web}`);
    say('Ctrl-C stops it.');
    await new Promise<void>((resolve) => (interrupted = resolve));
  }
  await cpectl('destroy', NAME);
} catch (err) {
  failed = true;
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
} finally {
  watcher?.kill('SIGTERM');
  say('\n$ kill %cpe-agent %cpe    # SIGTERM: both stop gracefully');
  const agentsEnd = await stop(agents);
  const cpeEnd = await stop(cpe);
  say(`  cpe-agent: ${agentsEnd}; cpe: ${cpeEnd}`);
  if (cpeEnd !== 'exit 0' || agentsEnd !== 'exit 0') failed = true;
  rmSync(state, { recursive: true, force: true });
}
say(
  failed
    ? '\ndemo failed'
    : '\ndemo done: `npm run demo -- --keep` leaves it running for its web view; try also\n`npx cpectl simulate --run examples/wordpress-ha.xml --fault silence:web1@30s`,\n`npx cpe --help` and `npx cpectl help`',
);
process.exit(failed ? 1 : 0);
