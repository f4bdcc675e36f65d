/**
 * What a DPE asks of an assembly's agent (schemas/agent-api.md): the QMF
 * object `agent` on node `agent.<deployable>.<assembly>`. Simulated agents
 * (`cpe-agent --simulate`) and real ones answer the same methods with the
 * same OCF result codes, so a DPE cannot tell them apart.
 */
import { qmfText, type QmfMap } from '../bus/qmf.js';
import type { ArgSpecs } from '../bus/schema.js';
import { NAME_PATTERN, type ServiceClass, type ServiceConfig } from '../config/index.js';
import { CpeError } from '../errors.js';

/** OCF resource-agent exit codes, which every service class is mapped to. */
export const OCF = {
  success: 0,
  errGeneric: 1,
  errArgs: 2,
  unimplemented: 3,
  errPerm: 4,
  errInstalled: 5,
  errConfigured: 6,
  notRunning: 7,
} as const;

const MEANING: Readonly<Record<number, string>> = {
  0: 'success (running)',
  1: 'generic error',
  2: 'invalid arguments',
  3: 'action not implemented',
  4: 'insufficient permissions',
  5: 'not installed',
  6: 'not configured',
  7: 'not running',
};

export function rcMeaning(rc: number): string {
  return MEANING[rc] ?? `unknown result ${rc}`;
}

export type ServiceOp = 'start' | 'stop' | 'monitor';
/** The agent's service methods: the operations, and `probe` (a one-off monitor: what runs?). */
export type AgentCall = ServiceOp | 'probe';

/** A service as the agent needs it: what to run, not where or why. */
export interface ServiceSpec {
  readonly resource: string;
  readonly class: ServiceClass;
  readonly type: string;
  readonly provider: string | null;
  readonly parameters: Readonly<Record<string, string>>;
}

export interface OpResult {
  readonly rc: number;
  readonly text: string;
  /** The agent session that answered: a result from another session says nothing of this one. */
  readonly epoch: string;
}

export interface Inventory {
  readonly epoch: string;
  /** Every service the agent manages, with its monitor result (0 running, 7 not running, else failed). */
  readonly services: readonly { readonly resource: string; readonly rc: number }[];
}

const RESOURCE = { type: 'string', pattern: /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/ } as const;

/** Arguments of start, stop and monitor. */
export const SERVICE_ARGS: ArgSpecs = {
  resource: RESOURCE,
  class: { type: 'string', oneOf: ['lsb', 'ocf', 'systemd'] },
  type: { type: 'string', pattern: /^[A-Za-z0-9_][A-Za-z0-9@._:+-]{0,127}$/ },
  provider: { type: 'string', optional: true, pattern: NAME_PATTERN },
  parameters: { type: 'map', optional: true },
  timeout_ms: { type: 'integer', optional: true, min: 1, max: 7 * 24 * 3600 * 1000 },
  interval_ms: { type: 'integer', optional: true, min: 0, max: 7 * 24 * 3600 * 1000 },
};

/** Arguments of the fault injector's methods (simulated agents only). */
export const FAULT_ARGS = {
  heartbeat: { enabled: { type: 'boolean' } },
  fail: { resource: RESOURCE, mode: { type: 'string', oneOf: ['once', 'always', 'clear'] } },
  hang: { resource: RESOURCE, enabled: { type: 'boolean' } },
  slow: { delay_ms: { type: 'integer', min: 0, max: 3_600_000 } },
  restart: {},
  partition: { enabled: { type: 'boolean' } },
  state: {},
} as const satisfies Readonly<Record<string, ArgSpecs>>;

/** The agent's view of a service from its config (parameters resolved by the caller). */
export function serviceSpec(
  service: ServiceConfig,
  parameters: Readonly<Record<string, string>>,
): ServiceSpec {
  return {
    resource: service.id,
    class: service.class,
    type: service.type,
    provider: service.provider,
    parameters,
  };
}

/** A recurring monitor gives its interval; without one a monitor is a probe (what runs?). */
export function specArgs(spec: ServiceSpec, timeoutMs: number, intervalMs = 0): QmfMap {
  return {
    resource: spec.resource,
    class: spec.class,
    type: spec.type,
    ...(spec.provider === null ? {} : { provider: spec.provider }),
    parameters: { ...spec.parameters },
    timeout_ms: Math.max(1, Math.round(timeoutMs)),
    ...(intervalMs > 0 ? { interval_ms: Math.round(intervalMs) } : {}),
  };
}

/** The spec from checked call arguments (the server checked them against SERVICE_ARGS). */
export function specFromArgs(args: QmfMap): ServiceSpec {
  const parameters: Record<string, string> = {};
  const raw = (args.parameters ?? {}) as QmfMap;
  for (const [k, v] of Object.entries(raw)) parameters[k] = qmfText(v);
  return {
    resource: qmfText(args.resource),
    class: args.class as ServiceClass,
    type: qmfText(args.type),
    provider: typeof args.provider === 'string' ? args.provider : null,
    parameters,
  };
}

export class AgentAnswerError extends CpeError {
  override name = 'AgentAnswerError';

  constructor(what: string) {
    super('AGENT_BAD_ANSWER', `the agent's answer ${what}`);
  }
}

export function readOpResult(answer: QmfMap): OpResult {
  const { rc, text, epoch } = answer;
  if (typeof rc !== 'number' || !Number.isInteger(rc)) throw new AgentAnswerError('has no rc');
  if (typeof epoch !== 'string') throw new AgentAnswerError('has no epoch');
  return { rc, text: typeof text === 'string' ? text : rcMeaning(rc), epoch };
}

export function readInventory(answer: QmfMap): Inventory {
  const { epoch, services } = answer;
  if (typeof epoch !== 'string') throw new AgentAnswerError('has no epoch');
  if (!Array.isArray(services)) throw new AgentAnswerError('has no services list');
  return {
    epoch,
    services: services.map((s) => {
      const m = s as QmfMap;
      if (typeof m.resource !== 'string' || typeof m.rc !== 'number')
        throw new AgentAnswerError('lists a service without resource and rc');
      return { resource: m.resource, rc: m.rc };
    }),
  };
}
