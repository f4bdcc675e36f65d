/**
 * Who may do what on the embedded router (schemas/messages.md, "Identities").
 * A connection authenticates as a user; the user's name is its identity and
 * gives its role. Each role receives only from its own addresses and sends
 * only where its part of the protocol needs: nobody but the CPE receives the
 * CPE's calls, a DPE serves and beats only as itself, an agent only as its
 * assemblies.
 */
import { CPE_EVENTS, CPE_NODE, DPE_HEARTBEATS, ORIGINAL_EVENTS } from '../addresses.js';

export type Role = 'cpe' | 'dpe' | 'agent' | 'client';

/** The user every client (cpectl, management software) is unless given another name. */
export const CLIENT_USER = 'client';
export const CPE_USER = 'cpe';

const HEARTBEATS = 'cpe.heartbeats.';
const REPLY = 'reply.';

export function roleOf(user: string): Role {
  if (user === CPE_USER) return 'cpe';
  if (user.startsWith('dpe.') && user.length > 4) return 'dpe';
  if (user.startsWith('agent.') && user.length > 6) return 'agent';
  return 'client';
}

/** Addresses that belong to the system's own parts: nobody else may serve or feed them. */
function reserved(address: string): boolean {
  return (
    address === CPE_NODE ||
    address.startsWith('cpe.') ||
    address.startsWith('dpe.') ||
    address.startsWith('agent.') ||
    address.startsWith(REPLY)
  );
}

/** `agent.D.A` beats on D's topic; `agent.D` (all of D's assemblies, a simulator) too. */
function heartbeatTopicsOf(agent: string): (address: string) => boolean {
  const rest = agent.slice('agent.'.length);
  return (address) => {
    if (!address.startsWith(HEARTBEATS)) return false;
    const deployable = address.slice(HEARTBEATS.length);
    return deployable === rest || rest.startsWith(`${deployable}.`);
  };
}

/** Whether `user` may attach a receiver to `address` (reply addresses: see the router's claims). */
export function mayReceive(user: string, address: string): boolean {
  if (address.startsWith(REPLY)) return true;
  switch (roleOf(user)) {
    case 'cpe':
      return true;
    case 'dpe': {
      // The CPE's events say when its config changed (deployable_config_changed).
      const name = user.slice('dpe.'.length);
      return address === user || address === `${HEARTBEATS}${name}` || address === CPE_EVENTS;
    }
    case 'agent':
      return address === user || address.startsWith(`${user}.`);
    case 'client':
      return (
        address === CPE_EVENTS ||
        address === ORIGINAL_EVENTS ||
        address === DPE_HEARTBEATS ||
        address.startsWith(HEARTBEATS) ||
        !reserved(address)
      );
  }
}

/** Whether `user` may send to `address`. */
export function maySend(user: string, address: string): boolean {
  if (address.startsWith(REPLY)) return true;
  switch (roleOf(user)) {
    case 'cpe':
      return true;
    case 'dpe': {
      const name = user.slice('dpe.'.length);
      return (
        address === CPE_NODE ||
        address === DPE_HEARTBEATS ||
        address.startsWith(`agent.${name}.`) ||
        !reserved(address)
      );
    }
    case 'agent':
      return heartbeatTopicsOf(user)(address);
    case 'client':
      // Calls to the CPE, to DPEs (status) and to agents (a simulated one's fault injector).
      return (
        address === CPE_NODE ||
        address.startsWith('dpe.') ||
        address.startsWith('agent.') ||
        !reserved(address)
      );
  }
}

/** A DPE's or an agent's messages must say who sent them (AMQP user-id), checked by the router. */
export function mustSign(user: string): boolean {
  const role = roleOf(user);
  return role === 'dpe' || role === 'agent';
}

/**
 * Whether a message's AMQP user-id lets it speak for `name` (a heartbeat's
 * agent, an event batch's source). No user-id: a bus without identities
 * (authorization off, or a broker with one shared user), which cannot tell.
 * A user-id that is not a DPE's or an agent's (a shared broker user) says
 * nothing either way; only where identities are required is one needed.
 */
export function speaksFor(userId: string | undefined, name: string, required: boolean): boolean {
  if (userId === undefined) return !required;
  const role = roleOf(userId);
  if (role === 'cpe') return true;
  if (role === 'client') return !required;
  return name === userId || (role === 'agent' && name.startsWith(`${userId}.`));
}

/** The AMQP user-id of a received message, as text. */
export function userIdOf(message: { user_id?: unknown }): string | undefined {
  const id = message.user_id;
  if (Buffer.isBuffer(id)) return id.toString('utf8');
  return typeof id === 'string' ? id : undefined;
}
