/**
 * PE inputs for tests and benchmarks: every service of a config running at
 * home, as the assemblies' agents last reported.
 */
import type { DeployableConfig } from '../../lib/config/index.js';
import type { AssemblyObservation, PeInput } from '../../pe/index.js';

/**
 * A connected PE input with `assemblies` as observed and every service
 * running on its home assembly. One epoch string per assembly, shared by its
 * instances, as a DPE's observations hold them (an agent's inventory sets
 * them all at once).
 */
export function runningAtHome(
  config: DeployableConfig,
  assemblies: Readonly<Record<string, AssemblyObservation>>,
): PeInput {
  const services: Record<string, PeInput['services'][string]> = {};
  for (const s of config.services) {
    services[s.id] = {
      instances: {
        [s.home]: { state: 'running', epoch: assemblies[s.home]?.epoch ?? null, since: 1000 },
      },
      failures: [],
      lastEscalation: null,
    };
  }
  return {
    config,
    bus: { connected: true, since: 0 },
    assemblies,
    services,
    inFlight: [],
    lastDeployableEscalation: null,
  };
}
