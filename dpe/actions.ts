/**
 * The action functions, keyed by action type: each asks an agent or a
 * recovery driver to act, and records what came of it as an observation.
 * The ports decide where the calls go — the bus in the DPE, simulated
 * assemblies in `cpectl simulate --run` — so both run these same functions.
 */
import {
  OCF,
  serviceSpec,
  type Inventory,
  type OpResult,
  type AgentCall,
  type ServiceSpec,
} from '../lib/agent/protocol.js';
import { BusCode } from '../lib/bus/errors.js';
import type { Clock } from '../lib/clock.js';
import {
  indexConfig,
  type AssemblyConfig,
  type DeployableConfig,
  type ServiceConfig,
} from '../lib/config/index.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import type { Action, InstanceState } from '../pe/index.js';
import type { ActionResult, ActionTable } from './executor.js';
import type { Observations } from './observations.js';

/** Calls on an assembly's agent; rejects with a CpeError (CALL_TIMEOUT, BUS_DOWN, NO_ROUTE, …). */
export interface AgentPort {
  inventory(assembly: string, timeoutMs: number): Promise<Inventory>;
  /** `intervalMs`: a recurring monitor's interval (none: a one-off, a probe). */
  call(
    assembly: string,
    op: AgentCall,
    spec: ServiceSpec,
    timeoutMs: number,
    intervalMs?: number,
  ): Promise<OpResult>;
}

/** Recovers or fences an assembly with its configured driver; resolves with the outcome. */
export interface RecoveryPort {
  run(
    kind: 'recover' | 'fence',
    assembly: AssemblyConfig,
    deployable: DeployableConfig,
  ): Promise<ActionResult>;
}

/** What the parts of an engine that talk to agents share. */
export interface AgentWorld {
  readonly config: () => DeployableConfig;
  readonly store: Observations;
  readonly clock: Clock;
  readonly agents: AgentPort;
}

export interface ActionWorld extends AgentWorld {
  readonly recovery: RecoveryPort;
  /** Publishes a notify action's event. */
  readonly notify: (action: Action) => void;
}

/** Errors that say nothing of the service: the call may not even have reached the agent. */
const NOT_EVIDENCE: ReadonlySet<string> = new Set([
  BusCode.busDown,
  BusCode.noRoute,
  BusCode.closed,
  BusCode.tooManyCalls,
]);

export function isEvidence(err: unknown): boolean {
  return !(err instanceof CpeError && NOT_EVIDENCE.has(err.code));
}

/** The state a monitor result means for a service expected to run. */
export function stateOfRc(rc: number): InstanceState {
  return rc === OCF.success ? 'running' : rc === OCF.notRunning ? 'stopped' : 'failed';
}

/** Parameter values, references resolved from the assemblies' own reports and config. */
export function resolveParameters(
  service: ServiceConfig,
  config: DeployableConfig,
  store: Observations,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of service.parameters) {
    if (p.source.kind === 'value') {
      out[p.name] = p.source.value;
      continue;
    }
    const { assembly, parameter } = p.source;
    const a = indexConfig(config).assemblies.get(assembly);
    const facts = store.assemblies.get(assembly)?.facts ?? {};
    out[p.name] =
      parameter === 'uuid'
        ? (a?.uuid ?? '')
        : parameter === 'name'
          ? assembly
          : (facts[parameter] ?? a?.address ?? '');
  }
  return out;
}

/** What an agent is told of a service, its parameters resolved now. */
export function specOf(w: AgentWorld, s: ServiceConfig): ServiceSpec {
  return serviceSpec(s, resolveParameters(s, w.config(), w.store));
}

export function actionTable(w: ActionWorld): ActionTable {
  const service = (id: string | undefined): ServiceConfig => {
    const s = id === undefined ? undefined : indexConfig(w.config()).services.get(id);
    if (!s) throw new CpeError('UNKNOWN_SERVICE', `no service ${String(id)} in the config`);
    return s;
  };
  const record = (
    ctx: { live: () => boolean },
    sid: string,
    assembly: string,
    state: InstanceState,
    reason: string,
    options: { failure?: boolean; epoch?: string } = {},
  ): void => {
    if (ctx.live()) w.store.instance(sid, assembly, state, w.clock.now(), reason, options);
  };

  /** One agent call, its outcome recorded; resolves with whether the service is where it should be. */
  const op = async (
    ctx: { live: () => boolean },
    s: ServiceConfig,
    assembly: string,
    what: AgentCall,
  ): Promise<ActionResult> => {
    const want: InstanceState = what === 'stop' ? 'stopped' : 'running';
    try {
      const r = await w.agents.call(assembly, what, specOf(w, s), s.timeoutMs);
      // A stop succeeds with 0, and "not running" is as good.
      const state =
        what !== 'stop'
          ? stateOfRc(r.rc)
          : r.rc === OCF.success || r.rc === OCF.notRunning
            ? 'stopped'
            : 'failed';
      const ok = what === 'probe' ? true : state === want;
      const text = `${what} on ${assembly}: rc ${r.rc} (${r.text})`;
      record(ctx, s.id, assembly, ok || what === 'probe' ? state : 'failed', text, {
        failure: !ok || (what === 'probe' && state === 'failed'),
        epoch: r.epoch,
      });
      return { ok, detail: text };
    } catch (err) {
      const text = `${what} on ${assembly}: ${errorMessage(err)}`;
      // A timeout is a failure; a call that never reached the agent leaves the state unknown.
      if (isEvidence(err)) record(ctx, s.id, assembly, 'failed', text, { failure: true });
      else record(ctx, s.id, assembly, 'unknown', text);
      return { ok: false, detail: text };
    }
  };

  const unknownAt = (a: Action, where: string | undefined): void => {
    if (a.service !== undefined && where !== undefined)
      w.store.instance(a.service, where, 'unknown', w.clock.now(), `${a.type} timed out`);
  };

  const recover =
    (kind: 'recover' | 'fence') =>
    async (a: Action, ctx: { live: () => boolean; startedAt: number }): Promise<ActionResult> => {
      const config = w.config();
      const assembly =
        a.assembly === undefined ? undefined : indexConfig(config).assemblies.get(a.assembly);
      if (!assembly) return { ok: false, detail: `no assembly ${String(a.assembly)}` };
      if (assembly.recovery.driver === 'none') {
        // Nothing can be done or confirmed: the assembly stays down until it beats again.
        return { ok: true, detail: `recovery driver none: ${a.assembly} reported, nothing done` };
      }
      if (kind === 'recover' && a.facts.situation === 'assembly-down')
        w.store.assemblyFailure(assembly.name, ctx.startedAt);
      w.store.recovery(assembly.name, { kind, state: 'running', at: ctx.startedAt });
      const result = await w.recovery.run(kind, assembly, config);
      if (ctx.live())
        w.store.recovery(assembly.name, {
          kind,
          state: result.ok ? 'done' : 'failed',
          at: w.clock.now(),
        });
      return result;
    };

  const recoveryTimedOut = (kind: 'recover' | 'fence') => (a: Action) => {
    if (a.assembly !== undefined)
      w.store.recovery(a.assembly, { kind, state: 'failed', at: w.clock.now() });
  };

  return {
    start: {
      run: (a, ctx) => {
        record(ctx, a.service!, a.assembly!, 'starting', 'start requested');
        return op(ctx, service(a.service), a.assembly!, 'start');
      },
      timedOut: (a) => unknownAt(a, a.assembly),
    },
    stop: {
      run: (a, ctx) => op(ctx, service(a.service), a.assembly!, 'stop'),
      timedOut: (a) => unknownAt(a, a.assembly),
    },
    restart: {
      run: async (a, ctx) => {
        const s = service(a.service);
        const stopped = await op(ctx, s, a.assembly!, 'stop');
        if (!stopped.ok) return stopped;
        return op(ctx, s, a.assembly!, 'start');
      },
      timedOut: (a) => unknownAt(a, a.assembly),
    },
    move: {
      run: async (a, ctx) => {
        const s = service(a.service);
        // Off a lost assembly nothing can be stopped: the planner fenced it first if that matters.
        if (a.from !== undefined && w.store.reachable(w.config(), a.from, w.clock.now())) {
          const stopped = await op(ctx, s, a.from, 'stop');
          if (!stopped.ok) return stopped;
        }
        record(ctx, s.id, a.to!, 'starting', `moving from ${String(a.from)}`);
        return op(ctx, s, a.to!, 'start');
      },
      timedOut: (a) => unknownAt(a, a.to),
    },
    probe: {
      run: (a, ctx) => op(ctx, service(a.service), a.assembly!, 'probe'),
      timedOut: (a) => unknownAt(a, a.assembly),
    },
    'recover-assembly': { run: recover('recover'), timedOut: recoveryTimedOut('recover') },
    'fence-assembly': { run: recover('fence'), timedOut: recoveryTimedOut('fence') },
    escalate: {
      run: (a) => {
        w.store.escalated(a.level ?? 'assembly', w.clock.now(), a.service, a.assembly);
        return Promise.resolve({ ok: true, detail: `escalated to ${a.level ?? 'assembly'}` });
      },
    },
    notify: {
      run: (a) => {
        w.notify(a);
        return Promise.resolve({ ok: true, detail: `notified ${a.event ?? ''}` });
      },
    },
  };
}
