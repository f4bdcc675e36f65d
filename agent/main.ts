#!/usr/bin/env node
/** The agent daemon: one per assembly, or many simulated ones (--simulate). */
import { redactUrl } from '../lib/bus/bus.js';
import { NAME_PATTERN } from '../lib/config/index.js';
import {
  busFrom,
  daemonContext,
  handleSignals,
  orSettingsError,
  startDaemon,
} from '../lib/daemon.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { createAgent } from './real.js';
import { AGENT_SETTINGS } from './settings.js';
import { simulatedHosts, SimulatedAgents } from './simulated.js';

const USAGE = `usage: cpe-agent --deployable NAME --assembly NAME [SETTINGS]
       cpe-agent --simulate (--deployable-config FILE | --deployable NAME --count N) [SETTINGS]

The agent on an assembly: heartbeats with the host's load and memory, and
starts, stops and monitors the assembly's services (classes systemd, ocf
and lsb) for its deployable's DPE (schemas/agent-api.md). With --simulate
it runs many simulated assemblies in this one process instead, services
"running" in memory, each with a fault injector on the bus (cpectl fault).`;

const ctx = daemonContext('cpe-agent', USAGE, AGENT_SETTINGS);
const { settings: s, notifier } = ctx;
function usage(problem: string): never {
  process.stderr.write(`cpe-agent: ${problem}\n(cpe-agent --help lists every setting)\n`);
  process.exit(2);
}
if (ctx.rest.length > 0) usage(`unknown argument ${ctx.rest[0]}`);

// A function, not top-level awaits: the built agent is one CommonJS bundle (lib/code-cache.ts).
async function main(): Promise<void> {
  let service: { start(): Promise<void>; stop(): void; readonly ready: string };
  let log = ctx.log;
  let bus;
  if (s.simulate) {
    const plan = await simulatedHosts(s).catch((err: unknown) => {
      if (err instanceof CpeError && err.code === 'USAGE') usage(err.message);
      process.stderr.write(`cpe-agent: ${errorMessage(err)}\n`);
      process.exit(1);
    });
    log = log.child({ deployable: plan.deployable });
    // One connection serves every assembly of the deployable: it is all of them.
    bus = orSettingsError('cpe-agent', () =>
      busFrom(s, 'cpe-agent', log.child({ part: 'bus' }), { user: `agent.${plan.deployable}` }),
    );
    const agents = new SimulatedAgents(bus, plan.deployable, plan.hosts, log);
    service = {
      start: () => agents.start(),
      stop: () => agents.stop(),
      ready: `simulating ${agents.count} assemblies of ${plan.deployable}`,
    };
  } else {
    for (const [flag, value] of [
      ['--deployable', s.deployable],
      ['--assembly', s.assembly],
    ] as const) {
      if (!value) usage(`${flag} NAME is required (or --simulate for simulated assemblies)`);
      if (!NAME_PATTERN.test(value))
        usage(`${flag}: "${value}" is not a name (${NAME_PATTERN.source})`);
    }
    if (s.heartbeatMs < 50) usage('--heartbeat-ms: at least 50');
    log = log.child({ deployable: s.deployable, assembly: s.assembly });
    bus = orSettingsError('cpe-agent', () =>
      busFrom(s, `agent.${s.deployable}.${s.assembly}`, log.child({ part: 'bus' })),
    );
    // Under systemd the unit's StateDirectory.
    const stateDir = process.env.STATE_DIRECTORY?.split(':')[0] || s.stateDir;
    let agent;
    try {
      agent = createAgent(s, stateDir, bus, log);
    } catch (err) {
      process.stderr.write(`cpe-agent: ${errorMessage(err)}\n`);
      process.exit(1);
    }
    service = {
      start: () => agent.start(),
      stop: () => agent.stop(),
      ready: `assembly ${s.assembly} of ${s.deployable}, session ${agent.epoch}`,
    };
  }

  const theBus = bus;
  const signals = handleSignals('cpe-agent', AGENT_SETTINGS, ctx, {
    stop: async () => {
      service.stop();
      await theBus.close();
    },
  });
  startDaemon(
    signals,
    log,
    async () => {
      notifier.status('connecting to the bus');
      await theBus.whenUp(30_000);
      await service.start();
      notifier.ready(service.ready);
      log.info('ready', { status: service.ready });
    },
    (err) =>
      err instanceof CpeError && err.code === 'BUS_DOWN'
        ? `${errorMessage(err)}; is the CPE (its embedded router) running, or --bus-url pointing at the broker? (${redactUrl(s.busUrl)})`
        : errorMessage(err),
  );
}

void main();
