/**
 * The recovery drivers with real parts: commands run as child processes
 * (without a shell, killed whole at their timeout), and the qmf driver's
 * call to a real method server on an embedded router.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recoveryPort } from '../../dpe/recovery.js';
import type { Bus } from '../../lib/bus/bus.js';
import { MethodClient } from '../../lib/bus/client.js';
import { MethodServer } from '../../lib/bus/server.js';
import type { AssemblyConfig, DeployableConfig } from '../../lib/config/index.js';
import { silentLogger } from '../../lib/log.js';
import { connect, embedded, type Transport } from '../support/bus.js';

const log = silentLogger();
const dir = mkdtempSync(join(tmpdir(), 'cpe-recovery-'));

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

function assembly(recovery: AssemblyConfig['recovery']): AssemblyConfig {
  return {
    name: 'web1',
    uuid: 'uuid-web1',
    address: '192.0.2.10',
    escalation: null,
    heartbeat: { intervalMs: 1000, missed: 3 },
    recovery,
    capacity: { cpu: null, memoryMb: null },
    services: [],
    line: 1,
  };
}

const deployable = { name: 'shop' } as DeployableConfig;

describe('recovery drivers', function () {
  this.timeout(20_000);
  let transport: Transport;
  let clientBus: Bus;
  let client: MethodClient;
  const bus = () => client;

  before(async () => {
    transport = await embedded();
    clientBus = connect(transport, 'recovery-test');
    await clientBus.whenUp(5000);
    client = new MethodClient(clientBus, { name: 'recovery-test', logger: log });
  });
  after(async () => {
    client.close();
    await clientBus.close();
    await transport.stop();
  });

  const port = (allowed: string[]) =>
    recoveryPort({
      allowed,
      qmf: { client: bus(), address: 'cloud.recovery', object: 'recovery' },
      log,
    });

  it('runs an allowed command, without a shell, with the action, names and uuid', async () => {
    const out = join(dir, 'args');
    const cmd = script(
      'recover',
      `echo "$1|$2|$3|$4|$CPE_RECOVERY_ACTION|$CPE_RECOVERY_ASSEMBLY_ADDRESS|$HOME" > ${out}; echo rebooted`,
    );
    const r = await port([cmd]).run(
      'fence',
      assembly({ driver: 'command', command: cmd, timeoutMs: 5000 }),
      deployable,
    );
    assert.equal(r.ok, true, r.detail);
    assert.match(r.detail, /exit 0: rebooted$/);
    // Only PATH and the CPE_RECOVERY_* variables: nothing of the DPE's own environment.
    assert.equal(readFileSync(out, 'utf8'), 'fence|shop|web1|uuid-web1|fence|192.0.2.10|\n');
  });

  it('refuses a command the host does not allow, and runs nothing', async () => {
    const marker = join(dir, 'ran');
    const cmd = script('evil', `touch ${marker}`);
    const r = await port(['/usr/libexec/cpe/recover-assembly']).run(
      'recover',
      assembly({ driver: 'command', command: cmd, timeoutMs: 5000 }),
      deployable,
    );
    assert.equal(r.ok, false);
    assert.match(r.detail, /is not allowed on this host \(recovery\.commands\)/);
    assert.equal(existsSync(marker), false);
  });

  it('reports a failing command with its exit status and last line', async () => {
    const cmd = script('fails', 'echo "no such VM" >&2; exit 3');
    const r = await port([cmd]).run(
      'recover',
      assembly({ driver: 'command', command: cmd, timeoutMs: 5000 }),
      deployable,
    );
    assert.equal(r.ok, false);
    assert.match(r.detail, /exit 3: no such VM$/);
  });

  it('kills the whole process group of a command past its timeout', async () => {
    const pidFile = join(dir, 'child.pid');
    const cmd = script('hangs', `sleep 60 & echo $! > ${pidFile}; wait`);
    const started = Date.now();
    const r = await port([cmd]).run(
      'recover',
      assembly({ driver: 'command', command: cmd, timeoutMs: 500 }),
      deployable,
    );
    assert.equal(r.ok, false);
    assert.match(r.detail, /timed out after 500 ms/);
    assert.ok(Date.now() - started < 5000);
    const child = Number(readFileSync(pidFile, 'utf8'));
    await new Promise((res) => setTimeout(res, 100));
    // Gone, or a zombie waiting for a reaper (PID 1 here may not reap).
    const state = existsSync(`/proc/${child}/stat`)
      ? readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]?.charAt(0)
      : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `the background child is ${state}`);
  });

  it('calls cloud management software for the qmf driver, and takes its rc', async () => {
    const calls: unknown[] = [];
    const b = connect(transport, 'cloud');
    await b.whenUp(5000);
    const server = new MethodServer(b, {
      address: 'cloud.recovery',
      logger: log,
      objects: {
        recovery: {
          recover_assembly: {
            args: {
              deployable: { type: 'string' },
              assembly: { type: 'string' },
              uuid: { type: 'string' },
            },
            handler: (a) => {
              calls.push(a);
              return { rc: 0 };
            },
          },
          fence_assembly: {
            args: {
              deployable: { type: 'string' },
              assembly: { type: 'string' },
              uuid: { type: 'string' },
            },
            handler: () => ({ rc: 1 }),
          },
        },
      },
    });
    await server.start();
    try {
      const qmf = assembly({ driver: 'qmf', timeoutMs: 5000 });
      const ok = await port([]).run('recover', qmf, deployable);
      assert.equal(ok.ok, true, ok.detail);
      assert.deepEqual(calls, [{ deployable: 'shop', assembly: 'web1', uuid: 'uuid-web1' }]);
      const refused = await port([]).run('fence', qmf, deployable);
      assert.equal(refused.ok, false);
      assert.match(refused.detail, /fence_assembly answered rc 1/);
    } finally {
      server.close();
      await b.close();
    }
  });
});
