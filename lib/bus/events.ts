/**
 * Events and heartbeats on topic addresses: QMF `_data_indication`
 * (qmf.content=_event) and `_agent_heartbeat_indication`, sent pre-settled
 * (a lost heartbeat is only a late one). Subscribers may filter.
 */
import rhea from 'rhea';
import type { Logger } from '../log.js';
import type { Bus, Subscription } from './bus.js';
import { speaksFor, userIdOf } from './identity.js';
import {
  Malformed,
  eventMessage,
  heartbeatMessage,
  parseEvents,
  parseHeartbeat,
  SEVERITIES,
  type BusEvent,
  type Heartbeat,
  type QmfMap,
  type Severity,
} from './qmf.js';

export interface EventFilter {
  /** Only these event classes. */
  readonly names?: readonly string[];
  /** Only events whose values have these (e.g. { deployable: 'wordpress' }). */
  readonly values?: Readonly<Record<string, string | number | boolean>>;
  /** Only this severe or worse. */
  readonly severity?: Severity;
}

export function matchesFilter(event: BusEvent, filter: EventFilter): boolean {
  if (filter.names && !filter.names.includes(event.name)) return false;
  if (filter.severity && SEVERITIES.indexOf(event.severity) > SEVERITIES.indexOf(filter.severity))
    return false;
  for (const [key, want] of Object.entries(filter.values ?? {})) {
    if (event.values[key] !== want) return false;
  }
  return true;
}

/**
 * Publishes events, held in order while the link has no credit; while the
 * bus is down they are not queued here (callers needing delivery keep an
 * outbox).
 */
export function publishEvents(
  bus: Bus,
  topic: string,
  events: readonly BusEvent[],
  packageName?: string,
): boolean {
  if (!bus.isUp || events.length === 0) return false;
  const sender = bus.sender('topic', topic, true);
  for (const event of events) bus.post(sender, eventMessage(event, packageName));
  return true;
}

export function subscribeEvents(
  bus: Bus,
  topic: string,
  handler: (event: BusEvent) => void,
  filter: EventFilter = {},
  log?: Logger,
): Subscription {
  return bus.receive({ kind: 'topic', name: topic }, (message) => {
    const events = parseEvents(message);
    if (events instanceof Malformed) {
      log?.warn('malformed event message ignored', { reason: events.reason });
      return;
    }
    for (const event of events) if (matchesFilter(event, filter)) handler(event);
  });
}

/**
 * Sends a heartbeat every interval while the bus is up. The epoch is new
 * for every sender, so a restarted agent is a new session to its DPE.
 */
export class HeartbeatSender {
  readonly epoch = rhea.generate_uuid();
  #sequence = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly topic: string,
    private readonly agent: string,
    private readonly intervalMs: number,
    private readonly values: () => QmfMap = () => ({}),
  ) {}

  get sequence(): number {
    return this.#sequence;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.beat(), this.intervalMs);
    // A link opened just now has no credit yet: the first beat goes as soon
    // as it has, not an interval later (a DPE is "ready" at its first beat).
    if (!this.beat() && this.bus.isUp) {
      this.bus.sender('topic', this.topic, true).once('sendable', () => {
        if (this.#timer && this.#sequence === 0) this.beat();
      });
    }
  }

  /** Sends one heartbeat now (if the bus is up and can take it: a beat never waits); returns whether it was sent. */
  beat(): boolean {
    if (!this.bus.isUp) return false;
    const sender = this.bus.sender('topic', this.topic, true);
    if (!sender.sendable()) return false; // a lost beat is only a late one
    this.#sequence += 1;
    const beat: Heartbeat = {
      agent: this.agent,
      timestamp: Date.now(),
      intervalMs: this.intervalMs,
      epoch: this.epoch,
      sequence: this.#sequence,
      values: this.values(),
    };
    sender.send(this.bus.sign(heartbeatMessage(beat)));
    return true;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export function subscribeHeartbeats(
  bus: Bus,
  topic: string,
  handler: (beat: Heartbeat) => void,
  filter: { readonly agents?: readonly string[] } = {},
  log?: Logger,
): Subscription {
  const impostors = new Set<string>();
  return bus.receive(
    { kind: 'topic', name: topic },
    (message) => {
      const beat = parseHeartbeat(message);
      if (beat instanceof Malformed) {
        log?.warn('malformed heartbeat ignored', { reason: beat.reason });
        return;
      }
      if (filter.agents && !filter.agents.includes(beat.agent)) return;
      // A DPE or an agent beats only as itself (schemas/messages.md, "Identities").
      const userId = userIdOf(message);
      if (!speaksFor(userId, beat.agent, false)) {
        const key = `${userId} ${beat.agent}`;
        if (impostors.size < 100 && !impostors.has(key)) {
          impostors.add(key);
          log?.warn('heartbeat ignored: its sender is not who it beats as', {
            user: userId ?? '',
            agent: beat.agent,
          });
        }
        return;
      }
      handler(beat);
    },
    { credit: 2000 },
  );
}
