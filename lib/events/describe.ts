/**
 * An event as one line for people: the simulator's timeline, the demo, the
 * event log's `text` (searched by the `text` filter), cpectl events.
 */
import { qmfText, type QmfMap } from '../bus/qmf.js';

/** An event of the DPE's as one line for people (the simulator's timeline, the demo). */
export function describeEvent(name: string, v: QmfMap): string {
  const s = (k: string): string => qmfText(v[k]);
  switch (name) {
    case 'assembly_state_change':
      return `assembly ${s('assembly')} ${s('previous') || 'new'} → ${s('state')}: ${s('reason')}`;
    case 'service_state_change':
      return `service ${s('service')} on ${s('assembly')}: ${s('previous') || 'new'} → ${s('state')} (${s('reason')})`;
    case 'deployable_state_change':
      return `deployable ${s('previous') || 'new'} → ${s('state')}: ${s('reason')}`;
    case 'action_started':
      return `start  ${s('type')} ${target(v)}  [${s('rule')}] ${s('reason')}`;
    case 'action_finished':
      return `done   ${s('type')} ${target(v)}: ${s('detail')}`;
    case 'action_failed':
      return `FAILED ${s('type')} ${target(v)}: ${s('detail')}`;
    case 'action_blocked':
      return `BLOCKED ${target(v)}: ${s('reason')}`;
    case 'notify':
      return `notify ${s('reason')}`;
    default: {
      // Others' events (the CPE's): the name and what it carries.
      const rest = Object.entries(v)
        .filter(([k, x]) => k !== 'id' && k !== 'deployable' && x !== null)
        .map(([k, x]) => `${k}=${qmfText(x)}`);
      return [name, ...rest].join(' ');
    }
  }
}

function target(v: QmfMap): string {
  const service = qmfText(v.service);
  const assembly = qmfText(v.assembly);
  if (v.to !== undefined) return `${service} ${qmfText(v.from)} → ${qmfText(v.to)}`;
  if (service && assembly) return `${service} on ${assembly}`;
  return service || assembly;
}
