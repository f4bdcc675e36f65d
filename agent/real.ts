/**
 * A real agent put together from its settings: the three service classes,
 * the list of managed services in the state directory, and the runner.
 */
import type { Bus } from '../lib/bus/bus.js';
import type { Logger } from '../lib/log.js';
import type { Settings } from '../lib/settings.js';
import { Agent } from './agent.js';
import { LsbDriver } from './lsb.js';
import { ManagedServices } from './managed.js';
import { OcfDriver } from './ocf.js';
import { ServiceRunner } from './services.js';
import type { AGENT_SETTINGS } from './settings.js';
import { SystemdDriver } from './systemd.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * What resource agents and init scripts see of the agent's environment:
 * PATH, the locale and the heartbeat conventions (HA_RSCTMP, HA_debug, …),
 * never the rest (bus credentials, NOTIFY_SOCKET).
 */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { PATH: env.PATH || DEFAULT_PATH, LC_ALL: 'C' };
  for (const [k, v] of Object.entries(env)) if (k.startsWith('HA_') && v !== undefined) out[k] = v;
  return out;
}

export function createAgent(
  s: Settings<typeof AGENT_SETTINGS>,
  stateDir: string,
  bus: Bus,
  log: Logger,
): Agent {
  const env = childEnv(process.env);
  const runner = new ServiceRunner({
    drivers: {
      ocf: new OcfDriver({ root: s.ocfRoot, env }),
      lsb: new LsbDriver({ dir: s.lsbDir, env }),
      systemd: new SystemdDriver({
        log: log.child({ part: 'systemd' }),
        allowed: s.units.split(/\s+/).filter(Boolean),
        ...(s.systemdBus ? { busAddress: s.systemdBus } : {}),
      }),
    },
    managed: new ManagedServices(stateDir),
    defaultTimeoutMs: s.defaultTimeoutMs,
    inventoryMonitorMs: s.inventoryMonitorMs,
    log,
  });
  return new Agent({
    bus,
    deployable: s.deployable,
    assembly: s.assembly,
    intervalMs: s.heartbeatMs,
    runner,
    hostname: s.hostname,
    address: s.address,
    log,
  });
}
