import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCommand,
  destroyCommand,
  listCommand,
  startCommand,
  statusCommand,
  stopCommand,
  updateCommand,
} from '../../cli/deployable.js';
import { packageRoot } from '../../lib/paths.js';
import type { QmfMap } from '../../lib/bus/qmf.js';
import { rabbitmq } from '../support/bus.js';
import { CpeProcess, freePort } from '../support/cpe.js';
import { runCommands, type CliResult } from '../support/cpectl.js';

const EXAMPLE = join(packageRoot(), 'examples', 'wordpress-ha.xml');
const COMMANDS = [
  createCommand,
  updateCommand,
  destroyCommand,
  listCommand,
  statusCommand,
  startCommand,
  stopCommand,
];

describe('cpectl deployable commands (a real CPE)', function () {
  this.timeout(120_000);
  let cpe: CpeProcess;
  let settings: string;

  /** cpectl CMD … against the test's CPE, with no host settings file in the way. */
  const cpectl = (args: string[], stdin = ''): Promise<CliResult> => {
    const [cmd, ...rest] = args;
    return runCommands(
      COMMANDS,
      [cmd!, '--config', settings, '--bus-url', cpe.url, ...rest],
      stdin,
    );
  };

  async function until(args: string[], ok: (r: CliResult) => boolean): Promise<CliResult> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await cpectl(args);
      if (ok(r) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  before(async () => {
    cpe = await CpeProcess.create();
    await cpe.start();
    settings = join(cpe.stateDir, 'settings.json');
  });
  after(async () => {
    await cpectl(['destroy', 'wordpress-ha']).catch(() => undefined);
    await cpe?.stop();
  });

  it('creates from a file, once; a refused config is shown here and never sent', async () => {
    assert.deepEqual(await cpectl(['create', EXAMPLE]), {
      code: 0,
      stdout: 'wordpress-ha: created, generation 1\n',
      stderr: '',
    });
    assert.equal(
      (await cpectl(['create', EXAMPLE])).stdout,
      'wordpress-ha: unchanged (generation 1)\n',
    );
    const bad = join(cpe.stateDir, 'bad.xml');
    writeFileSync(bad, '<deployable name="x" uuid="u">\n  <assemblies>\n</deployable>\n');
    const r = await cpectl(['create', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${bad}:\\d+: .*\\[CONFIG_[A-Z_]+\\]`, 'm'));
    const list = await cpectl(['list']);
    assert.equal(list.code, 0);
    assert.match(
      list.stdout,
      /^NAME +DESIRED +GENERATION +DPE +READY +STATE +ASSEMBLIES +SERVICES\nwordpress-ha +running +1 +\S+ +(yes|no) +\S+ +\S+ +\S+\n$/,
    );
    // The CPE's words for the API become the command's.
    const other = readFileSync(EXAMPLE, 'utf8').replace('</deployable>', '<!-- x --></deployable>');
    const exists = await cpectl(['create', '-'], other);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /use cpectl update \[DEPLOYABLE_EXISTS\]$/m);
    assert.doesNotMatch(exists.stderr, /deployable_update/);
  });

  it('lists each DPE and what it says: ready, state, assemblies up and services running', async () => {
    // No agents run here: the DPE is ready, and says its assemblies are not heard from.
    const r = await until(['list'], (x) => / yes /.test(x.stdout) && /0\/3/.test(x.stdout));
    assert.match(r.stdout, /^wordpress-ha +running +1 +active +yes +starting +0\/3 +0\/3$/m);
    const json = JSON.parse((await cpectl(['list', '--json'])).stdout) as QmfMap[];
    assert.deepEqual(
      { ...json[0], uuid: 'u' },
      {
        name: 'wordpress-ha',
        uuid: 'u',
        desired: 'running',
        generation: 1,
        dpe_state: 'active',
        dpe_ready: true,
        state: 'starting',
        assemblies_up: 0,
        assemblies: 3,
        services_running: 0,
        services: 3,
      },
    );
  });

  it('shows status, exiting 0 once the DPE is ready', async () => {
    const r = await until(['status', 'wordpress-ha'], (x) => x.code === 0);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^dpe_ready +true$/m);
    assert.match(r.stdout, /^supervisor +process$/m);
    const json = JSON.parse((await cpectl(['status', '--json', 'wordpress-ha'])).stdout) as {
      generation: number;
    };
    assert.equal(json.generation, 1);
  });

  it('waits with status --wait until the deployable runs, or its --timeout ends', async () => {
    // Its assemblies never beat here: it does not settle, and --timeout says so.
    const r = await cpectl(['status', '--wait', '--timeout', '2', 'wordpress-ha']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^cpectl status: wordpress-ha is not there yet: DPE active, ready; starting: /m,
    );
    assert.equal((await cpectl(['stop', 'wordpress-ha'])).code, 0);
    const stopped = await cpectl(['status', '--wait', '--timeout', '20', 'wordpress-ha']);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /^dpe_state +inactive$/m);
    assert.deepEqual(JSON.parse((await cpectl(['start', '--json', 'wordpress-ha'])).stdout), {
      name: 'wordpress-ha',
      rc: 0,
    });
  });

  it('stops and starts a deployable by name (the original API, uuid looked up)', async () => {
    assert.deepEqual(await cpectl(['stop', 'wordpress-ha']), {
      code: 0,
      stdout: 'wordpress-ha: stopped\n',
      stderr: '',
    });
    const stopped = await cpectl(['status', 'wordpress-ha']);
    assert.equal(stopped.code, 0, 'a stopped deployable is where it should be');
    assert.match(stopped.stdout, /^desired +stopped$/m);
    assert.match(stopped.stdout, /^dpe_state +inactive$/m);
    assert.equal((await cpectl(['start', 'wordpress-ha'])).stdout, 'wordpress-ha: running\n');
    const r = await until(['status', 'wordpress-ha'], (x) => x.code === 0);
    assert.match(r.stdout, /^dpe_ready +true$/m);
  });

  it('updates from standard input', async () => {
    const changed = readFileSync(EXAMPLE, 'utf8').replace(
      '</deployable>',
      '<!-- 2 --></deployable>',
    );
    const r = await cpectl(['update', '-'], changed);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wordpress-ha: updated, generation \d+\n$/);
  });

  it('destroys, and says when there was nothing to destroy', async () => {
    assert.equal((await cpectl(['destroy', 'wordpress-ha'])).stdout, 'wordpress-ha: destroyed\n');
    assert.equal(
      (await cpectl(['destroy', 'wordpress-ha'])).stdout,
      'wordpress-ha: no such deployable\n',
    );
    const r = await cpectl(['status', 'wordpress-ha']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^cpectl status: no deployable named "wordpress-ha" \[UNKNOWN_DEPLOYABLE\]$/m,
    );
  });

  it('says at once when the bus refuses the connection', async () => {
    const port = await freePort();
    const started = Date.now();
    const r = await runCommands(COMMANDS, [
      'list',
      '--config',
      settings,
      '--bus-url',
      `amqp://127.0.0.1:${port}`,
      '--timeout',
      '60',
    ]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `cpectl list: cannot reach the bus at amqp://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port} (is the CPE running, and --bus-url right?) [BUS_UNREACHABLE]\n`,
    );
    // Not after the --timeout, nor after reconnect attempts (generously bounded).
    assert.ok(Date.now() - started < 20_000);
  });

  it('says what is likely wrong when a bus answers but no CPE does (a broker, wrong profile)', async function () {
    const transport = await rabbitmq(this);
    const r = await runCommands(COMMANDS, [
      'list',
      '--config',
      settings,
      '--bus-url',
      transport.url,
      '--timeout',
      '2',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^cpectl list: no answer within 2 s from the CPE on amqp:\/\/127\.0\.0\.1:5672 \(profile embedded\): is the CPE running, and is this its bus\? \(a broker needs the CPE's --bus-profile: rabbitmq, artemis or plain\) \[CALL_TIMEOUT\]\n$/,
    );
  });

  it('rejects a wrong call before connecting to anything', async () => {
    const r = await runCommands(COMMANDS, ['destroy', '--bus-url', 'amqp://127.0.0.1:1']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'cpectl destroy: needs exactly one NAME\n(cpectl destroy --help shows its usage)\n',
    );
    const name = await runCommands(COMMANDS, [
      'destroy',
      'bad name!',
      '--bus-url',
      'amqp://127.0.0.1:1',
    ]);
    assert.equal(name.code, 2);
    assert.match(
      name.stderr,
      /^cpectl destroy: "bad name!" is not a deployable name: 1 to 64 letters, digits, "\.", "_" or "-", not starting with "\." or "-"\n/,
    );
    const url = await runCommands(COMMANDS, ['list', '--bus-url', 'nonsense']);
    assert.equal(url.code, 2);
    assert.match(
      url.stderr,
      /^cpectl list: --bus-url: "nonsense" is not a bus URL: give amqp:\/\//,
    );
    const bogus = await runCommands(COMMANDS, ['list', '--bogus']);
    assert.equal(bogus.code, 2);
    assert.equal(
      bogus.stderr,
      'cpectl list: unknown option --bogus\n(cpectl list --help shows its usage)\n',
    );
    const help = await runCommands(COMMANDS, ['list', '--help']);
    assert.doesNotMatch(help.stdout, /--log-level|SIGHUP/, 'no daemon settings in cpectl help');
    assert.match(help.stdout, /--timeout SECONDS\n +how long the whole command may take/);
    const bad = join(cpe.stateDir, 'bad.xml');
    const refused = await runCommands(COMMANDS, ['create', bad, '--bus-url', 'amqp://127.0.0.1:1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[CONFIG_[A-Z_]+\]/);
    assert.doesNotMatch(refused.stderr, /BUS_UNREACHABLE/);
  });
});

describe('cpectl fault (usage)', () => {
  it('checks its arguments before it connects, exit 2', async () => {
    const { faultCommand } = await import('../../cli/fault.js');
    const { runCommands } = await import('../support/cpectl.js');
    const r1 = await runCommands([faultCommand], ['fault', 'web1', 'silence']);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /--deployable NAME is required/);
    const r2 = await runCommands(
      [faultCommand],
      ['fault', '--deployable', 'shop', 'web1', 'explode'],
    );
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /unknown fault "explode"/);
    const r3 = await runCommands([faultCommand], ['fault', '--deployable', 'shop', 'web1', 'fail']);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /fail needs a SERVICE/);
  });
});
