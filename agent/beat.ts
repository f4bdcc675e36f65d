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
