#!/usr/bin/env node
/** The DPE daemon: one per deployable, started by the CPE. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NAME_PATTERN } from '../lib/config/index.js';
import {
  busFrom,
  daemonContext,
  handleSignals,
  orSettingsError,
  startDaemon,
} from '../lib/daemon.js';
import { allowedCommands } from '../lib/recovery.js';
import { DPE_BOUND_TO_ENV } from '../lib/settings.js';
import { Dpe } from './dpe.js';
import { DPE_SETTINGS } from './settings.js';

const USAGE = `usage: dpe --name DEPLOYABLE [SETTINGS]

The Deployable Policy Engine: one per deployable, started by the CPE (as
dpe@DEPLOYABLE.service or a child process). Fetches its config from the CPE
over the bus (SIGHUP fetches it again), watches the assemblies' heartbeats
and services, and carries out what the policy engine plans.`;

const ctx = daemonContext('dpe', USAGE, DPE_SETTINGS);
const { settings: s, notifier } = ctx;
if (ctx.rest.length > 0) {
  process.stderr.write(`dpe: unknown argument ${ctx.rest[0]}\n(dpe --help lists every setting)\n`);
  process.exit(2);
}
if (!NAME_PATTERN.test(s.name)) {
  process.stderr.write(
    s.name
      ? `dpe: --name: "${s.name}" is not a deployable name\n`
      : 'dpe: --name DEPLOYABLE is required\n',
  );
  process.exit(2);
}
// Under systemd the unit's StateDirectory; otherwise a directory of its own under the root.
const stateDir = process.env.STATE_DIRECTORY?.split(':')[0] || join(s.stateRoot, s.name);
const log = ctx.log.child({ deployable: s.name });
try {
  mkdirSync(stateDir, { recursive: true, mode: 0o750 });
} catch {
  // The outbox (and the saved PE inputs) say so, and go on without the directory.
}
const dpe = new Dpe({
  name: s.name,
  bus: orSettingsError('dpe', () => busFrom(s, `dpe.${s.name}`, log.child({ part: 'bus' }))),
  log,
  heartbeatMs: s.heartbeatMs,
  onLoaded: (generation) => notifier.status(`running generation ${generation}`),
  replay: s.replayKeep > 0 ? { dir: stateDir, keep: s.replayKeep } : null,
  recovery: {
    allowed: allowedCommands(s.recoveryCommands),
    qmfAddress: s.recoveryQmfAddress,
    qmfObject: s.recoveryQmfObject,
  },
  agentReconnectMs: s.agentReconnectMs,
  inventoryTimeoutMs: s.inventoryTimeoutMs,
  outbox: { file: join(stateDir, 'outbox.jsonl'), max: s.outboxMax },
});
const signals = handleSignals('dpe', DPE_SETTINGS, ctx, {
  stop: () => dpe.stop(),
  reload: () => dpe.refetch(),
});
// A cluster's CPE started it: once that CPE is gone, another one runs this
// deployable as soon as the dead one's lease runs out, so this copy stops now.
const boundTo = Number(process.env[DPE_BOUND_TO_ENV] ?? 0);
const ORPHAN_EXIT_MS = 1500;
if (boundTo > 0) {
  const orphaned = setInterval(() => {
    if (process.ppid === boundTo) return;
    clearInterval(orphaned);
    log.warn('its CPE is gone: stopping, as another CPE of the cluster will run this deployable', {
      cpe_pid: boundTo,
    });
    process.kill(process.pid, 'SIGTERM');
    // Its engine stops at once; the process must be gone well before the
    // dead CPE's lease can run out, even if the bus does not close in time.
    setTimeout(() => process.exit(0), ORPHAN_EXIT_MS);
  }, 500);
  orphaned.unref();
}
startDaemon(signals, log, async () => {
  notifier.status('fetching the config from the CPE');
  await dpe.start();
  notifier.ready(`running generation ${dpe.generation}`);
});
