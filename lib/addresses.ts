/** The logical addresses the daemons share (schemas/messages.md, "Addresses"). */
export const CPE_NODE = 'cpe';
export const CPE_OBJECT = 'cpe';
/** Events of the CPE: deployable and DPE lifecycle. */
export const CPE_EVENTS = 'cpe.events';
/** The original's three events, in its words and package, for its clients (pcloudsh). */
export const ORIGINAL_EVENTS = 'cpe.events.original';
/** Every DPE's heartbeat, carrying the config generation it runs. */
export const DPE_HEARTBEATS = 'cpe.dpe';

export function dpeAgentName(deployable: string): string {
  return `dpe.${deployable}`;
}

export function deployableOfAgent(agent: string): string | undefined {
  return agent.startsWith('dpe.') ? agent.slice(4) : undefined;
}

/** The DPE's own node: its status (QMF object `dpe`). */
export const DPE_OBJECT = 'dpe';
export function dpeNode(deployable: string): string {
  return `dpe.${deployable}`;
}

/** Where the agents of a deployable's assemblies beat (one topic per deployable). */
export function agentHeartbeats(deployable: string): string {
  return `cpe.heartbeats.${deployable}`;
}

/** An assembly's agent: its node address, and its name on heartbeats. */
export function agentNode(deployable: string, assembly: string): string {
  return `agent.${deployable}.${assembly}`;
}

/** The service calls an agent serves, and the fault injector of a simulated one. */
export const AGENT_OBJECT = 'agent';
export const FAULT_OBJECT = 'fault';
