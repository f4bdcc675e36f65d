/**
 * Who may use a real CPE's bus (schemas/messages.md, "Identities"): the
 * credentials it writes, cpectl finding its password or saying why not, and
 * the calls and beats it takes only from the DPE they are about.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listCommand } from '../../cli/deployable.js';
import { busCredentialsCommand } from '../../cli/bus-password.js';
import { Bus } from '../../lib/bus/bus.js';
import { HeartbeatSender } from '../../lib/bus/events.js';
import { DPE_HEARTBEATS } from '../../lib/addresses.js';
import { silentLogger } from '../../lib/log.js';
import { RemoteError } from '../../lib/bus/errors.js';
import { eventBody } from '../../lib/bus/qmf.js';
import { CpeClient, CpeProcess, EXAMPLE_NAME, EXAMPLE_XML } from '../support/cpe.js';
import { runCommands } from '../support/cpectl.js';
import { killLeftDpes, waitFor } from '../support/dpe.js';

describe('who may use the CPE bus', function () {
  this.timeout(120_000);
  let cpe: CpeProcess;
  const settings = (): string => join(cpe.stateDir, 'settings.json');
  const bare = (): string => `amqp://127.0.0.1:${cpe.port}`;

  before(async () => {
    cpe = await CpeProcess.create();
    await cpe.start();
  });
  after(async () => {
    await cpe.stop();
    killLeftDpes(cpe.stateDir);
  });

  it('keeps its key to root and gives clients a password root and the group cpe can read', () => {
    const mode = (f: string): number => statSync(join(cpe.stateDir, 'credentials', f)).mode & 0o777;
    assert.equal(mode('.'), 0o750);
    assert.equal(mode('bus.key'), 0o600);
    assert.equal(mode('client'), 0o640);
  });

  it('lets cpectl in with that password, found through --state-dir, and says what to do without it', async () => {
    const found = await runCommands(
      [listCommand],
      ['list', '--config', settings(), '--bus-url', bare(), '--state-dir', cpe.stateDir],
    );
    assert.equal(found.code, 0, found.stderr);
    const without = await runCommands(
      [listCommand],
      [
        'list',
        '--config',
        settings(),
        '--bus-url',
        bare(),
        '--state-dir',
        '/nonexistent',
        '--timeout',
        '5',
      ],
    );
    assert.equal(without.code, 1);
    assert.match(
      without.stderr,
      /the bus wants a user: cpectl logs in with \/nonexistent\/credentials\/client/,
    );
    const wrong = await runCommands(
      [listCommand],
      [
        'list',
        '--config',
        settings(),
        '--bus-url',
        bare().replace('amqp://', 'amqp://client:guess@'),
        '--timeout',
        '5',
      ],
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /the bus refused client's password/);
  });

  it("prints an identity's password for root (cpectl bus-credentials), which logs that identity in", async () => {
    const r = await runCommands(
      [busCredentialsCommand],
      ['bus-credentials', 'alice', '--state-dir', cpe.stateDir],
    );
    assert.equal(r.code, 0, r.stderr);
    const api = new CpeClient(bare().replace('amqp://', `amqp://alice:${r.stdout.trim()}@`));
    try {
      await api.bus.whenUp(10_000);
      assert.ok(Array.isArray((await api.call('deployable_list')).deployables));
    } finally {
      await api.close();
    }
    const missing = await runCommands(
      [busCredentialsCommand],
      ['bus-credentials', 'alice', '--state-dir', '/nonexistent'],
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\/nonexistent\/credentials\/bus\.key: no such file/);
  });

  it("takes a DPE's events only from that DPE", async () => {
    const event = eventBody({
      name: 'deployable_state_change',
      timestamp: Date.now(),
      severity: 'info',
      values: { id: '3b0a8a52-7d5c-4b51-9d0e-2f1d8c1e0a01', deployable: 'web', state: 'running' },
    });
    const submit = async (user: string): Promise<unknown> => {
      const api = new CpeClient(cpe.urlAs(user));
      try {
        await api.bus.whenUp(10_000);
        return await api.call('events_submit', { source: 'dpe.web', events: [event] });
      } catch (err) {
        return err;
      } finally {
        await api.close();
      }
    };
    const asClient = await submit('client');
    assert.ok(
      asClient instanceof RemoteError && asClient.code === 'NOT_AUTHORIZED',
      String(asClient),
    );
    const asOther = await submit('dpe.db');
    assert.ok(asOther instanceof RemoteError && asOther.code === 'NOT_AUTHORIZED', String(asOther));
    assert.deepEqual(await submit('dpe.web'), { accepted: 1, duplicates: 0, refused: [] });
  });

  it("believes a DPE's heartbeat only from that DPE", async () => {
    const api = new CpeClient(cpe.url);
    const impostor = new Bus({
      url: cpe.urlAs('dpe.ghost'),
      profile: 'embedded',
      name: 'dpe.ghost',
      logger: silentLogger(),
    });
    try {
      await api.bus.whenUp(10_000);
      await api.call('deployable_create', { name: EXAMPLE_NAME, config: EXAMPLE_XML });
      await api.waitReady(EXAMPLE_NAME, 1, { context: () => cpe.output });
      await impostor.whenUp(10_000);
      // It beats as the real DPE, claiming a generation that does not exist.
      const beats = new HeartbeatSender(
        impostor,
        DPE_HEARTBEATS,
        `dpe.${EXAMPLE_NAME}`,
        100,
        () => ({
          generation: 99,
          ready: true,
        }),
      );
      beats.start();
      await new Promise((r) => setTimeout(r, 1500));
      beats.stop();
      const status = await api.call('deployable_status', { name: EXAMPLE_NAME });
      // What the real DPE does fits its identity: nothing of it was refused.
      const dpeLog = readFileSync(join(cpe.stateDir, 'dpe', `${EXAMPLE_NAME}.log`), 'utf8');
      assert.doesNotMatch(dpeLog, /refused|unauthorized/, dpeLog.slice(-2000));
      assert.equal(status.dpe_generation, 1, JSON.stringify(status));
      await waitFor(
        () => Promise.resolve(cpe.output),
        (o) => /heartbeat ignored: its sender is not who it beats as/.test(o),
        10_000,
        'the CPE to say it ignored the impostor',
      );
    } finally {
      await api.call('deployable_destroy', { name: EXAMPLE_NAME }).catch(() => undefined);
      await impostor.close();
      await api.close();
    }
  });
});
