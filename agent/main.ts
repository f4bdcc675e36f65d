#!/usr/bin/env node
/** The agent daemon. This release runs simulated assemblies (--simulate). */
import { readFile } from 'node:fs/promises';
import { redactUrl } from '../lib/bus/bus.js';
import { loadDeployableConfig, NAME_PATTERN } from '../lib/config/index.js';
import { busFrom, daemonContext, handleSignals } from '../lib/daemon.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { AGENT_SETTINGS } from './settings.js';
import { SimulatedAgents, type SimulatedHost } from './simulated.js';

const USAGE = `usage: cpe-agent --simulate (--deployable-config FILE | --deployable NAME --count N) [SETTINGS]

The agent on an assembly: heartbeats, and starts, stops and monitors services
for the assembly's DPE (schemas/agent-api.md). With --simulate it runs many
simulated assemblies in this one process, services "running" in memory, each
with a fault injector reachable over the bus (cpectl fault).`;

const ctx = daemonContext('cpe-agent', USAGE, AGENT_SETTINGS);
const { settings: s, log, notifier } = ctx;
function usage(problem: string): never {
  process.stderr.write(`cpe-agent: ${problem}\n(cpe-agent --help lists every setting)\n`);
  process.exit(2);
}
if (ctx.rest.length > 0) usage(`unknown argument ${ctx.rest[0]}`);
if (!s.simulate)
  usage(
    'this release of cpe-agent runs simulated assemblies only: start it with --simulate (running real services through systemd, OCF and LSB is not built yet)',
  );

let deployable = s.deployable;
let hosts: SimulatedHost[];
if (s.deployableConfig) {
  let config;
  try {
    ({ config } = await loadDeployableConfig(await readFile(s.deployableConfig), {
      file: s.deployableConfig,
    }));
  } catch (err) {
    process.stderr.write(`cpe-agent: ${s.deployableConfig}: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  if (deployable && deployable !== config.name)
    usage(`--deployable ${deployable} but the config names ${config.name}`);
  deployable = config.name;
  hosts = config.assemblies.map((a, i) => ({
    name: a.name,
    intervalMs: a.heartbeat.intervalMs,
    cpus: a.capacity.cpu ?? 2,
    memoryMb: a.capacity.memoryMb ?? 4096,
    address: a.address ?? `127.0.1.${(i % 254) + 1}`,
  }));
} else {
  if (!deployable) usage('--deployable NAME (or --deployable-config FILE) is required');
  if (s.count < 1) usage('--count N (at least 1) or --deployable-config FILE is required');
  hosts = Array.from({ length: s.count }, (_, i) => ({
    name: `asm-${i + 1}`,
    intervalMs: s.heartbeatMs,
    cpus: 2,
    memoryMb: 4096,
    address: `127.0.1.${(i % 254) + 1}`,
  }));
}
if (!NAME_PATTERN.test(deployable)) usage(`--deployable: "${deployable}" is not a deployable name`);

const bus = busFrom(s, 'cpe-agent', log.child({ part: 'bus' }));
const agents = new SimulatedAgents(bus, deployable, hosts, log.child({ deployable }));
handleSignals('cpe-agent', AGENT_SETTINGS, ctx, {
  stop: async () => {
    agents.stop();
    await bus.close();
  },
});
try {
  notifier.status('connecting to the bus');
  await bus.whenUp(30_000);
  await agents.start();
  notifier.ready(`simulating ${agents.count} assemblies of ${deployable}`);
  log.info('ready', { deployable, assemblies: agents.count, simulated: true });
} catch (err) {
  const hint =
    err instanceof CpeError && err.code === 'BUS_DOWN'
      ? `; is the CPE (its embedded router) running, or --bus-url pointing at the broker? (${redactUrl(s.busUrl)})`
      : '';
  log.error('cannot start', { error: `${errorMessage(err)}${hint}` });
  process.exit(1);
}
