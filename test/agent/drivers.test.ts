/**
 * The service classes and the runner with real programs: Debian's own
 * ocf:heartbeat:Dummy, the fixtures' Flaky agent (fails on demand) and an
 * LSB init script with a real daemon.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsbDriver } from '../../agent/lsb.js';
import { ManagedServices } from '../../agent/managed.js';
import { actionTimeouts, OcfDriver } from '../../agent/ocf.js';
import { childEnv } from '../../agent/real.js';
import { ServiceRunner } from '../../agent/services.js';
import { SystemdDriver } from '../../agent/systemd.js';
import type { ServiceSpec } from '../../lib/agent/protocol.js';
import { silentLogger } from '../../lib/log.js';
import { LSB_DIR, requireResourceAgents, testOcfRoot } from '../support/real-agent.js';

/** A process that runs: a zombie (killed, not yet reaped by init) does not. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('agent service classes (real resource agents and init scripts)', function () {
  this.timeout(30_000);
  let root: string;
  let rscTmp: string;
  let control: string;
  let ocf: OcfDriver;
  let lsb: LsbDriver;

  const spec = (resource: string, type: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
    resource,
    class: 'ocf',
    type,
    provider: 'heartbeat',
    parameters: {},
    ...extra,
  });
  const flaky = (resource = 'rsc_a1_flaky'): ServiceSpec =>
    spec(resource, 'Flaky', { provider: 'cpetest', parameters: { control } });
  const run = (
    driver: OcfDriver | LsbDriver,
    op: 'start' | 'stop' | 'monitor',
    s: ServiceSpec,
    timeoutMs = 10_000,
    probe = false,
  ) => driver.run({ op, spec: s, timeoutMs, intervalMs: op === 'monitor' && !probe ? 10_000 : 0 });

  before(function () {
    requireResourceAgents(this);
    root = testOcfRoot();
    rscTmp = mkdtempSync(join(tmpdir(), 'cpe-rsctmp-'));
    const env = childEnv({ PATH: process.env.PATH, HA_RSCTMP: rscTmp, SECRET: 'x' });
    ocf = new OcfDriver({ root, env });
    lsb = new LsbDriver({ dir: LSB_DIR, env });
  });

  beforeEach(() => {
    control = mkdtempSync(join(tmpdir(), 'cpe-flaky-'));
  });

  after(() => {
    for (const d of [root, rscTmp]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('passes resource agents only PATH, the locale and HA_* variables', () => {
    assert.deepEqual(
      childEnv({ PATH: '/bin', HA_RSCTMP: '/r', BUS_PASSWORD: 'p', NOTIFY_SOCKET: '/n' }),
      {
        PATH: '/bin',
        LC_ALL: 'C',
        HA_RSCTMP: '/r',
      },
    );
  });

  it("runs Debian's Dummy through start, monitor and stop", async () => {
    const dummy = spec('rsc_a1_dummy', 'Dummy');
    const state = join(rscTmp, 'Dummy-rsc_a1_dummy.state');
    assert.equal((await run(ocf, 'monitor', dummy, 10_000, true)).rc, 7);
    assert.deepEqual(await run(ocf, 'start', dummy), {
      rc: 0,
      text: `start of rsc_a1_dummy (${root}/resource.d/heartbeat/Dummy): success (running)`,
    });
    assert.ok(existsSync(state), 'Dummy keeps its state file where HA_RSCTMP says');
    assert.equal((await run(ocf, 'monitor', dummy)).rc, 0);
    rmSync(state); // the resource "crashes"
    const crashed = await run(ocf, 'monitor', dummy);
    assert.equal(crashed.rc, 7);
    assert.match(crashed.text, /not running: No process state file found$/);
    assert.equal((await run(ocf, 'start', dummy)).rc, 0);
    assert.equal((await run(ocf, 'stop', dummy)).rc, 0);
    assert.equal((await run(ocf, 'stop', dummy)).rc, 0, 'stopping what is stopped succeeds');
  });

  it("passes parameters as OCF_RESKEY_<name> and answers the agent's own exit reason", async () => {
    writeFileSync(join(control, 'fail-start'), '2');
    const first = await run(ocf, 'start', flaky());
    assert.equal(first.rc, 1);
    assert.match(first.text, /: generic error: start refused on demand \(2 left\)$/);
    assert.equal((await run(ocf, 'start', flaky())).rc, 1);
    assert.equal((await run(ocf, 'start', flaky())).rc, 0);
    writeFileSync(join(control, 'fail-monitor'), '');
    assert.match((await run(ocf, 'monitor', flaky())).text, /monitor failed on demand$/);
    assert.deepEqual(
      readFileSync(join(control, 'calls'), 'utf8').trim().split('\n'),
      ['start rsc_a1_flaky', 'start rsc_a1_flaky', 'start rsc_a1_flaky', 'monitor rsc_a1_flaky'],
      'OCF_RESOURCE_INSTANCE is the resource id',
    );
    const unconfigured = await run(ocf, 'start', spec('rsc_x', 'Flaky', { provider: 'cpetest' }));
    assert.equal(unconfigured.rc, 6);
    assert.match(unconfigured.text, /control directory '' is missing$/);
  });

  it('kills the whole process group of an operation past its time limit', async () => {
    writeFileSync(join(control, 'hang'), '');
    const started = Date.now();
    const r = await run(ocf, 'monitor', flaky(), 500);
    assert.equal(r.rc, 1);
    assert.equal(r.timedOut, true);
    assert.match(r.text, /process group killed; timed out after 500 ms$/);
    assert.ok(Date.now() - started < 5000);
    const child = Number(readFileSync(join(control, 'hang-child'), 'utf8'));
    assert.ok(child > 0);
    for (let i = 0; i < 50 && alive(child); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(child), false, "the agent's child died with it");
  });

  it("reads the actions' advised time limits from meta-data", async () => {
    assert.equal(await ocf.advisedTimeoutMs('start', flaky()), 15_000);
    assert.equal(await ocf.advisedTimeoutMs('stop', flaky()), 12_000);
    assert.equal(await ocf.advisedTimeoutMs('monitor', flaky()), 7000);
    assert.equal(await ocf.advisedTimeoutMs('start', spec('r', 'Dummy')), 20_000);
    assert.equal(await ocf.advisedTimeoutMs('start', spec('r', 'NoSuchAgent')), undefined);
    assert.deepEqual(actionTimeouts('<not xml'), new Map());
  });

  it('resolves agents under OCF_ROOT only and checks every name again', async () => {
    assert.deepEqual(ocf.agentPath({ provider: null, type: 'Dummy' }), {
      path: join(root, 'resource.d', 'heartbeat', 'Dummy'),
    });
    for (const [provider, type] of [
      ['..', 'Dummy'],
      ['heartbeat', '../../../../bin/sh'],
      ['heartbeat', '.hidden'],
      ['heart/beat', 'Dummy'],
    ] as const) {
      const r = await run(ocf, 'start', spec('r', type, { provider }));
      assert.equal(r.rc, 2, `${provider}:${type}`);
    }
    const bad = await run(ocf, 'start', spec('r', 'Dummy', { parameters: { 'a-b': '1' } }));
    assert.deepEqual(bad, {
      rc: 6,
      text: 'parameter "a-b" cannot be passed to a resource agent (OCF_RESKEY_a-b)',
    });
  });

  it('answers "not installed" for a missing agent, except where nothing can run', async () => {
    const missing = spec('r', 'NoSuchAgent');
    const start = await run(ocf, 'start', missing);
    assert.equal(start.rc, 5);
    assert.match(start.text, /resource agent .*NoSuchAgent is not installed$/);
    assert.equal((await run(ocf, 'stop', missing)).rc, 7);
    assert.equal((await run(ocf, 'monitor', missing, 1000, true)).rc, 7);
    assert.equal((await run(ocf, 'monitor', missing)).rc, 5);
  });

  it('runs an LSB init script, its status codes mapped to OCF', async () => {
    const s = spec('rsc_a1_lsb', 'cpe-test-lsb', { class: 'lsb', provider: null });
    const pidfile = join(rscTmp, 'cpe-test-lsb.pid');
    assert.match((await run(lsb, 'monitor', s)).text, /status: not running$/);
    assert.equal((await run(lsb, 'start', s)).rc, 0);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    assert.ok(alive(pid), 'the daemon outlives its start');
    assert.equal((await run(lsb, 'monitor', s)).rc, 0);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await run(lsb, 'monitor', s), {
      rc: 7,
      text: `${LSB_DIR}/cpe-test-lsb status: not running, but a pid file exists`,
    });
    assert.equal((await run(lsb, 'stop', s)).rc, 0);
    assert.equal((await run(lsb, 'monitor', s)).rc, 7);
    const none = spec('r', 'no-such-script', { class: 'lsb' });
    assert.equal((await run(lsb, 'start', none)).rc, 5);
    assert.equal((await run(lsb, 'stop', none)).rc, 7);
    assert.equal((await run(lsb, 'start', spec('r', '..', { class: 'lsb' }))).rc, 2);
  });

  it('never reaches what would take the host down, nor the engine itself', async () => {
    const sd = new SystemdDriver({
      log: silentLogger(),
      allowed: ['app@*.service', 'web.service'],
    });
    const unit = (type: string) =>
      sd.run({
        op: 'start',
        spec: spec('r', type, { class: 'systemd', provider: null }),
        timeoutMs: 1000,
        intervalMs: 0,
      });
    for (const [type, rc, text] of [
      ['poweroff.target', 2, /is not a service unit name/],
      ['systemd-poweroff', 4, /systemd-poweroff.service is never managed through the bus/],
      ['dbus', 4, /never managed/],
      ['dpe@web', 4, /never managed/],
      ['cpe-agent.service', 4, /never managed/],
      ['db.service', 4, /db.service is not among this assembly's units \(agent.units\)/],
    ] as const) {
      const r = await unit(type);
      assert.equal(r.rc, rc, type);
      assert.match(r.text, text);
    }
    const halt = await run(lsb, 'start', spec('r', 'halt', { class: 'lsb' }));
    assert.deepEqual(halt, { rc: 4, text: 'init script halt is never run through the bus' });
  });

  describe('the runner', () => {
    let dir: string;
    let runner: ServiceRunner;
    const make = () =>
      new ServiceRunner({
        drivers: {
          ocf,
          lsb,
          systemd: new SystemdDriver({
            log: silentLogger(),
            busAddress: 'unix:path=/nonexistent',
            allowed: [],
          }),
        },
        managed: new ManagedServices(dir),
        defaultTimeoutMs: 20_000,
        inventoryMonitorMs: 1000,
        log: silentLogger(),
      });

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'cpe-agent-state-'));
      mkdirSync(dir, { recursive: true });
      runner = make();
    });

    it('keeps what it manages across restarts and lists it with a fresh probe', async () => {
      assert.equal((await runner.call('start', flaky('rsc_a1_x'), 5000)).rc, 0);
      assert.equal((await runner.call('start', spec('rsc_a1_d', 'Dummy'), 5000)).rc, 0);
      // A new agent (a restart) reads the list and probes each service.
      runner = make();
      rmSync(join(rscTmp, 'Dummy-rsc_a1_d.state'));
      const inv = await runner.inventory();
      assert.deepEqual(
        inv.map((e) => [e.resource, e.rc]),
        [
          ['rsc_a1_x', 0],
          ['rsc_a1_d', 7],
        ],
      );
      // What was found not running is no longer managed; a stop clears the rest.
      assert.deepEqual(
        (await make().inventory()).map((e) => e.resource),
        ['rsc_a1_x'],
      );
      assert.equal((await runner.call('stop', flaky('rsc_a1_x'), 5000)).rc, 0);
      assert.deepEqual(await make().inventory(), []);
    });

    it('runs one operation at a time per service, within the time limit from arrival', async () => {
      const s = flaky('rsc_a1_q');
      const calls = await Promise.all([
        runner.call('start', s, 5000),
        runner.call('monitor', s, 5000),
        runner.call('stop', s, 5000),
        runner.call('monitor', s, 5000),
      ]);
      assert.deepEqual(
        calls.map((c) => c.rc),
        [0, 0, 0, 7],
      );
      writeFileSync(join(control, 'hang'), '');
      const [hung, queued] = await Promise.all([
        runner.call('monitor', s, 400),
        runner.call('monitor', s, 300),
      ]);
      assert.equal(hung.timedOut, true);
      assert.equal(queued.timedOut, true);
      assert.match(queued.text, /waiting for the one before/);
    });

    it("takes the agent's advice when the caller gives no time limit", async () => {
      writeFileSync(join(control, 'hang'), '');
      const fast = new ServiceRunner({
        drivers: { ocf, lsb, systemd: new SystemdDriver({ log: silentLogger(), allowed: [] }) },
        managed: new ManagedServices(dir),
        defaultTimeoutMs: 100,
        inventoryMonitorMs: 1000,
        log: silentLogger(),
      });
      // Flaky advises 7 s for monitor; the default (100 ms) is for what advises nothing.
      const r = await Promise.race([
        fast.call('monitor', flaky('rsc_a1_adv'), undefined),
        new Promise<'still running'>((res) => setTimeout(() => res('still running'), 1500)),
      ]);
      assert.equal(r, 'still running');
      rmSync(join(control, 'hang'));
    });

    it('answers "not installed" for systemd units when systemd cannot be reached', async () => {
      const r = await runner.call(
        'start',
        spec('r', 'web', { class: 'systemd', provider: null }),
        2000,
      );
      assert.equal(r.rc, 5);
      assert.match(r.text, /^systemd is not reachable over D-Bus: /);
    });
  });
});
