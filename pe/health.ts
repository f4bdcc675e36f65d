/**
 * An assembly's health from its heartbeats, the bus and its recovery record.
 *
 * Silence counts only while the DPE could have heard a beat: from the later of
 * the last beat and the moment the bus (re)connected. So a broker outage or a
 * DPE restart never makes an assembly suspect, let alone down.
 */
import type { AssemblyConfig } from '../lib/config/index.js';
import type { AssemblyObservation, Health, PeInput } from './types.js';

/** A beat may be this late (in intervals) before the assembly is suspect. */
export const SUSPECT_AFTER_INTERVALS = 1.5;

export interface AssemblyHealth {
  readonly health: Health;
  readonly missedBeats: number;
  /** Silence so far (ms) while the bus was up. */
  readonly silence: number;
  /** When the health changes next if no beat arrives, or null. */
  readonly changesAt: number | null;
  readonly reason: string;
}

export function assemblyHealth(
  config: AssemblyConfig,
  obs: AssemblyObservation | undefined,
  bus: PeInput['bus'],
  now: number,
): AssemblyHealth {
  const { intervalMs, missed } = config.heartbeat;
  const last = obs?.lastHeartbeat ?? null;
  const recovery = obs?.recovery ?? null;
  if (!bus.connected) {
    return {
      health: 'unknown',
      missedBeats: 0,
      silence: 0,
      changesAt: null,
      reason: 'the DPE is not connected to the bus',
    };
  }
  if (recovery !== null && (last === null || last <= recovery.at)) {
    if (recovery.state === 'running') {
      return {
        health: 'recovering',
        missedBeats: 0,
        silence: 0,
        changesAt: null,
        reason: `${recovery.kind} in progress`,
      };
    }
    if (recovery.state === 'done') {
      return {
        health: 'recovering',
        missedBeats: 0,
        silence: 0,
        changesAt: null,
        reason:
          recovery.kind === 'fence'
            ? 'fenced; waiting for it to beat again'
            : 'recovered; waiting for its first heartbeat',
      };
    }
  }
  const since = Math.max(last ?? Number.NEGATIVE_INFINITY, bus.since);
  const silence = Math.max(0, now - since);
  const missedBeats = Math.floor(silence / intervalMs);
  const downAt = since + missed * intervalMs;
  const suspectAt = since + SUSPECT_AFTER_INTERVALS * intervalMs;
  if (recovery?.state === 'failed' && (last === null || last <= recovery.at)) {
    return {
      health: 'down',
      missedBeats,
      silence,
      changesAt: null,
      reason: `${recovery.kind} failed`,
    };
  }
  if (now > downAt) {
    const reason =
      last === null
        ? `no heartbeat for ${silence} ms since observation began (deadline ${missed} × ${intervalMs} ms)`
        : `missed ${missedBeats} heartbeats (interval ${intervalMs} ms, down after ${missed})`;
    return { health: 'down', missedBeats, silence, changesAt: null, reason };
  }
  if (last === null) {
    return {
      health: 'unknown',
      missedBeats,
      silence,
      changesAt: downAt + 1,
      reason: 'no heartbeat yet',
    };
  }
  if (missed > 1 && now > suspectAt) {
    return {
      health: 'suspect',
      missedBeats,
      silence,
      changesAt: downAt + 1,
      reason: `heartbeat late by ${silence - intervalMs} ms`,
    };
  }
  return {
    health: 'up',
    missedBeats,
    silence,
    changesAt: missed > 1 ? Math.floor(suspectAt) + 1 : downAt + 1,
    reason: 'beating',
  };
}
