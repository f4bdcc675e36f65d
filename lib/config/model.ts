/**
 * The compiled deployable config: what every daemon works from. Frozen,
 * plain data (JSON-serialisable), with every default filled in, so nothing
 * downstream re-reads the XML or guesses a default.
 */
import { memoized } from '../memo.js';

/** A _name_ (schemas/README.md): deployables, assemblies, services; it ends up in unit names, addresses and paths. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

/** Pacemaker's INFINITY: scores are clamped to ±this. */
export const SCORE_INFINITY = 1_000_000;

export type ServiceClass = 'lsb' | 'ocf' | 'systemd';
export type MonitorMode = 'active' | 'passive';
export type Failback = 'never' | 'auto';
export type OrderKind = 'mandatory' | 'optional';

/** N failures within P escalate; null means "never escalate, just restart". */
export type Escalation = { readonly failures: number; readonly periodMs: number } | null;

export interface HeartbeatPolicy {
  readonly intervalMs: number;
  /** Missed intervals before the assembly is down (suspect after one). */
  readonly missed: number;
}

export type RecoveryDriver =
  | { readonly driver: 'none' }
  | { readonly driver: 'command'; readonly command: string; readonly timeoutMs: number }
  /** A method call to cloud management software at the address the host's settings name. */
  | { readonly driver: 'qmf'; readonly timeoutMs: number };

/** Capacity of an assembly or utilization of a service; null = not limited / not declared. */
export interface Resources {
  readonly cpu: number | null;
  readonly memoryMb: number | null;
}

export type ParameterSource =
  | { readonly kind: 'value'; readonly value: string }
  /** Resolved at run time from another assembly's facts (e.g. its ipaddress). */
  | { readonly kind: 'reference'; readonly assembly: string; readonly parameter: string };

export interface Parameter {
  readonly name: string;
  readonly source: ParameterSource;
  readonly line: number;
}

export interface ServiceConfig {
  /** rsc_<assembly>_<service>: the original's resource id, unique in the deployable. */
  readonly id: string;
  readonly name: string;
  /** The assembly the service is declared under. */
  readonly home: string;
  readonly class: ServiceClass;
  readonly type: string;
  readonly provider: string | null;
  readonly monitorIntervalMs: number;
  readonly escalation: Escalation;
  /** Start/stop/monitor operation timeout. */
  readonly timeoutMs: number;
  readonly parameters: readonly Parameter[];
  readonly configureExecutable: string | null;
  /** Assemblies the service may run on, in declaration order; `home` is always first. */
  readonly allowed: 'any' | readonly string[];
  readonly utilization: Resources;
  readonly stickiness: number;
  readonly failback: Failback;
  /** Never run twice: start elsewhere only once the old assembly is confirmed stopped or fenced. */
  readonly unique: boolean;
  readonly line: number;
}

export interface AssemblyConfig {
  readonly name: string;
  readonly uuid: string;
  readonly address: string | null;
  readonly escalation: Escalation;
  readonly heartbeat: HeartbeatPolicy;
  readonly recovery: RecoveryDriver;
  readonly capacity: Resources;
  /** Ids of the services declared under this assembly. */
  readonly services: readonly string[];
  readonly line: number;
}

export interface OrderConstraint {
  readonly id: string;
  readonly first: string;
  readonly then: string;
  readonly kind: OrderKind;
  /** `then` must run on the assembly `first` runs on. */
  readonly colocate: boolean;
  readonly line: number;
}

export interface ColocationConstraint {
  readonly id: string;
  readonly service: string;
  readonly with: string;
  readonly score: number;
  readonly line: number;
}

export interface AntiAffinityConstraint {
  readonly id: string;
  readonly services: readonly string[];
  /** Negative: a penalty for sharing an assembly; -SCORE_INFINITY forbids it. */
  readonly score: number;
  readonly line: number;
}

/** A json-rules-engine rule from the config; checked for shape and bounds, not yet run. */
export interface CustomRule {
  readonly name: string;
  readonly priority: number;
  readonly conditions: unknown;
  readonly event: { readonly type: string; readonly params?: Readonly<Record<string, unknown>> };
  readonly line: number;
}

export interface DeployableConfig {
  readonly schemaVersion: 1 | 2;
  readonly name: string;
  readonly uuid: string;
  readonly monitor: MonitorMode;
  /**
   * Version 1: a `monitor` naming the original's monitoring unit template
   * (e.g. pcloud-cape-sshd), kept as written; the mode is then active.
   */
  readonly monitorTemplate: string | null;
  readonly username: string | null;
  readonly assemblies: readonly AssemblyConfig[];
  readonly services: readonly ServiceConfig[];
  readonly constraints: {
    readonly order: readonly OrderConstraint[];
    readonly colocation: readonly ColocationConstraint[];
    readonly antiAffinity: readonly AntiAffinityConstraint[];
  };
  readonly rules: readonly CustomRule[];
}

export const DEFAULTS = {
  monitorIntervalMs: 10_000,
  timeoutMs: 60_000,
  heartbeat: { intervalMs: 5_000, missed: 3 },
  /** Version 1: the original's dped took an assembly for down after more than 20 s of silence. */
  originalHeartbeat: { intervalMs: 4_000, missed: 5 },
  recoveryTimeoutMs: 120_000,
  stickiness: 0,
  failback: 'never' as Failback,
  antiAffinityScore: -SCORE_INFINITY,
  colocationScore: SCORE_INFINITY,
  rulePriority: 50,
} as const;

/** Bounds beyond which a value is a mistake, not a setting. */
export const LIMITS = {
  maxDurationMs: 7 * 24 * 3600 * 1000,
  maxEscalationPeriodMs: 30 * 24 * 3600 * 1000,
  minHeartbeatMs: 100,
  minMonitorIntervalMs: 100,
} as const;

export interface ConfigIndex {
  readonly services: ReadonlyMap<string, ServiceConfig>;
  readonly assemblies: ReadonlyMap<string, AssemblyConfig>;
  /** Each service's position in `services`. */
  readonly servicePositions: ReadonlyMap<string, number>;
}

/** A config's services by id and assemblies by name, built once per (frozen) config. */
export const indexConfig = memoized((config: DeployableConfig): ConfigIndex => ({
  services: new Map(config.services.map((s) => [s.id, s])),
  assemblies: new Map(config.assemblies.map((a) => [a.name, a])),
  servicePositions: new Map(config.services.map((s, i) => [s.id, i])),
}));
