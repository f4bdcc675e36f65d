import assert from 'node:assert/strict';
import { describeExit, SystemdSupervisor } from '../../cpe/systemd-supervisor.js';
import type { DpeChange } from '../../cpe/supervisor.js';
import { silentLogger } from '../../lib/log.js';
import { FakeSystemd } from '../support/fake-systemd.js';

const UNIT = 'dpe@wordpress\\x2dha.service';
const NAME = 'wordpress-ha';

async function supervisor(
  systemd = new FakeSystemd(),
): Promise<{ s: SystemdSupervisor; systemd: FakeSystemd; changes: DpeChange[] }> {
  const s = await SystemdSupervisor.create(systemd, silentLogger());
  const changes: DpeChange[] = [];
  s.onChange((c) => changes.push(c));
  return { s, systemd, changes };
}

describe('cpe/systemd-supervisor (fake systemd)', () => {
  it('starts the escaped template instance and learns its pid from the signals', async () => {
    const { s, systemd, changes } = await supervisor();
    await s.start(NAME);
    assert.deepEqual(systemd.calls, [`StartUnit ${UNIT}`]);
    assert.equal(s.state(NAME), 'active');
    assert.equal(s.pid(NAME), 100);
    assert.deepEqual(
      changes.map((c) => [c.state, c.pid]),
      [
        ['activating', 100],
        ['active', 100],
      ],
    );
  });

  it('reports a crash once, and systemd’s own restart as under way, never as inactive', async () => {
    const { s, systemd, changes } = await supervisor();
    await s.start(NAME);
    changes.length = 0;
    systemd.crash(UNIT);
    assert.deepEqual(
      changes.map((c) => [c.state, c.detail, c.pid]),
      [
        ['failed', 'signal KILL', undefined],
        ['activating', 'signal KILL, systemd restarts it', undefined],
        ['active', undefined, 101],
      ],
    );
    assert.equal(s.pid(NAME), 101);
  });

  it('reports a DPE systemd gave up on as failed, and resets it before starting it again', async () => {
    const { s, systemd, changes } = await supervisor();
    await s.start(NAME);
    changes.length = 0;
    systemd.crash(UNIT, 6, true);
    assert.deepEqual(
      changes.map((c) => [c.state, c.detail]),
      [['failed', 'signal ABRT']],
    );
    assert.equal(s.state(NAME), 'failed');
    systemd.calls.length = 0;
    await s.start(NAME);
    assert.deepEqual(systemd.calls, [`ResetFailedUnit ${UNIT}`, `StartUnit ${UNIT}`]);
    assert.equal(s.state(NAME), 'active');
  });

  it('turns a job that did not finish into SUPERVISOR_FAILED', async () => {
    const { s, systemd } = await supervisor();
    systemd.jobResult = 'failed';
    await assert.rejects(s.start(NAME), {
      code: 'SUPERVISOR_FAILED',
      message: `systemd could not start ${UNIT}: job failed`,
    });
    assert.equal(s.state(NAME), 'inactive');
  });

  it('stops the unit and clears a failed instance; reloads only a running one', async () => {
    const { s, systemd, changes } = await supervisor();
    await s.reload(NAME);
    assert.deepEqual(systemd.calls, []);
    await s.start(NAME);
    await s.reload(NAME);
    changes.length = 0;
    await s.stop(NAME);
    assert.deepEqual(systemd.calls.slice(1), [
      `ReloadUnit ${UNIT}`,
      `StopUnit ${UNIT}`,
      `ResetFailedUnit ${UNIT}`,
    ]);
    assert.deepEqual(
      changes.map((c) => [c.state, c.detail]),
      [
        ['deactivating', undefined],
        ['inactive', undefined],
      ],
    );
    assert.equal(s.state(NAME), 'inactive');
    assert.equal(s.pid(NAME), undefined);
  });

  it('adopts the DPE units that run already, with their pids, and ignores other units', async () => {
    const systemd = new FakeSystemd();
    const pid = systemd.running(UNIT);
    systemd.running('cpe.service');
    systemd.running('dpex@other.service');
    const { s } = await supervisor(systemd);
    assert.equal(s.state(NAME), 'active');
    assert.equal(s.pid(NAME), pid);
    assert.deepEqual(await s.running(), [NAME]);
    await s.close();
    assert.deepEqual(systemd.calls, ['close']);
  });

  it('says why a service stopped as the process supervisor does', () => {
    const cases: [Record<string, unknown>, string | undefined][] = [
      [{ Result: 'success', ExecMainCode: 1, ExecMainStatus: 0 }, undefined],
      [{ Result: 'exit-code', ExecMainCode: 1, ExecMainStatus: 3 }, 'exit-code 3'],
      [{ Result: 'signal', ExecMainCode: 2, ExecMainStatus: 15 }, 'signal TERM'],
      [{ Result: 'core-dump', ExecMainCode: 3, ExecMainStatus: 11 }, 'core-dump SEGV'],
      [{ Result: 'watchdog', ExecMainCode: 2, ExecMainStatus: 6 }, 'watchdog (signal ABRT)'],
      [{ Result: 'start-limit-hit' }, 'start-limit-hit'],
      [{}, undefined],
    ];
    for (const [service, want] of cases) assert.equal(describeExit(service), want);
  });
});
