/**
 * What the DPEs say of themselves: each beats on the DPE heartbeat topic
 * with the config generation it runs. A DPE is *ready* when it beats, on
 * time, with the generation the store holds.
 */
import { deployableOfAgent, DPE_HEARTBEATS } from '../lib/addresses.js';
import type { Bus, Subscription } from '../lib/bus/bus.js';
import { subscribeHeartbeats } from '../lib/bus/events.js';
import type { Heartbeat, QmfMap } from '../lib/bus/qmf.js';
import type { Logger } from '../lib/log.js';

export interface DpeReport {
  readonly generation: number;
  readonly pid: number;
  /** What the DPE last said of its deployable, when it has planned: state and counts. */
  readonly summary: QmfMap | null;
  readonly epoch: string;
  readonly at: number;
  readonly intervalMs: number;
}

export class DpeWatch {
  readonly #reports = new Map<string, DpeReport>();
  readonly #listeners: ((name: string, report: DpeReport, first: boolean) => void)[] = [];
  readonly #subscription: Subscription;

  constructor(bus: Bus, log: Logger, now: () => number = Date.now) {
    this.#subscription = subscribeHeartbeats(
      bus,
      DPE_HEARTBEATS,
      (beat: Heartbeat) => {
        const name = deployableOfAgent(beat.agent);
        if (name === undefined) return;
        const previous = this.#reports.get(name);
        const report: DpeReport = {
          generation: Number(beat.values.generation ?? 0),
          pid: Number(beat.values.pid ?? 0),
          summary:
            typeof beat.values.state === 'string'
              ? {
                  state: beat.values.state,
                  assemblies_up: beat.values.assemblies_up ?? null,
                  assemblies: beat.values.assemblies ?? null,
                  services_running: beat.values.services_running ?? null,
                  services: beat.values.services ?? null,
                }
              : null,
          epoch: beat.epoch,
          at: now(),
          intervalMs: beat.intervalMs,
        };
        this.#reports.set(name, report);
        const first = previous?.epoch !== report.epoch || previous.generation !== report.generation;
        for (const l of this.#listeners) l(name, report, first);
      },
      {},
      log,
    );
  }

  get ready(): Promise<void> {
    return this.#subscription.ready;
  }

  report(name: string): DpeReport | undefined {
    return this.#reports.get(name);
  }

  /** Beating within three intervals, on `generation`. */
  isReady(name: string, generation: number, now = Date.now()): boolean {
    const r = this.#reports.get(name);
    return r !== undefined && r.generation === generation && now - r.at <= 3 * r.intervalMs;
  }

  forget(name: string): void {
    this.#reports.delete(name);
  }

  /** Called on every beat; `first` when a new DPE process or a new generation speaks. */
  onReport(listener: (name: string, report: DpeReport, first: boolean) => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    this.#subscription.close();
  }
}
