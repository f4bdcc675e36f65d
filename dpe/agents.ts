/** The agents of a deployable's assemblies, over the bus (schemas/agent-api.md). */
import { AGENT_OBJECT, agentNode } from '../lib/addresses.js';
import { readInventory, readOpResult, specArgs } from '../lib/agent/protocol.js';
import type { MethodClient } from '../lib/bus/client.js';
import type { AgentPort } from './actions.js';

export function busAgents(client: MethodClient, deployable: string): AgentPort {
  const target = (assembly: string) => ({
    address: agentNode(deployable, assembly),
    object: AGENT_OBJECT,
  });
  return {
    inventory: async (assembly, timeoutMs) =>
      readInventory(await client.call(target(assembly), 'inventory', {}, timeoutMs)),
    call: async (assembly, op, spec, timeoutMs, intervalMs) =>
      // The agent times the operation out itself; our wait allows for the trip.
      readOpResult(
        await client.call(
          target(assembly),
          op,
          specArgs(spec, timeoutMs, intervalMs),
          timeoutMs + 2000,
        ),
      ),
  };
}
