/** The logical addresses the daemons share (schemas/messages.md, "Addresses"). */
export const CPE_NODE = 'cpe';
export const CPE_OBJECT = 'cpe';
/** Events of the CPE: deployable and DPE lifecycle. */
export const CPE_EVENTS = 'cpe.events';
/** Every DPE's heartbeat, carrying the config generation it runs. */
export const DPE_HEARTBEATS = 'cpe.dpe';

export function dpeAgentName(deployable: string): string {
  return `dpe.${deployable}`;
}

export function deployableOfAgent(agent: string): string | undefined {
  return agent.startsWith('dpe.') ? agent.slice(4) : undefined;
}
