#!/usr/bin/env node
/** The DPE daemon: one per deployable, started by the CPE. */
import { busFrom, daemonContext, handleSignals } from '../lib/daemon.js';
import { errorMessage } from '../lib/errors.js';
import { Dpe } from './dpe.js';
import { DPE_SETTINGS } from './settings.js';

const USAGE = `usage: dpe --name DEPLOYABLE [SETTINGS]

The Deployable Policy Engine: one per deployable, started by the CPE (as
dpe@DEPLOYABLE.service or a child process). Fetches its config from the CPE
over the bus; SIGHUP fetches it again.`;

const ctx = daemonContext('dpe', USAGE, DPE_SETTINGS);
const { settings: s, notifier } = ctx;
if (!s.name) {
  process.stderr.write('dpe: --name DEPLOYABLE is required\n');
  process.exit(2);
}
const log = ctx.log.child({ deployable: s.name });
const dpe = new Dpe({
  name: s.name,
  bus: busFrom(s, `dpe.${s.name}`, log.child({ part: 'bus' })),
  log,
  heartbeatMs: s.heartbeatMs,
  onLoaded: (generation) => notifier.status(`running generation ${generation}`),
});
handleSignals('dpe', DPE_SETTINGS, ctx, {
  stop: () => dpe.stop(),
  reload: () => dpe.refetch(),
});
try {
  notifier.status('fetching the config from the CPE');
  await dpe.start();
  notifier.ready(`running generation ${dpe.generation}`);
} catch (err) {
  log.error('cannot start', { error: errorMessage(err) });
  process.exit(1);
}
