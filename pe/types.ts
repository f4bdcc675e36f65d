/**
 * The policy engine's contract (DESIGN.md §4): observed state and config in,
 * plan out. Everything is plain JSON-serialisable data, so any input can be
 * saved and replayed (`cpectl simulate`) and any plan diffed.
 * All times are milliseconds on the DPE's clock.
 */
import type { DeployableConfig } from '../lib/config/index.js';

export type InstanceState = 'running' | 'stopped' | 'failed' | 'starting' | 'stopping' | 'unknown';
export type Health = 'up' | 'suspect' | 'down' | 'recovering' | 'unknown';

export interface AssemblyMetrics {
  readonly load1?: number;
  readonly memoryFreeMb?: number;
  readonly memoryTotalMb?: number;
  readonly cpus?: number;
}

/** The outcome of the last recover-assembly or fence-assembly action on an assembly. */
export interface RecoveryRecord {
  readonly kind: 'recover' | 'fence';
  readonly state: 'running' | 'done' | 'failed';
  /** When the action started (running) or ended (done, failed). */
  readonly at: number;
}

export interface AssemblyObservation {
  /** When its last heartbeat was received; null if never. */
  readonly lastHeartbeat: number | null;
  /** The agent session epoch of that heartbeat: a new epoch means the agent restarted. */
  readonly epoch: string | null;
  readonly metrics: AssemblyMetrics | null;
  readonly recovery: RecoveryRecord | null;
  /** Assembly failures (down, or a service escalated to it), oldest first. */
  readonly failures: readonly number[];
  /** When it last escalated to the deployable: earlier failures no longer count. */
  readonly lastEscalation: number | null;
}

export interface InstanceObservation {
  readonly state: InstanceState;
  /** The agent epoch the state was observed in; a state from an older epoch is stale. */
  readonly epoch: string | null;
  readonly since: number;
}

export interface ServiceObservation {
  /** What each assembly's agent last said about the service, by assembly name. */
  readonly instances: Readonly<Record<string, InstanceObservation>>;
  /** Failure times (monitor failed, start failed), oldest first. */
  readonly failures: readonly number[];
  /** When it last escalated to its assembly: earlier failures no longer count. */
  readonly lastEscalation: number | null;
}

export type ActionType =
  | 'start'
  | 'stop'
  | 'restart'
  | 'move'
  | 'probe'
  | 'recover-assembly'
  | 'fence-assembly'
  | 'escalate'
  | 'notify'
  | 'blocked';

/** An action the DPE is carrying out; the planner neither repeats nor contradicts it. */
export interface InFlightAction {
  readonly id: string;
  readonly type: ActionType;
  readonly service?: string;
  readonly assembly?: string;
  /** move: the destination. */
  readonly to?: string;
  readonly startedAt: number;
}

export interface PeInput {
  readonly config: DeployableConfig;
  /** The DPE's link to the message bus: without it, silence is not evidence. */
  readonly bus: { readonly connected: boolean; readonly since: number };
  readonly assemblies: Readonly<Record<string, AssemblyObservation>>;
  readonly services: Readonly<Record<string, ServiceObservation>>;
  readonly inFlight: readonly InFlightAction[];
  /** When the deployable last escalated (recovered everything). */
  readonly lastDeployableEscalation: number | null;
}

export type FactValue = string | number | boolean | null;

export interface Action {
  /** Stable for the same cause across passes, so the executor can de-duplicate. */
  readonly id: string;
  readonly type: ActionType;
  readonly service?: string;
  readonly assembly?: string;
  /** move: from where (may be unreachable) and to where. */
  readonly from?: string;
  readonly to?: string;
  /** escalate: how far. */
  readonly level?: 'assembly' | 'deployable';
  /** notify: the event name. */
  readonly event?: string;
  /** Ids of actions in this plan (or in flight) that must finish first. */
  readonly after: readonly string[];
  /** Among actions free to run, higher first (custom rules may change it). */
  readonly priority: number;
  /** The rule that produced it, and the facts it saw: the answer to "why". */
  readonly rule: string;
  readonly reason: string;
  readonly facts: Readonly<Record<string, FactValue>>;
}

export interface VetoedAction {
  readonly action: Action;
  readonly rule: string;
  readonly reason: string;
}

export interface AssemblySummary {
  readonly name: string;
  readonly health: Health;
  readonly missedBeats: number;
  readonly services: readonly string[];
}

export interface Plan {
  readonly deployable: string;
  readonly now: number;
  readonly actions: readonly Action[];
  readonly vetoed: readonly VetoedAction[];
  /** In-flight actions the plan waits on. */
  readonly waiting: readonly string[];
  readonly assemblies: readonly AssemblySummary[];
  /** The next time the plan changes if nothing new is observed (a heartbeat deadline), or null. */
  readonly nextCheckAt: number | null;
  /** Why nothing happens where something might be expected (no bus, assemblies not yet heard from). */
  readonly notes: readonly string[];
}

/** Per candidate assembly: why a service would or would not be placed there. */
export interface PlacementScore {
  readonly assembly: string;
  readonly eligible: boolean;
  readonly score: number;
  readonly parts: Readonly<Record<string, number>>;
  readonly excludedBy: string | null;
}

export interface PlacementExplanation {
  readonly service: string;
  readonly chosen: string | null;
  readonly candidates: readonly PlacementScore[];
}
