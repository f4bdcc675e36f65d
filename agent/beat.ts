/**
 * Heartbeats, as simulated and real agents send them: on the deployable's
 * heartbeat topic, pre-settled, never queued — a beat that cannot go now
 * is lost, which only makes the next one late (schemas/agent-api.md).
 */
import { agentHeartbeats, agentNode } from '../lib/addresses.js';
import type { Bus } from '../lib/bus/bus.js';
import { heartbeatMessage, type QmfMap } from '../lib/bus/qmf.js';

export interface BeatContent {
  readonly epoch: string;
  readonly sequence: number;
  readonly values: QmfMap;
}

/** Sends one beat if the bus can take it now; `next` is asked only then (it counts the sequence). */
export function sendBeat(
  bus: Bus,
  deployable: string,
  assembly: string,
  intervalMs: number,
  next: () => BeatContent | null,
): boolean {
  if (!bus.isUp) return false;
  const sender = bus.sender('topic', agentHeartbeats(deployable), true);
  if (!sender.sendable()) return false;
  const beat = next();
  if (beat === null) return false;
  sender.send(
    bus.sign(
      heartbeatMessage({
        agent: agentNode(deployable, assembly),
        timestamp: Date.now(),
        intervalMs,
        epoch: beat.epoch,
        sequence: beat.sequence,
        values: beat.values,
      }),
    ),
  );
  return true;
}

/**
 * Resolves once the heartbeat link can take a beat (or after `timeoutMs`):
 * a first beat sent before the link is attached would be lost, and a
 * restarted agent heard only an interval later, which can be past its
 * DPE's patience.
 */
export function heartbeatsReady(bus: Bus, deployable: string, timeoutMs: number): Promise<void> {
  const sender = bus.sender('topic', agentHeartbeats(deployable), true);
  if (sender.sendable()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      sender.removeListener('sendable', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    sender.once('sendable', done);
  });
}

/** Calls `beat` every interval, the first after `phaseMs`. */
export class BeatTimer {
  #timer: NodeJS.Timeout | undefined;

  start(intervalMs: number, phaseMs: number, beat: () => void): void {
    this.stop();
    this.#timer = setTimeout(() => {
      beat();
      this.#timer = setInterval(beat, intervalMs);
    }, phaseMs);
  }

  stop(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
