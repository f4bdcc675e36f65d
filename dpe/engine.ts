/**
 * One deployable's engine: observations in (heartbeats, agent answers),
 * plans out, actions carried out, events and status published. It does no
 * I/O of its own: agents, recovery drivers, events and the clock are ports,
 * so the DPE runs it on the bus and `cpectl simulate --run` on simulated
 * assemblies in virtual time.
 */
import type { QmfMap, Severity } from '../lib/bus/qmf.js';
import type { Clock } from '../lib/clock.js';
import { indexConfig, type DeployableConfig } from '../lib/config/index.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Action, Health, PeInput, Plan } from '../pe/index.js';
import { actionTable, stateOfRc, type AgentPort, type RecoveryPort } from './actions.js';
import { Executor, type ActionPhase } from './executor.js';
import { MonitorScheduler } from './monitor.js';
import { Observations, type Beat } from './observations.js';
import { ReconcileLoop } from './reconcile.js';
import { deployableState, statusOf, type DeployableState, type DpeStatus } from './status.js';

export type Emit = (name: string, severity: Severity, values: QmfMap) => void;

/** Every event a DPE publishes (schemas/cpe-api.md documents each). */
export const DPE_EVENTS = [
  'deployable_state_change',
  'assembly_state_change',
  'service_state_change',
  'action_started',
  'action_finished',
  'action_failed',
  'action_blocked',
  'notify',
] as const;

type DpeEvent = (typeof DPE_EVENTS)[number];

export interface EngineOptions {
  readonly config: DeployableConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly agents: AgentPort;
  readonly recovery: RecoveryPort;
  /** Publishes an event (the engine adds `id` and `deployable`). */
  readonly emit: Emit;
  readonly newId: () => string;
  /** Every plan and the input it was made from (replay files). */
  readonly onPlan?: (input: PeInput, plan: Plan) => void;
  /** How long an agent has to list its services when a new session is heard. */
  readonly inventoryTimeoutMs?: number;
}

/** How long a service action may run beyond its own timeout(s) before the executor gives up. */
const ACTION_MARGIN_MS = 5000;

export class DeployableEngine {
  readonly store: Observations;
  readonly executor: Executor;
  readonly loop: ReconcileLoop;
  readonly monitor: MonitorScheduler;
  #config: DeployableConfig;
  readonly #o: EngineOptions;
  readonly #inventories = new Map<string, { epoch: string; at: number }>();
  readonly #health = new Map<string, Health>();
  #state: DeployableState | null = null;
  #blocked = new Set<string>();
  #heartbeats = 0;
  #closed = false;

  constructor(options: EngineOptions) {
    this.#o = options;
    this.#config = options.config;
    const { clock, log } = options;
    const config = (): DeployableConfig => this.#config;
    this.store = new Observations(options.config);
    this.executor = new Executor({
      table: actionTable({
        config,
        store: this.store,
        clock,
        agents: options.agents,
        recovery: options.recovery,
        notify: (a) =>
          this.#emit('notify', 'notice', {
            event: a.event ?? '',
            ...subject(a),
            rule: a.rule,
            reason: a.reason,
          }),
      }),
      clock,
      log,
      timeoutOf: (a) => this.#timeoutOf(a),
      onPhase: (phase, a, detail, ms) => this.#onPhase(phase, a, detail, ms),
      onSettled: () => this.loop.markDirty(),
    });
    this.monitor = new MonitorScheduler({
      config,
      store: this.store,
      clock,
      agents: options.agents,
      log,
      busy: () => new Set(this.executor.running().map((a) => a.service ?? '')),
    });
    this.loop = new ReconcileLoop({
      config,
      store: this.store,
      executor: this.executor,
      clock,
      log,
      onPlan: (input, plan) => {
        this.#afterPlan(plan);
        options.onPlan?.(input, plan);
      },
      afterPass: () => this.monitor.sync(),
    });
    this.store.onDirty(() => this.loop.markDirty());
    this.store.onInstanceChange((c) =>
      this.#emit(
        'service_state_change',
        c.to === 'failed' ? 'warn' : c.to === 'unknown' ? 'notice' : 'info',
        {
          service: c.service,
          assembly: c.assembly,
          state: c.to,
          previous: c.from,
          reason: c.reason,
        },
      ),
    );
  }

  get config(): DeployableConfig {
    return this.#config;
  }

  get heartbeats(): number {
    return this.#heartbeats;
  }

  /** Starts planning (call once the bus state is known). */
  start(): void {
    this.loop.markDirty();
  }

  reconfigure(config: DeployableConfig): void {
    this.#config = config;
    this.store.reconfigure(config);
  }

  /**
   * A heartbeat from an assembly's agent. A new session (a restarted agent,
   * or one this DPE has not heard yet) is taken only once its inventory is
   * in: what it runs is asked, never assumed.
   */
  heartbeat(assembly: string, beat: Beat): void {
    this.#heartbeats += 1;
    const now = this.#o.clock.now();
    if (this.store.beat(assembly, beat, now) === 'current') return;
    if (this.#config.monitor === 'passive') {
      this.store.commitSession(assembly, beat.epoch, new Map(), now);
      return;
    }
    const asked = this.#inventories.get(assembly);
    const retryMs = this.#o.inventoryTimeoutMs ?? 5000;
    if (asked && asked.epoch === beat.epoch && now - asked.at < retryMs) return;
    this.#inventories.set(assembly, { epoch: beat.epoch, at: now });
    void this.#inventory(assembly, beat.epoch);
  }

  async #inventory(assembly: string, epoch: string): Promise<void> {
    const { agents, clock, log } = this.#o;
    try {
      const inv = await agents.inventory(assembly, this.#o.inventoryTimeoutMs ?? 5000);
      if (this.#closed) return;
      const pending = this.store.assemblies.get(assembly)?.pending;
      if (inv.epoch !== epoch || pending?.epoch !== epoch) return; // another session by now
      const ids = new Set(this.#config.services.map((s) => s.id));
      const states = new Map(
        inv.services.filter((s) => ids.has(s.resource)).map((s) => [s.resource, stateOfRc(s.rc)]),
      );
      this.#inventories.delete(assembly);
      log.info('agent session', { assembly, epoch, services: states.size });
      this.store.commitSession(assembly, epoch, states, clock.now());
    } catch (err) {
      log.warn('agent inventory failed; asking again at its next beat', {
        assembly,
        error: errorMessage(err),
      });
    }
  }

  /** The DPE's link to the bus; `since` is when silence starts to count again. */
  setBus(connected: boolean, since: number): void {
    this.store.setBus(connected, since);
  }

  status(): DpeStatus {
    return statusOf(this, this.#o.clock.now(), this.#state);
  }

  /** The deployable's state as the last pass saw it (null before the first). */
  get state(): DeployableState | null {
    return this.#state;
  }

  close(): void {
    this.#closed = true;
    this.loop.close();
    this.monitor.close();
    this.executor.close();
  }

  #timeoutOf(a: Action): number {
    const index = indexConfig(this.#config);
    const s = a.service === undefined ? undefined : index.services.get(a.service);
    const asm = a.assembly === undefined ? undefined : index.assemblies.get(a.assembly);
    switch (a.type) {
      case 'start':
      case 'stop':
      case 'probe':
        return (s?.timeoutMs ?? 60_000) + ACTION_MARGIN_MS;
      case 'restart':
      case 'move':
        return 2 * (s?.timeoutMs ?? 60_000) + ACTION_MARGIN_MS;
      case 'recover-assembly':
      case 'fence-assembly':
        return (
          (asm && asm.recovery.driver !== 'none' ? asm.recovery.timeoutMs : 0) + ACTION_MARGIN_MS
        );
      default:
        return ACTION_MARGIN_MS;
    }
  }

  #onPhase(phase: ActionPhase, a: Action, detail: string, ms: number): void {
    const severity: Severity = phase === 'failed' ? 'warn' : 'info';
    const log = this.#o.log.child({ action: a.id });
    log[phase === 'failed' ? 'warn' : 'info'](`action ${phase}`, {
      type: a.type,
      rule: a.rule,
      detail,
    });
    this.#emit(`action_${phase}` as const, severity, {
      action: a.id,
      type: a.type,
      ...subject(a),
      rule: a.rule,
      reason: a.reason,
      ...(phase === 'started' ? {} : { detail, duration_ms: ms }),
    });
  }

  #afterPlan(plan: Plan): void {
    for (const a of plan.assemblies) {
      const before = this.#health.get(a.name);
      if (before === a.health) continue;
      this.#health.set(a.name, a.health);
      const h = this.store.health(this.#config, a.name, plan.now);
      this.#emit(
        'assembly_state_change',
        a.health === 'down' ? 'error' : a.health === 'suspect' ? 'warn' : 'info',
        {
          assembly: a.name,
          state: a.health,
          previous: before ?? null,
          reason: h?.reason ?? '',
          missed_beats: a.missedBeats,
        },
      );
    }
    const blocked = new Set<string>();
    for (const a of plan.actions) {
      if (a.type !== 'blocked') continue;
      blocked.add(a.id);
      if (!this.#blocked.has(a.id))
        this.#emit('action_blocked', 'warn', {
          action: a.id,
          ...subject(a),
          rule: a.rule,
          reason: a.reason,
        });
    }
    this.#blocked = blocked;
    const state = deployableState(this.#config, this.store, plan);
    if (state.state !== this.#state?.state) {
      this.#emit(
        'deployable_state_change',
        state.state === 'down' ? 'error' : state.state === 'degraded' ? 'warn' : 'info',
        { state: state.state, previous: this.#state?.state ?? null, reason: state.reason },
      );
    }
    this.#state = state;
  }

  #emit(name: DpeEvent, severity: Severity, values: QmfMap): void {
    this.#o.emit(name, severity, {
      id: this.#o.newId(),
      deployable: this.#config.name,
      ...values,
    });
  }
}

function subject(a: Action): QmfMap {
  return {
    service: a.service ?? null,
    assembly: a.assembly ?? null,
    ...(a.level === undefined ? {} : { level: a.level }),
    ...(a.from === undefined ? {} : { from: a.from }),
    ...(a.to === undefined ? {} : { to: a.to }),
  };
}
