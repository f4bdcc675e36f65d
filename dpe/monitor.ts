/**
 * Monitors every service instance believed to run, at its service's
 * monitor_interval, through its assembly's agent, with the service's
 * timeout. A failed or timed-out monitor is a failure time; a call that
 * could not reach the agent (bus down, no route) says nothing and is
 * ignored — the heartbeat deadline speaks for an agent that is gone.
 */
import type { Timer } from '../lib/clock.js';
import type { ServiceConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { isEvidence, specOf, stateOfRc, type AgentWorld } from './actions.js';
import type { InstanceState } from '../pe/index.js';

export interface MonitorOptions extends AgentWorld {
  readonly log: Logger;
  /** The services with an action in flight: they are left to that action. */
  readonly busy: () => ReadonlySet<string>;
}

interface Watch {
  readonly service: ServiceConfig;
  readonly assembly: string;
  readonly epoch: string;
  timer: Timer | null;
  calling: boolean;
}

export class MonitorScheduler {
  readonly #o: MonitorOptions;
  readonly #watches = new Map<string, Watch>();
  #closed = false;
  #calls = 0;

  constructor(options: MonitorOptions) {
    this.#o = options;
  }

  /** Monitor calls made so far. */
  get calls(): number {
    return this.#calls;
  }

  /** Brings the watches in line with what runs where (call after every change). */
  sync(): void {
    if (this.#closed) return;
    const { store } = this.#o;
    const config = this.#o.config();
    const wanted = new Map<string, { service: ServiceConfig; assembly: string; epoch: string }>();
    if (config.monitor === 'active' && store.bus.connected) {
      const busy = this.#o.busy();
      for (const s of config.services) {
        if (busy.has(s.id)) continue;
        for (const [assembly, i] of store.services.get(s.id)?.instances ?? []) {
          const a = store.assemblies.get(assembly);
          if (i.state !== 'running' || !a || a.epoch === null || i.epoch !== a.epoch) continue;
          wanted.set(`${s.id}@${assembly}`, { service: s, assembly, epoch: a.epoch });
        }
      }
    }
    for (const [key, w] of this.#watches) {
      const want = wanted.get(key);
      if (!want || want.epoch !== w.epoch || want.service !== w.service) {
        w.timer?.cancel();
        this.#watches.delete(key);
      }
    }
    for (const [key, want] of wanted) {
      if (this.#watches.has(key)) continue;
      const w: Watch = { ...want, timer: null, calling: false };
      this.#watches.set(key, w);
      this.#schedule(key, w);
    }
  }

  #schedule(key: string, w: Watch): void {
    w.timer = this.#o.clock.setTimeout(() => void this.#fire(key, w), w.service.monitorIntervalMs);
  }

  async #fire(key: string, w: Watch): Promise<void> {
    w.timer = null;
    if (this.#watches.get(key) !== w || w.calling) return;
    const { store, clock, agents } = this.#o;
    const bus = store.bus;
    if (!bus.connected || clock.now() < bus.since) {
      // Agents are still reconnecting after the bus came back: a call now may be lost on the way.
      this.#schedule(key, w);
      return;
    }
    w.calling = true;
    this.#calls += 1;
    const s = w.service;
    let failure: string | null = null;
    let state: InstanceState = 'running';
    try {
      const r = await agents.call(
        w.assembly,
        'monitor',
        specOf(this.#o, s),
        s.timeoutMs,
        s.monitorIntervalMs,
      );
      if (r.epoch !== w.epoch) return; // another session answered: its inventory tells
      // Expected to run: "not running" is as much a failure as an error.
      if (stateOfRc(r.rc) !== 'running') {
        state = 'failed';
        failure = `monitor on ${w.assembly}: rc ${r.rc} (${r.text})`;
      }
    } catch (err) {
      if (!isEvidence(err)) return;
      state = 'failed';
      failure = `monitor on ${w.assembly}: ${errorMessage(err)}`;
    } finally {
      w.calling = false;
      if (this.#watches.get(key) === w && !this.#closed) this.#schedule(key, w);
    }
    if (failure === null || this.#watches.get(key) !== w) return;
    // The bus dropped meanwhile: the call may never have reached the agent.
    if (store.bus !== bus) return;
    // A result from an assembly past its deadline is not held against the service.
    if (!store.reachable(this.#o.config(), w.assembly, clock.now())) return;
    this.#o.log.warn('service failed', { service: s.id, assembly: w.assembly, reason: failure });
    store.instance(s.id, w.assembly, state, clock.now(), failure, {
      failure: true,
      epoch: w.epoch,
    });
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watches.values()) w.timer?.cancel();
    this.#watches.clear();
  }
}
