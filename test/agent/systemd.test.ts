/**
 * The agent as it is deployed: cpe.service, its DPE as dpe@…service and
 * cpe-agent.service, all under the machine's real systemd booted in private
 * namespaces, the agent managing a real unit from the fixtures over D-Bus.
 * Under CI=true it never skips.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readBusKey } from '../../lib/bus/secrets.js';
import { subscribeEvents } from '../../lib/bus/events.js';
import { qmfText, type BusEvent, type QmfMap } from '../../lib/bus/qmf.js';
import { silentLogger } from '../../lib/log.js';
import { MATCH_RULES, SystemdManager } from '../../lib/systemd/manager.js';
import { requireOrSkip } from '../support/bus.js';
import { CpeClient } from '../support/cpe.js';
import { waitFor } from '../support/dpe.js';
import { poll, sandboxUnavailable, SystemdSandbox } from '../support/systemd-sandbox.js';

const NAME = 'sdagent';
const WEB = 'cpe-test-web.service';
const XML = `<?xml version="1.0" encoding="UTF-8"?>
<deployable name="${NAME}" uuid="uuid-${NAME}" schema_version="2">
  <heartbeat interval="500ms" missed="3"/>
  <assemblies>
    <assembly name="h1" uuid="uuid-h1">
      <services>
        <service name="web" class="systemd" type="cpe-test-web" monitor_interval="500ms" timeout="10s"/>
      </services>
    </assembly>
  </assemblies>
</deployable>
`;

describe('cpe-agent.service managing a systemd unit (sandbox)', function () {
  this.timeout(180_000);
  let sandbox: SystemdSandbox | undefined;
  let systemd: SystemdManager;
  let api: CpeClient;
  const events: BusEvent[] = [];

  const status = (): Promise<QmfMap> => api.call('deployable_status', { name: NAME });
  const mainPid = async (unit: string): Promise<number> =>
    (await systemd.unitDetails(unit))?.mainPid ?? 0;
  const logs = async (): Promise<string> =>
    sandbox
      ? `cpe-agent.service:\n${await sandbox.journal('cpe-agent.service')}\ndpe:\n${await sandbox.journal(`dpe@${NAME}.service`)}`
      : '';

  before(async function () {
    requireOrSkip(this, 'real systemd', sandboxUnavailable());
    sandbox = await SystemdSandbox.boot();
    // One settings file, as an operator writes /etc/cpe/cpe.json: each daemon reads its part.
    await sandbox.installUnits({
      dpe: { agentReconnectMs: 2000 },
      agent: { deployable: NAME, assembly: 'h1', heartbeatMs: 500 },
    });
    writeFileSync(
      sandbox.path(`/run/systemd/system/${WEB}`),
      '[Unit]\nDescription=CPE test web\n[Service]\nExecStart=/bin/sleep infinity\n',
    );
    await sandbox.systemctl('daemon-reload');
    const start = (unit: string): Promise<unknown> =>
      sandbox!.systemctl('start', unit).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await logs()}`);
      });
    await start('cpe.service');
    // The agent's password, as an operator gives it: cpectl bus-credentials on the
    // CPE's host, and a drop-in handing the file to the unit (LoadCredential=).
    const password = readBusKey(sandbox.path('/var/lib/cpe')).password(`agent.${NAME}.h1`);
    writeFileSync(sandbox.path('/run/cpe-test/agent-bus-password'), `${password}\n`, {
      mode: 0o600,
    });
    writeFileSync(
      sandbox.path('/run/systemd/system/cpe-agent.service.d/password.conf'),
      '[Service]\nLoadCredential=bus-password:/run/cpe-test/agent-bus-password\n',
    );
    await sandbox.systemctl('daemon-reload');
    await start('cpe-agent.service');
    systemd = await SystemdManager.connect(silentLogger(), sandbox.busAddress);
    api = new CpeClient(await sandbox.busUrl(5673));
    await api.bus.whenUp(15_000);
    await subscribeEvents(api.bus, 'cpe.events', (e) => events.push(e), {
      values: { deployable: NAME },
    }).ready;
    await api.call('deployable_create', { name: NAME, config: XML });
  });

  after(async () => {
    await api?.close();
    systemd?.close();
    await sandbox?.destroy();
  });

  it('runs as Type=notify, READY once beating, and starts the unit for the DPE', async () => {
    const { stdout } = await sandbox!.systemctl('show', 'cpe-agent.service', '-p', 'StatusText');
    assert.match(stdout, /StatusText=assembly h1 of sdagent, session [0-9a-f-]{36}/);
    await waitFor(status, (s) => s.state === 'running', 60_000, 'the deployable running').catch(
      async (err: Error) => {
        throw new Error(`${err.message}\n${await logs()}`);
      },
    );
    assert.equal((await systemd.unitDetails(WEB))?.activeState, 'active');
  });

  it('holds two D-Bus match rules, however many units it touched', async () => {
    const agent = await mainPid('cpe-agent.service');
    const connections = await systemd.connectionsOfPid(agent);
    assert.equal(connections.length, 1, 'one connection to the system bus');
    assert.equal(await systemd.matchRuleCount(connections[0]), MATCH_RULES.length);
  });

  it('has the unit restarted when it is killed (systemctl kill)', async () => {
    const mark = events.length;
    const before = await mainPid(WEB);
    assert.ok(before > 0);
    await sandbox!.systemctl('kill', '--signal=KILL', WEB);
    await waitFor(
      () => Promise.resolve(events.slice(mark)),
      (l) =>
        l.some(
          (e) =>
            e.name === 'action_finished' &&
            e.values.type === 'restart' &&
            e.values.service === 'rsc_h1_web',
        ),
      30_000,
      'the restart of web',
    );
    const after = await poll(10_000, async () => {
      const pid = await mainPid(WEB);
      return pid > 0 && pid !== before ? pid : undefined;
    });
    assert.notEqual(after, before);
  });

  it('after the agent restarts, probes the unit and restarts nothing', async () => {
    const pid = await mainPid(WEB);
    const epoch = async (): Promise<string> =>
      qmfText(((await status()).assemblies as QmfMap[])[0]!.epoch);
    const old = await epoch();
    const mark = events.length;
    await sandbox!.systemctl('restart', 'cpe-agent.service');
    await waitFor(epoch, (e) => e !== old, 30_000, 'the new agent session');
    await new Promise((r) => setTimeout(r, 2000));
    const acted = events
      .slice(mark)
      .filter((e) => e.name === 'action_started' && e.values.type !== 'notify');
    assert.deepEqual(acted, []);
    assert.equal(await mainPid(WEB), pid, 'the same process runs');
  });

  it('stops cleanly: systemctl stop leaves the agent inactive, not failed', async () => {
    await sandbox!.systemctl('stop', 'cpe-agent.service');
    const d = await systemd.unitDetails('cpe-agent.service');
    assert.equal(d?.activeState ?? 'inactive', 'inactive');
    assert.equal((await systemd.unitDetails(WEB))?.activeState, 'active', 'the unit it ran stays');
  });
});
