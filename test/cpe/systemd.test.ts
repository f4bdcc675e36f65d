/**
 * The CPE under real systemd: the machine's systemd booted in private
 * namespaces, this package's unit files installed into it, cpe.service
 * started by systemd and DPEs started by the CPE as dpe@<name>.service over
 * D-Bus. Under CI=true it never skips.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { subscribeEvents } from '../../lib/bus/events.js';
import type { BusEvent } from '../../lib/bus/qmf.js';
import { silentLogger } from '../../lib/log.js';
import { templateInstance } from '../../lib/systemd/escape.js';
import { SystemdManager, type UnitDetails } from '../../lib/systemd/manager.js';
import { requireOrSkip, until } from '../support/bus.js';
import { CpeClient, EXAMPLE_NAME, EXAMPLE_XML, exampleAs } from '../support/cpe.js';
import { poll, sandboxUnavailable, SystemdSandbox } from '../support/systemd-sandbox.js';

const XML = EXAMPLE_XML;
const NAME = EXAMPLE_NAME;
const UNIT = templateInstance('dpe', NAME);
const ROUTER_PORT = 5673; // the CPE's default, inside the sandbox's own network

describe('the CPE under real systemd (sandbox)', function () {
  this.timeout(180_000);
  let sandbox: SystemdSandbox | undefined;
  let systemd: SystemdManager;
  let api: CpeClient;
  const events: BusEvent[] = [];

  async function details(unit: string): Promise<UnitDetails | null> {
    return systemd.unitDetails(unit);
  }
  async function logs(): Promise<string> {
    if (!sandbox) return '';
    return `cpe.service:\n${await sandbox.journal('cpe.service')}\n${UNIT}:\n${await sandbox.journal(UNIT)}`;
  }
  function waitReady(generation: number, notPid?: number): Promise<Record<string, unknown>> {
    return api.waitReady(NAME, generation, { notPid, context: logs });
  }
  /** The CPE's main pid once systemd reports it active. */
  async function cpePid(notPid?: number): Promise<number> {
    return poll(30_000, async () => {
      const d = await details('cpe.service');
      return d?.activeState === 'active' && d.mainPid && d.mainPid !== notPid
        ? d.mainPid
        : undefined;
    });
  }

  // What the sandbox must never touch on the host (it shares the host's /etc).
  const HOST_PATHS = ['/etc/cpe', '/var/lib/cpe', '/var/lib/private/cpe'];
  const hostBefore = HOST_PATHS.map((p) => existsSync(p));

  before(async function () {
    requireOrSkip(this, 'real systemd', sandboxUnavailable());
    sandbox = await SystemdSandbox.boot();
    await sandbox.installUnits();
    await sandbox.systemctl('start', 'cpe.service').catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await logs()}`);
    });
    systemd = await SystemdManager.connect(silentLogger(), sandbox.busAddress);
    api = new CpeClient(await sandbox.busUrl(ROUTER_PORT));
    await api.bus.whenUp(15_000);
    await subscribeEvents(api.bus, 'cpe.events', (e) => events.push(e)).ready;
  });

  after(async () => {
    await api?.close();
    systemd?.close();
    await sandbox?.destroy();
  });

  it('starts cpe.service as Type=notify, READY once serving', async () => {
    const { stdout } = await sandbox!.systemctl('show', 'cpe.service', '-p', 'StatusText');
    assert.match(stdout, /StatusText=serving 0 deployable\(s\), DPEs under systemd/);
  });

  it('creates a deployable: its unit is active and its DPE reports ready', async () => {
    const created = await api.call('deployable_create', { name: NAME, config: XML });
    assert.equal(created.generation, 1);
    const s = await waitReady(1);
    assert.equal(s.supervisor, 'systemd');
    const d = await details(UNIT);
    assert.equal(d?.activeState, 'active', UNIT);
    assert.equal(s.dpe_pid, d.mainPid, 'the ready DPE is the unit’s main process');
  });

  it('has a DPE killed with -9 restarted by systemd, which fetches its config again', async () => {
    const before = Number((await waitReady(1)).dpe_pid);
    await sandbox!.exec(['kill', '-9', String(before)]);
    const after = Number((await waitReady(1, before)).dpe_pid);
    const d = await details(UNIT);
    assert.equal(d?.mainPid, after);
    assert.equal(d.nRestarts, 1, 'one restart, by systemd');
    // …and none by the CPE: it saw systemd's restart under way and kept out of it.
    const journal = await sandbox!.journal('cpe.service', 1000);
    assert.equal(journal.match(/starting the DPE .*deployable=wordpress-ha/g)?.length, 1, journal);
    await until(
      () => events.some((e) => e.name === 'dpe_exited' && e.values.deployable === NAME),
      15_000,
      'dpe_exited',
    );
    const exited = events.filter((e) => e.name === 'dpe_exited');
    assert.deepEqual(
      exited.map((e) => [e.values.deployable, e.values.detail]),
      [[NAME, 'signal KILL']],
    );
  });

  it('hands an updated config to the running DPE (ReloadUnit), without a restart', async () => {
    const pid = Number((await waitReady(1)).dpe_pid);
    const changed = XML.replace('</deployable>', '<!-- v2 --></deployable>');
    assert.equal(
      (await api.call('deployable_update', { name: NAME, config: changed })).generation,
      2,
    );
    assert.equal((await waitReady(2)).dpe_pid, pid);
  });

  it('after a kill -9 of the CPE, systemd restarts it and it adopts the DPE (no second one)', async () => {
    const dpe = Number((await waitReady(2)).dpe_pid);
    const restarts = (await details(UNIT))!.nRestarts;
    const cpe = await cpePid();
    await sandbox!.systemctl('kill', '--signal=KILL', 'cpe.service');
    await cpePid(cpe);
    await api.bus.whenUp(30_000);
    assert.equal((await waitReady(2)).dpe_pid, dpe);
    const units = await systemd.listUnits(['dpe@*.service']);
    assert.deepEqual(
      units.map((u) => [u.unit, u.activeState]),
      [[UNIT, 'active']],
    );
    const d = await details(UNIT);
    assert.equal(d?.mainPid, dpe);
    assert.equal(d.nRestarts, restarts);
  });

  it('when the system bus goes away, the CPE starts over and keeps the DPE', async () => {
    const dpe = Number((await waitReady(2)).dpe_pid);
    const cpe = await cpePid();
    systemd.close();
    await sandbox!.systemctl('kill', '--signal=KILL', 'dbus.service');
    // The test's own connection went too; the socket activates a new bus daemon.
    systemd = await poll(30_000, () =>
      SystemdManager.connect(silentLogger(), sandbox!.busAddress).catch(() => undefined),
    );
    await cpePid(cpe);
    await api.bus.whenUp(30_000);
    assert.equal((await waitReady(2)).dpe_pid, dpe);
    assert.equal((await details(UNIT))?.mainPid, dpe);
    const journal = await sandbox!.journal('cpe.service', 2000);
    assert.match(journal, /system D-Bus connection lost/);
    assert.match(journal, /exiting to start over/);
  });

  it('destroys: the unit is gone when the call answers', async () => {
    await waitReady(2);
    assert.deepEqual(await api.call('deployable_destroy', { name: NAME }), {
      name: NAME,
      destroyed: true,
    });
    const d = await details(UNIT);
    assert.ok(d === null || d.activeState === 'inactive', JSON.stringify(d));
    assert.deepEqual(await systemd.listUnits(['dpe@*.service']), []);
  });

  it('keeps its D-Bus match rules flat over 200 create/destroy cycles', async function () {
    this.timeout(900_000);
    const [connection, ...others] = await systemd.connectionsOfPid(await cpePid());
    assert.ok(connection, 'the CPE holds a system bus connection');
    assert.deepEqual(others, []);
    const rules = await systemd.matchRuleCount(connection);
    assert.equal(rules, 2);
    const counts: number[] = [];
    const cycles = 200;
    const lanes = 4; // deployables in flight at once
    let next = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let i = next++; i < cycles; i = next++) {
          const name = `cycle-${i}`;
          await api.call('deployable_create', { name, config: exampleAs(name) });
          await api.waitReady(name, 1, { context: logs });
          await api.call('deployable_destroy', { name });
          if (i % 20 === 0) counts.push(await systemd.matchRuleCount(connection));
        }
      }),
    );
    counts.push(await systemd.matchRuleCount(connection));
    assert.deepEqual(
      counts,
      counts.map(() => rules),
      'match rules per sample',
    );
    assert.deepEqual(await systemd.listUnits(['dpe@*.service']), []);
    assert.deepEqual(await api.call('deployable_list'), { deployables: [] });
  });

  it('stops cleanly: systemctl stop leaves cpe.service inactive, not failed', async () => {
    await sandbox!.systemctl('stop', 'cpe.service');
    const d = await details('cpe.service');
    assert.equal(d?.activeState ?? 'inactive', 'inactive', await logs());
    assert.notEqual(d?.result, 'exit-code');
  });

  it('leaves nothing on the host', () => {
    assert.deepEqual(
      HOST_PATHS.map((p) => existsSync(p)),
      hostBefore,
    );
  });
});
