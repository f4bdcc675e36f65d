import assert from 'node:assert/strict';
import { subscribeEvents } from '../../lib/bus/events.js';
import type { BusEvent } from '../../lib/bus/qmf.js';
import { Cpe } from '../../cpe/cpe.js';
import { processStartTime } from '../../cpe/process-supervisor.js';
import { silentLogger } from '../../lib/log.js';
import { until } from '../support/bus.js';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../lib/paths.js';
import {
  CpeClient,
  CpeProcess,
  EXAMPLE_NAME,
  EXAMPLE_XML,
  clientUrl,
  freePort,
  untilReady,
} from '../support/cpe.js';

const XML = EXAMPLE_XML;
const NAME = EXAMPLE_NAME;

function alive(pid: number): boolean {
  return processStartTime(pid) !== undefined;
}

describe('the CPE with the process supervisor (real CPE and DPE processes)', function () {
  this.timeout(120_000);
  let cpe: CpeProcess;
  let api: CpeClient;
  const events: BusEvent[] = [];

  before(async () => {
    cpe = await CpeProcess.create();
    await cpe.start();
    api = new CpeClient(cpe.url);
    await api.bus.whenUp(10_000);
    const sub = subscribeEvents(api.bus, 'cpe.events', (e) => events.push(e));
    await sub.ready;
  });
  after(async () => {
    if (!api) return void (await cpe?.stop());
    await api.call('deployable_destroy', { name: NAME }).catch(() => undefined);
    await api.close();
    await cpe.stop();
  });

  function waitReady(generation = 1, notPid?: number): Promise<Record<string, unknown>> {
    return api.waitReady(NAME, generation, { notPid, context: () => cpe.output });
  }

  it('creates a deployable, once, and its DPE fetches the config and reports ready', async () => {
    assert.deepEqual(await api.call('deployable_create', { name: NAME, config: XML }), {
      name: NAME,
      uuid: /uuid="([^"]+)"/.exec(XML)![1],
      generation: 1,
      created: true,
    });
    const s = await waitReady(1);
    assert.equal(s.dpe_state, 'active');
    assert.equal(s.supervisor, 'process');
    // A retried create with the same config is a no-op; a different one is refused.
    assert.equal((await api.call('deployable_create', { name: NAME, config: XML })).created, false);
    await assert.rejects(
      api.call('deployable_create', {
        name: NAME,
        config: XML.replace('</deployable>', '<!-- changed --></deployable>'),
      }),
      {
        code: 'DEPLOYABLE_EXISTS',
      },
    );
    await assert.rejects(api.call('deployable_create', { name: 'other', config: XML }), {
      code: 'NAME_MISMATCH',
    });
    // error_text as schemas/README.md gives it: FILE is the name plus .xml.
    await assert.rejects(api.call('deployable_create', { name: 'bad', config: '<deployable' }), {
      code: 'CONFIG_MALFORMED',
      message: /^bad\.xml:1: .+ \[CONFIG_MALFORMED\]$/,
    });
    await assert.rejects(api.call('deployable_create', { name: '../etc', config: XML }), {
      code: 'BAD_ARGUMENT',
    });
    // Over the config's limit, within the message's: the CPE refuses it in its own words.
    const big = XML.replace(
      '</deployable>',
      `<!-- ${'x'.repeat(4 * 1024 * 1024)} --></deployable>`,
    );
    await assert.rejects(api.call('deployable_create', { name: 'big', config: big }), {
      code: 'CONFIG_TOO_LARGE',
      message: /^big\.xml: config exceeds the size limit of 4194304 bytes \[CONFIG_TOO_LARGE\]$/,
    });
    await assert.rejects(
      api.call('deployable_create', {
        name: 'wrongname',
        config: XML.replace('<deployable ', '<deployable bogus="1" '),
      }),
      { message: /^wrongname\.xml:\d+: <deployable>: .+ \[CONFIG_UNKNOWN_ATTRIBUTE\]$/ },
    );
    const list = await api.call('deployable_list');
    assert.deepEqual(
      (list.deployables as { name: string }[]).map((d) => d.name),
      [NAME],
    );
  });

  it('restarts a DPE killed with SIGKILL, and says so', async () => {
    const before = Number((await waitReady(1)).dpe_pid);
    process.kill(before, 'SIGKILL');
    await until(
      () => events.some((e) => e.name === 'dpe_exited' && e.values.deployable === NAME),
      15_000,
      'dpe_exited',
    );
    const exited = events.find((e) => e.name === 'dpe_exited')!;
    assert.match(exited.values.detail as string, /signal KILL/);
    const after = Number((await waitReady(1, before)).dpe_pid);
    assert.notEqual(after, before);
    assert.ok(alive(after));
  });

  it('hands an updated config to the running DPE', async () => {
    const pid = Number((await waitReady(1)).dpe_pid);
    const changed = XML.replace('</deployable>', '<!-- v2 --></deployable>');
    assert.equal(
      (await api.call('deployable_update', { name: NAME, config: changed })).generation,
      2,
    );
    const s = await waitReady(2);
    assert.equal(s.dpe_pid, pid, 'reloaded in place, not restarted');
    assert.equal(
      (await api.call('deployable_update', { name: NAME, config: changed })).changed,
      false,
    );
  });

  it('adopts its DPEs after a kill -9 of the CPE instead of starting them twice', async () => {
    const pid = Number((await waitReady(2)).dpe_pid);
    await cpe.kill9();
    assert.ok(alive(pid), 'the DPE survives its CPE');
    await cpe.start();
    await api.bus.whenUp(15_000);
    const s = await waitReady(2);
    assert.equal(s.dpe_pid, pid);
    assert.match(cpe.output, /adopted a running DPE/);
  });

  it('refuses a corrupt store, naming the file and line, and stops no DPE', async () => {
    const pid = Number((await waitReady(2)).dpe_pid);
    await cpe.kill9();
    const file = join(cpe.stateDir, 'deployables.db');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `{"name":"x"\n${good}`);
    await assert.rejects(cpe.start(), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(
          `exited \\(1\\) before ready:[^]*${file.replace(/[.]/g, '\\.')}:1: not a record .*\\[?.*restore the file from a backup`,
        ),
      );
      return true;
    });
    assert.ok(alive(pid), 'the DPE keeps running');
    // A last line torn by a crash is dropped (that change never answered); the rest is kept.
    writeFileSync(file, `${good}{"name":"torn`);
    await cpe.start();
    await api.bus.whenUp(15_000);
    assert.equal((await waitReady(2)).dpe_pid, pid);
    assert.match(cpe.output, /dropping a last line torn by a crash/);
    assert.equal(readFileSync(file, 'utf8').includes('"torn'), false);
  });

  it('destroys: the DPE is gone when the call answers, and the name is free', async () => {
    const pid = Number((await waitReady(2)).dpe_pid);
    assert.deepEqual(await api.call('deployable_destroy', { name: NAME }), {
      name: NAME,
      destroyed: true,
    });
    assert.equal(alive(pid), false);
    assert.deepEqual(await api.call('deployable_destroy', { name: NAME }), {
      name: NAME,
      destroyed: false,
    });
    assert.deepEqual(await api.call('deployable_list'), { deployables: [] });
    await assert.rejects(api.call('deployable_status', { name: NAME }), {
      code: 'UNKNOWN_DEPLOYABLE',
    });
  });
});

/** A CPE from its sources with exactly these arguments — none of CpeProcess's defaults. */
function spawnCpe(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(packageRoot(), 'cpe', 'main.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The HTTP API on a port of its own: tests run beside each other and a developer's CPE.
      env: { ...process.env, NOTIFY_SOCKET: '', CPE_HTTP_PORT: '0', ...env },
    },
  );
}

/** SIGTERM, and the exit code. */
function sigterm(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
}

describe('the CPE on a router port of its own (--router-port alone)', function () {
  this.timeout(60_000);

  it('talks to its own router, serves there, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-port-'));
    writeFileSync(join(dir, 'settings.json'), '{}\n');
    const port = await freePort();
    const child = spawnCpe(
      ['--supervisor', 'process', '--state-dir', dir, '--router-port', String(port)],
      { CPE_CONFIG: join(dir, 'settings.json') },
    );
    let output = '';
    await untilReady(child, 'the CPE', (t) => (output += t));
    assert.match(output, new RegExp(`ready bus=amqp://127\\.0\\.0\\.1:${port} `));
    const api = new CpeClient(clientUrl(dir, port));
    try {
      await api.bus.whenUp(10_000);
      assert.deepEqual(await api.call('deployable_list'), { deployables: [] });
    } finally {
      await api.close();
    }
    assert.equal(await sigterm(child), 0, output);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('--supervisor auto (the default) without a usable system bus', function () {
  this.timeout(90_000);
  let dir: string;
  let server: net.Server | undefined;

  /** Starts a CPE with the system bus at `address`; resolves with its output once ready. */
  const cpeWith = async (address: string): Promise<ChildProcess> => {
    const port = await freePort();
    return spawnCpe(['--state-dir', join(dir, `state-${port}`), '--router-port', String(port)], {
      CPE_CONFIG: join(dir, 'settings.json'),
      DBUS_SYSTEM_BUS_ADDRESS: address,
    });
  };
  const readyThenStop = async (address: string): Promise<string> => {
    const child = await cpeWith(address);
    let output = '';
    await untilReady(child, 'the CPE', (t) => (output += t));
    assert.equal(await sigterm(child), 0, output);
    return output;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cpe-auto-'));
    writeFileSync(join(dir, 'settings.json'), '{}\n');
  });
  afterEach(() => {
    server?.close();
    server = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fellBack = (output: string): void => {
    assert.match(output, /no systemd on the system bus: DPEs run as child processes/);
    assert.match(output, / INFO ready .*supervisor=process/);
    assert.doesNotMatch(output, / ERROR /, output);
  };

  it('falls back to processes when there is no bus at all', async () => {
    fellBack(await readyThenStop(`unix:path=${join(dir, 'none')}`));
  });

  it('falls back when the bus refuses (closes every connection)', async () => {
    const path = join(dir, 'refuses');
    server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server!.listen(path, r));
    fellBack(await readyThenStop(`unix:path=${path}`));
  });

  it('falls back when the bus accepts and never answers, and a SIGTERM meanwhile exits 0', async () => {
    const path = join(dir, 'hangs');
    const held: net.Socket[] = [];
    server = net.createServer((c) => void held.push(c));
    await new Promise<void>((r) => server!.listen(path, r));
    fellBack(await readyThenStop(`unix:path=${path}`));
    // Stopped while still waiting for the bus: a clean exit, not a crash.
    const child = await cpeWith(`unix:path=${path}`);
    let output = '';
    child.stdout!.on('data', (t: Buffer) => (output += t.toString()));
    child.stderr!.on('data', (t: Buffer) => (output += t.toString()));
    await until(() => /embedded router listening/.test(output), 20_000, 'the router up');
    assert.equal(await sigterm(child), 0, output);
    for (const c of held) c.destroy();
  });
});

describe("the CPE's health, which feeds its watchdog", () => {
  it('is well while the bus is up and resyncs finish; says why not otherwise', () => {
    const cpe = new Cpe({
      log: silentLogger(),
      stateDir: '/nonexistent',
      resyncMs: 30_000,
      supervisor: 'process',
      bus: () => {
        throw new Error('not started');
      },
    });
    const now = 1_000_000;
    const set = (isUp: boolean, since: number, lastResyncAt: number | null): void => {
      Object.assign(cpe, { bus: { isUp, since }, reconciler: { lastResyncAt } });
    };
    set(true, 0, now - 1000);
    assert.equal(cpe.health(now), null);
    set(false, now - 30_000, now - 1000);
    assert.equal(cpe.health(now), null, 'a short outage is not a wedge');
    set(false, now - 61_000, now - 1000);
    assert.equal(cpe.health(now), 'the bus has been down for 61 s');
    set(true, 0, now - 121_000);
    assert.equal(cpe.health(now), 'no resync has finished for 121 s');
  });
});

describe('an update the CPE stored but died before telling the DPE (failpoint)', function () {
  this.timeout(120_000);

  it('is carried out when the CPE is back: the DPE is reloaded onto the stored generation', async () => {
    const cpe = await CpeProcess.create();
    process.env.CPE_FAILPOINTS = 'update-stored';
    try {
      await cpe.start();
    } finally {
      delete process.env.CPE_FAILPOINTS;
    }
    const api = new CpeClient(cpe.url);
    try {
      await api.bus.whenUp(10_000);
      await api.call('deployable_create', { name: NAME, config: XML });
      const pid = Number((await api.waitReady(NAME, 1, { context: () => cpe.output })).dpe_pid);
      const changed = XML.replace('</deployable>', '<!-- failpoint --></deployable>');
      // The CPE kills itself between storing generation 2 and telling the DPE.
      await assert.rejects(
        api.client.call(
          { address: 'cpe', object: 'cpe' },
          'deployable_update',
          { name: NAME, config: changed },
          5000,
        ),
      );
      await until(
        () => cpe.child?.signalCode === 'SIGKILL',
        10_000,
        'the CPE killed by its failpoint',
      );
      await cpe.start();
      await api.bus.whenUp(15_000);
      const s = await api.waitReady(NAME, 2, { context: () => cpe.output });
      assert.equal(s.dpe_pid, pid, 'the same DPE, reloaded');
      assert.match(cpe.output, /the DPE runs an older generation: reloading it/);
      // A retried update changes nothing more.
      assert.equal(
        (await api.call('deployable_update', { name: NAME, config: changed })).changed,
        false,
      );
      await api.call('deployable_destroy', { name: NAME });
    } finally {
      await api.close();
      await cpe.stop();
    }
  });
});

describe('one CPE per state directory', function () {
  this.timeout(60_000);

  it('refuses a second CPE on a state directory in use, and takes over one left by a dead CPE', async () => {
    const first = await CpeProcess.create();
    await first.start();
    const second = new CpeProcess(first.stateDir, await freePort());
    try {
      await assert.rejects(second.start(), (err: Error) => {
        assert.match(
          err.message,
          /exited \(1\) before ready:[^]*is in use by another CPE \(pid \d+\): one CPE per state directory/,
        );
        return true;
      });
      await first.kill9();
      await second.start(); // the lock of a CPE that is gone is taken over
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});

describe('one CPE per bus', function () {
  this.timeout(60_000);

  it("refuses to serve on a bus where another CPE serves, and leaves the first one's calls to it", async () => {
    const first = await CpeProcess.create();
    await first.start();
    const dir = mkdtempSync(join(tmpdir(), 'cpe-second-'));
    writeFileSync(join(dir, 'settings.json'), '{}\n');
    const api = new CpeClient(first.url);
    try {
      // The second one on the first one's router, with a state directory of its own.
      const child = spawnCpe(
        [
          '--supervisor',
          'process',
          '--state-dir',
          join(dir, 'state'),
          '--no-router-enabled',
          '--bus-url',
          first.url,
        ],
        { CPE_CONFIG: join(dir, 'settings.json') },
      );
      let output = '';
      child.stderr!.on('data', (t: Buffer) => (output += t.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      assert.equal(code, 1, output);
      assert.match(
        output,
        /another CPE \(pid \d+ on \S+, state directory \S+\) already serves \\?"cpe\\?" on this bus: one CPE per bus/,
      );
      await api.bus.whenUp(10_000);
      const info = await api.call('cpe_info');
      assert.equal(info.pid, first.child!.pid);
      assert.equal(info.state_dir, first.stateDir);
      assert.equal(info.http, first.httpUrl);
    } finally {
      await api.close();
      await first.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
