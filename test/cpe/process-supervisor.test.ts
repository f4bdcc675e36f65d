import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import {
  ProcessSupervisor,
  RUN_DIR_ENV,
  type ProcessSupervisorOptions,
} from '../../cpe/process-supervisor.js';
import type { DpeChange } from '../../cpe/supervisor.js';
import { silentLogger } from '../../lib/log.js';
import { until } from '../support/bus.js';
import { processAlive } from '../support/cpe.js';

/** A stand-in DPE that writes a 1 KiB line every millisecond until SIGTERM ends it. */
const CHATTY = [
  process.execPath,
  '-e',
  "setInterval(() => console.log('x'.repeat(1023)), 1);",
  '--', // what follows (--name NAME) is the script's
];

describe('cpe/process-supervisor (real child processes)', function () {
  this.timeout(30_000);
  let supervisor: ProcessSupervisor | undefined;
  let runDir: string;
  beforeEach(() => (runDir = mkdtempSync(join(tmpdir(), 'cpe-ps-'))));
  afterEach(async () => {
    for (const name of (await supervisor?.running()) ?? []) await supervisor!.stop(name);
    await supervisor?.close();
    rmSync(runDir, { recursive: true, force: true });
  });

  /** A supervisor of CHATTY stand-ins in this test's run directory. */
  function supervise(options: Partial<ProcessSupervisorOptions> = {}): ProcessSupervisor {
    supervisor = new ProcessSupervisor({
      command: CHATTY,
      runDir,
      env: process.env,
      log: silentLogger(),
      ...options,
    });
    return supervisor;
  }

  it('rotates a DPE log past its size, keeping one old log, while the DPE writes on', async () => {
    await supervise({ pollMs: 50, logMaxBytes: 256 * 1024 }).start('chatty');
    const log = join(runDir, 'chatty.log');
    await until(() => existsSync(`${log}.1`), 20_000, 'a rotated log');
    const rotatedSize = statSync(`${log}.1`).size;
    assert.ok(rotatedSize > 256 * 1024, `rotated at ${rotatedSize} bytes`);
    // The DPE carries on writing at the start of the truncated file.
    await until(
      () => statSync(log).size > 0 && statSync(log).size < rotatedSize,
      10_000,
      'new lines',
    );
    assert.match(readFileSync(log, 'utf8').slice(0, 2048), /^x+\n/);
  });

  it('reports a stop it was asked for as inactive (not failed), and forgets it', async () => {
    const ps = supervise();
    const changes: DpeChange[] = [];
    ps.onChange((c) => changes.push(c));
    await ps.start('a');
    await ps.stop('a');
    assert.deepEqual(
      changes.map((c) => [c.state, c.detail]),
      [
        ['active', undefined],
        ['inactive', 'signal TERM'],
      ],
    );
    assert.equal(ps.state('a'), 'inactive');
    assert.equal(existsSync(join(runDir, 'a.pid')), false);
  });

  it('adopts a DPE its CPE died starting, before any pidfile named it, and stops a second one', async () => {
    // As a CPE killed between spawn and pidfile leaves them: running, marked, unwritten.
    const orphan = (): number => {
      const child = spawn(
        process.execPath,
        ['-e', 'setInterval(() => {}, 1000)', '--', '--name', 'lost'],
        {
          detached: true,
          stdio: 'ignore',
          env: { ...process.env, [RUN_DIR_ENV]: runDir },
        },
      );
      child.unref();
      return child.pid!;
    };
    const first = orphan();
    const second = orphan();
    await until(
      () =>
        [first, second].every((pid) =>
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('lost'),
        ),
      5000,
      'the orphans running',
    );
    const ps = supervise();
    assert.deepEqual(await ps.running(), ['lost']);
    assert.equal(ps.state('lost'), 'active');
    const pidfile = JSON.parse(readFileSync(join(runDir, 'lost.pid'), 'utf8')) as { pid: number };
    const kept = pidfile.pid;
    assert.ok([first, second].includes(kept));
    const extra = kept === first ? second : first;
    await until(() => !processAlive(extra), 5000, 'the second DPE stopped');
    assert.ok(processAlive(kept));
    await ps.stop('lost');
    assert.equal(processAlive(kept), false);
  });
});
