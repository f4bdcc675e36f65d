/**
 * Checks a PE input written by hand or saved by a DPE, filling in what may be
 * left out (empty histories, no metrics), and says exactly what is wrong
 * otherwise. The config is compiled separately (it is XML or a saved model).
 */
import type { DeployableConfig } from '../lib/config/index.js';
import { CpeError } from '../lib/errors.js';
import type {
  ActionType,
  AssemblyObservation,
  InFlightAction,
  InstanceObservation,
  InstanceState,
  PeInput,
  RecoveryRecord,
  ServiceObservation,
} from './types.js';

export class PeInputError extends CpeError {
  override name = 'PeInputError';

  constructor(path: string, problem: string) {
    super('PE_BAD_INPUT', `${path}: ${problem}`);
  }
}

const INSTANCE_STATES: readonly InstanceState[] = [
  'running',
  'stopped',
  'failed',
  'starting',
  'stopping',
  'unknown',
];
export const ACTION_TYPES: readonly ActionType[] = [
  'start',
  'stop',
  'restart',
  'move',
  'probe',
  'recover-assembly',
  'fence-assembly',
  'escalate',
  'notify',
  'blocked',
];

type Obj = Readonly<Record<string, unknown>>;

function object(value: unknown, path: string): Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PeInputError(path, 'expected an object');
  }
  return value as Obj;
}

function only(value: Obj, path: string, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key))
      throw new PeInputError(`${path}.${key}`, `unknown field (expected: ${keys.join(', ')})`);
  }
}

function time(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new PeInputError(path, 'expected a time in ms');
  return value;
}

function timeOrNull(value: unknown, path: string): number | null {
  return value === undefined || value === null ? null : time(value, path);
}

function times(value: unknown, path: string): number[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new PeInputError(path, 'expected an array of times');
  const out = value.map((t, i) => time(t, `${path}[${i}]`));
  for (let i = 1; i < out.length; i++) {
    if (out[i]! < out[i - 1]!) throw new PeInputError(path, 'times must be in ascending order');
  }
  return out;
}

function str(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new PeInputError(path, 'expected a string');
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new PeInputError(path, `expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function readPeInput(
  raw: unknown,
  config: DeployableConfig,
): { input: PeInput; now: number } {
  const root = object(raw, 'input');
  only(root, 'input', [
    'description',
    'now',
    'config',
    'bus',
    'assemblies',
    'services',
    'inFlight',
    'lastDeployableEscalation',
  ]);
  if (root.description !== undefined) str(root.description, 'input.description');
  const now = time(root.now, 'input.now');
  const bus =
    root.bus === undefined ? { connected: true, since: 0 } : object(root.bus, 'input.bus');
  only(bus, 'input.bus', ['connected', 'since']);
  if (typeof bus.connected !== 'boolean')
    throw new PeInputError('input.bus.connected', 'expected true or false');
  const assemblyNames = new Set(config.assemblies.map((a) => a.name));
  const serviceIds = new Set(config.services.map((s) => s.id));
  const assemblies: Record<string, AssemblyObservation> = {};
  for (const [name, value] of Object.entries(
    root.assemblies === undefined ? {} : object(root.assemblies, 'input.assemblies'),
  )) {
    const path = `input.assemblies.${name}`;
    if (!assemblyNames.has(name)) throw new PeInputError(path, 'no such assembly in the config');
    assemblies[name] = assembly(object(value, path), path);
  }
  const services: Record<string, ServiceObservation> = {};
  for (const [id, value] of Object.entries(
    root.services === undefined ? {} : object(root.services, 'input.services'),
  )) {
    const path = `input.services.${id}`;
    if (!serviceIds.has(id)) throw new PeInputError(path, 'no such service in the config');
    services[id] = service(object(value, path), path, assemblyNames);
  }
  const inFlight = root.inFlight === undefined ? [] : root.inFlight;
  if (!Array.isArray(inFlight)) throw new PeInputError('input.inFlight', 'expected an array');
  return {
    now,
    input: {
      config,
      bus: { connected: bus.connected, since: time(bus.since ?? 0, 'input.bus.since') },
      assemblies,
      services,
      inFlight: inFlight.map((a, i) =>
        action(object(a, `input.inFlight[${i}]`), `input.inFlight[${i}]`),
      ),
      lastDeployableEscalation: timeOrNull(
        root.lastDeployableEscalation,
        'input.lastDeployableEscalation',
      ),
    },
  };
}

function assembly(value: Obj, path: string): AssemblyObservation {
  only(value, path, [
    'lastHeartbeat',
    'epoch',
    'metrics',
    'recovery',
    'failures',
    'lastEscalation',
  ]);
  let metrics: AssemblyObservation['metrics'] = null;
  if (value.metrics !== undefined && value.metrics !== null) {
    const m = object(value.metrics, `${path}.metrics`);
    only(m, `${path}.metrics`, ['load1', 'memoryFreeMb', 'memoryTotalMb', 'cpus']);
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        throw new PeInputError(`${path}.metrics.${k}`, 'expected a number ≥ 0');
    }
    metrics = m;
  }
  let recovery: RecoveryRecord | null = null;
  if (value.recovery !== undefined && value.recovery !== null) {
    const r = object(value.recovery, `${path}.recovery`);
    only(r, `${path}.recovery`, ['kind', 'state', 'at']);
    recovery = {
      kind: oneOf(r.kind, `${path}.recovery.kind`, ['recover', 'fence']),
      state: oneOf(r.state, `${path}.recovery.state`, ['running', 'done', 'failed']),
      at: time(r.at, `${path}.recovery.at`),
    };
  }
  return {
    lastHeartbeat: timeOrNull(value.lastHeartbeat, `${path}.lastHeartbeat`),
    epoch:
      value.epoch === undefined || value.epoch === null ? null : str(value.epoch, `${path}.epoch`),
    metrics,
    recovery,
    failures: times(value.failures, `${path}.failures`),
    lastEscalation: timeOrNull(value.lastEscalation, `${path}.lastEscalation`),
  };
}

function service(value: Obj, path: string, assemblyNames: ReadonlySet<string>): ServiceObservation {
  only(value, path, ['instances', 'failures', 'lastEscalation']);
  const instances: Record<string, InstanceObservation> = {};
  for (const [name, v] of Object.entries(
    value.instances === undefined ? {} : object(value.instances, `${path}.instances`),
  )) {
    const p = `${path}.instances.${name}`;
    if (!assemblyNames.has(name)) throw new PeInputError(p, 'no such assembly in the config');
    const i = object(v, p);
    only(i, p, ['state', 'epoch', 'since']);
    instances[name] = {
      state: oneOf(i.state, `${p}.state`, INSTANCE_STATES),
      epoch: i.epoch === undefined || i.epoch === null ? null : str(i.epoch, `${p}.epoch`),
      since: time(i.since ?? 0, `${p}.since`),
    };
  }
  return {
    instances,
    failures: times(value.failures, `${path}.failures`),
    lastEscalation: timeOrNull(value.lastEscalation, `${path}.lastEscalation`),
  };
}

function action(value: Obj, path: string): InFlightAction {
  only(value, path, ['id', 'type', 'service', 'assembly', 'to', 'startedAt']);
  return {
    id: str(value.id, `${path}.id`),
    type: oneOf(value.type, `${path}.type`, ACTION_TYPES),
    ...(value.service === undefined ? {} : { service: str(value.service, `${path}.service`) }),
    ...(value.assembly === undefined ? {} : { assembly: str(value.assembly, `${path}.assembly`) }),
    ...(value.to === undefined ? {} : { to: str(value.to, `${path}.to`) }),
    startedAt: time(value.startedAt ?? 0, `${path}.startedAt`),
  };
}
