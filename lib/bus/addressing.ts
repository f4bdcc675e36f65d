/**
 * Logical addresses and how each kind of AMQP 1.0 peer spells them.
 *
 * Code speaks of two kinds of logical address: a *node* (one object that
 * serves calls, or one client's replies) and a *topic* (events and heartbeats,
 * delivered to every subscriber). A profile, chosen by configuration, turns
 * them into the addresses the peer understands:
 *
 * - `embedded` / `plain`: the names as they are (the embedded router, Qpid
 *   Dispatch — configure multicast distribution for topic names there);
 * - `artemis`: plain names, with the `queue`/`topic` link capabilities
 *   ActiveMQ Artemis uses to pick anycast or multicast;
 * - `rabbitmq`: RabbitMQ's AMQP 1.0 plugin syntax — nodes through
 *   `/exchange/amq.direct/NAME`, topics through `/exchange/amq.topic/NAME`
 *   (each receiving link gets a private, auto-deleted queue);
 * - `rabbitmq-topic`: both through `amq.topic`, where RabbitMQ's topic
 *   permissions can give each user its own routing keys (messages.md,
 *   "Identities").
 */
import { BusError } from './errors.js';

export type AddressKind = 'node' | 'topic';
export type ProfileName = 'embedded' | 'plain' | 'artemis' | 'rabbitmq' | 'rabbitmq-topic';

export const PROFILE_NAMES: readonly ProfileName[] = [
  'embedded',
  'plain',
  'artemis',
  'rabbitmq',
  'rabbitmq-topic',
];

export interface Terminus {
  readonly address: string;
  readonly capabilities?: readonly string[];
  /** AMQP's source distribution-mode: `move` for a node's server (one at a time takes each message). */
  readonly distributionMode?: 'move';
}

export interface AddressProfile {
  readonly name: ProfileName;
  /** Where to send messages for the logical address. */
  target(kind: AddressKind, name: string): Terminus;
  /** Where to receive messages for it from. */
  source(kind: AddressKind, name: string): Terminus;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** Logical names end up in broker addresses and routing keys: a safe alphabet only. */
export function checkAddressName(name: string): string {
  if (!NAME.test(name)) {
    throw new BusError(
      'BAD_ADDRESS',
      `bad logical address "${name}": use [A-Za-z0-9._-], not starting with . or -`,
    );
  }
  return name;
}

const plain: Omit<AddressProfile, 'name'> = {
  target: (_kind, name) => ({ address: checkAddressName(name) }),
  source: (_kind, name) => ({ address: checkAddressName(name) }),
};

const capability = (kind: AddressKind): readonly string[] => [kind === 'topic' ? 'topic' : 'queue'];

const PROFILES: Readonly<Record<ProfileName, AddressProfile>> = {
  // The embedded router gives a node to one server at a time (the first to
  // attach; the next takes over when it goes): no call is carried out twice.
  embedded: {
    name: 'embedded',
    ...plain,
    source: (kind, name) => ({
      address: checkAddressName(name),
      ...(kind === 'node' ? { distributionMode: 'move' as const } : {}),
    }),
  },
  plain: { name: 'plain', ...plain },
  artemis: {
    name: 'artemis',
    target: (kind, name) => ({ address: checkAddressName(name), capabilities: capability(kind) }),
    source: (kind, name) => ({ address: checkAddressName(name), capabilities: capability(kind) }),
  },
  rabbitmq: {
    name: 'rabbitmq',
    target: (kind, name) => ({ address: `/exchange/${exchange(kind)}/${checkAddressName(name)}` }),
    source: (kind, name) => ({ address: `/exchange/${exchange(kind)}/${checkAddressName(name)}` }),
  },
  'rabbitmq-topic': {
    name: 'rabbitmq-topic',
    target: (_kind, name) => ({ address: `/exchange/amq.topic/${checkAddressName(name)}` }),
    source: (_kind, name) => ({ address: `/exchange/amq.topic/${checkAddressName(name)}` }),
  },
};

function exchange(kind: AddressKind): string {
  return kind === 'topic' ? 'amq.topic' : 'amq.direct';
}

export function addressProfile(name: string): AddressProfile {
  const profile = PROFILES[name as ProfileName];
  if (!profile)
    throw new BusError(
      'BAD_PROFILE',
      `unknown address profile "${name}" (one of ${PROFILE_NAMES.join(', ')})`,
    );
  return profile;
}
