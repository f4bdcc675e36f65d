/**
 * Semantic checks and compilation of a schema-valid element tree into the
 * frozen DeployableConfig. Everything here needs more than one element to
 * decide (references, cycles, ranges, defaults by version); the schema has
 * already checked structure and lexical forms.
 */
import { ConfigCode, type ConfigCodeValue, type IssueList } from './issues.js';
import {
  DEFAULTS,
  LIMITS,
  type AntiAffinityConstraint,
  type AssemblyConfig,
  type ColocationConstraint,
  type CustomRule,
  type DeployableConfig,
  type Escalation,
  type HeartbeatPolicy,
  type OrderConstraint,
  type Parameter,
  type RecoveryDriver,
  type Resources,
  type ServiceClass,
  type ServiceConfig,
} from './model.js';
import { parseRule } from './rules.js';
import type { SchemaVersion } from './schema.js';
import type { XmlElement } from './tree.js';
import {
  Invalid,
  parseBoolean,
  parseCpu,
  parseDuration,
  parseEscalationCount,
  parseEscalationPeriod,
  parseMemory,
  parseScore,
  readOriginalCount,
  readOriginalPeriod,
  type OriginalReading,
} from './values.js';

/** Facts of an assembly that a <reference parameter="…"> may name. */
export const ASSEMBLY_FACTS: readonly string[] = ['ipaddress', 'hostname', 'uuid', 'name'];

export function serviceId(assembly: string, service: string): string {
  return `rsc_${assembly}_${service}`;
}

class Compiler {
  constructor(readonly issues: IssueList) {}

  error(code: ConfigCodeValue, at: XmlElement, message: string): void {
    this.issues.error(code, at.line, at.name, message);
  }

  /** Converts an optional attribute; reports and falls back to `fallback` when it is bad. */
  value<T>(
    at: XmlElement,
    attr: string,
    parse: (text: string) => T | Invalid,
    fallback: T,
    code: ConfigCodeValue = ConfigCode.badValue,
  ): T {
    const text = at.attrs[attr];
    if (text === undefined) return fallback;
    const parsed = parse(text);
    if (parsed instanceof Invalid) {
      this.error(code, at, `bad value "${text}" for attribute "${attr}": ${parsed.reason}`);
      return fallback;
    }
    return parsed;
  }

  child(at: XmlElement, name: string): XmlElement | undefined {
    return at.children.find((c) => c.name === name);
  }

  /** Both attributes or neither: one alone (not INFINITY) gets a warning, since it cannot escalate. */
  escalation(at: XmlElement, version: SchemaVersion): Escalation {
    const [failures, periodMs] =
      version === 1
        ? [
            this.original(at, 'escalation_failures', readOriginalCount),
            this.original(at, 'escalation_period', (t) =>
              readOriginalPeriod(t, LIMITS.maxEscalationPeriodMs),
            ),
          ]
        : [
            this.value<number | null | undefined>(
              at,
              'escalation_failures',
              parseEscalationCount,
              undefined,
            ),
            this.value<number | null | undefined>(
              at,
              'escalation_period',
              (t) => parseEscalationPeriod(t, LIMITS.maxEscalationPeriodMs),
              undefined,
              ConfigCode.badInterval,
            ),
          ];
    const hasFailures = at.attrs.escalation_failures !== undefined;
    const hasPeriod = at.attrs.escalation_period !== undefined;
    if ((hasFailures && failures === undefined) || (hasPeriod && periodMs === undefined)) {
      return null; // already reported
    }
    const alone = hasFailures ? failures : periodMs;
    if (hasFailures !== hasPeriod && alone !== null) {
      const [set, unset] = hasFailures
        ? ['escalation_failures', 'escalation_period']
        : ['escalation_period', 'escalation_failures'];
      this.issues.warn(
        ConfigCode.escalationIncomplete,
        at.line,
        at.name,
        `${set} is set but ${unset} is not: failures will never escalate, only restart`,
      );
    }
    return failures == null || periodMs == null ? null : { failures, periodMs };
  }

  /** A version-1 escalation attribute, read as the original did; a warning where that surprises. */
  original(
    at: XmlElement,
    attr: string,
    read: (text: string) => OriginalReading,
  ): number | null | undefined {
    const text = at.attrs[attr];
    if (text === undefined) return undefined;
    const { value, note } = read(text);
    if (note !== null) {
      this.issues.warn(ConfigCode.readAsOriginal, at.line, at.name, note);
    }
    return value;
  }

  heartbeat(at: XmlElement | undefined, inherited: HeartbeatPolicy): HeartbeatPolicy {
    if (!at) return inherited;
    return {
      intervalMs: this.value(
        at,
        'interval',
        (t) => atLeast(parseDuration(t, LIMITS.maxDurationMs), LIMITS.minHeartbeatMs),
        inherited.intervalMs,
        ConfigCode.badInterval,
      ),
      missed: this.value(at, 'missed', (t) => Number(t), inherited.missed),
    };
  }

  recovery(at: XmlElement | undefined, inherited: RecoveryDriver): RecoveryDriver {
    if (!at) return inherited;
    const timeoutMs = this.value(
      at,
      'timeout',
      (t) => parseDuration(t, LIMITS.maxDurationMs),
      DEFAULTS.recoveryTimeoutMs,
      ConfigCode.badInterval,
    );
    const command = at.attrs.command;
    if (at.attrs.driver === 'command') {
      if (command === undefined) {
        this.error(
          ConfigCode.missingAttribute,
          at,
          'driver "command" needs the attribute "command"',
        );
        return { driver: 'none' };
      }
      return { driver: 'command', command, timeoutMs };
    }
    if (at.attrs.driver === 'qmf') {
      if (command !== undefined)
        this.error(ConfigCode.badValue, at, 'attribute "command" needs driver="command"');
      return { driver: 'qmf', timeoutMs };
    }
    if (command !== undefined || at.attrs.timeout !== undefined) {
      this.error(
        ConfigCode.badValue,
        at,
        'attributes "command" and "timeout" need driver="command" or "qmf"',
      );
    }
    return { driver: 'none' };
  }

  resources(at: XmlElement | undefined): Resources {
    if (!at) return { cpu: null, memoryMb: null };
    return {
      cpu: this.value(at, 'cpu', parseCpu, null),
      memoryMb: this.value(at, 'memory', parseMemory, null),
    };
  }
}

function atLeast(value: number | Invalid, min: number): number | Invalid {
  if (value instanceof Invalid || value >= min) return value;
  return new Invalid(`must be at least ${min}ms`);
}

export function compileDeployable(
  root: XmlElement,
  version: SchemaVersion,
  issues: IssueList,
): DeployableConfig {
  const c = new Compiler(issues);
  const heartbeat = c.heartbeat(
    c.child(root, 'heartbeat'),
    version === 1 ? DEFAULTS.originalHeartbeat : DEFAULTS.heartbeat,
  );
  const recovery = c.recovery(c.child(root, 'recovery'), { driver: 'none' });

  const assemblyElements = c.child(root, 'assemblies')?.children ?? [];
  const assemblyNames = new Set(assemblyElements.map((a) => a.attrs.name ?? ''));
  const assemblies: AssemblyConfig[] = [];
  const services: ServiceConfig[] = [];
  const byId = new Map<string, ServiceConfig>();

  for (const a of assemblyElements) {
    const name = a.attrs.name ?? '';
    const ids: string[] = [];
    for (const s of c.child(a, 'services')?.children ?? []) {
      const service = compileService(c, s, name, assemblyNames, version);
      const clash = byId.get(service.id);
      if (clash) {
        c.error(
          ConfigCode.duplicateName,
          s,
          `service "${service.name}" on assembly "${name}" has the resource id "${service.id}", ` +
            `as does service "${clash.name}" on assembly "${clash.home}" (line ${clash.line}); rename one`,
        );
        continue;
      }
      byId.set(service.id, service);
      services.push(service);
      ids.push(service.id);
    }
    assemblies.push({
      name,
      uuid: a.attrs.uuid ?? '',
      address: a.attrs.ipaddr ?? null,
      escalation: c.escalation(a, version),
      heartbeat: c.heartbeat(c.child(a, 'heartbeat'), heartbeat),
      recovery: c.recovery(c.child(a, 'recovery'), recovery),
      capacity: c.resources(c.child(a, 'capacity')),
      services: ids,
      line: a.line,
    });
  }

  const constraints = compileConstraints(c, c.child(root, 'constraints'), byId);
  const rules = compileRules(c, c.child(root, 'rules'));

  return deepFreeze({
    schemaVersion: version,
    name: root.attrs.name ?? '',
    uuid: root.attrs.uuid ?? '',
    monitor: root.attrs.monitor === 'passive' ? 'passive' : 'active',
    monitorTemplate: monitorTemplate(root.attrs.monitor),
    username: root.attrs.username ?? null,
    assemblies,
    services,
    constraints,
    rules,
  });
}

/** A version-1 monitor naming the original's monitoring unit template, kept as written. */
function monitorTemplate(monitor: string | undefined): string | null {
  return monitor === undefined || monitor === 'active' || monitor === 'passive' ? null : monitor;
}

function compileService(
  c: Compiler,
  s: XmlElement,
  home: string,
  assemblyNames: ReadonlySet<string>,
  version: SchemaVersion,
): ServiceConfig {
  const name = s.attrs.name ?? '';
  const cls = (s.attrs.class ?? 'lsb') as ServiceClass;
  const provider = s.attrs.provider ?? null;
  if (cls === 'ocf' && provider === null) {
    c.error(ConfigCode.missingAttribute, s, 'class "ocf" needs the attribute "provider"');
  }
  const placement = c.child(s, 'placement');
  return {
    id: serviceId(home, name),
    name,
    home,
    class: cls,
    // Version 1 without a type (pcloudsh 0.4): the original ran the init script of the name.
    type: s.attrs.type ?? name,
    provider,
    monitorIntervalMs: c.value(
      s,
      'monitor_interval',
      (t) => atLeast(parseDuration(t, LIMITS.maxDurationMs), LIMITS.minMonitorIntervalMs),
      DEFAULTS.monitorIntervalMs,
      ConfigCode.badInterval,
    ),
    escalation: c.escalation(s, version),
    timeoutMs: c.value(
      s,
      'timeout',
      (t) => parseDuration(t, LIMITS.maxDurationMs),
      DEFAULTS.timeoutMs,
      ConfigCode.badInterval,
    ),
    parameters: compileParameters(c, s, assemblyNames),
    configureExecutable: c.child(s, 'configure_executable')?.attrs.url ?? null,
    allowed: placement
      ? compileAllowed(c, placement, home, assemblyNames)
      : version === 1
        ? [home]
        : 'any',
    utilization: c.resources(c.child(s, 'utilization')),
    stickiness: c.value(s, 'stickiness', parseScore, DEFAULTS.stickiness),
    failback: s.attrs.failback === 'auto' ? 'auto' : DEFAULTS.failback,
    unique: c.value(s, 'unique', parseBoolean, false),
    line: s.line,
  };
}

function compileAllowed(
  c: Compiler,
  placement: XmlElement,
  home: string,
  assemblyNames: ReadonlySet<string>,
): 'any' | string[] {
  const allowed = (placement.attrs.allowed ?? 'any').trim();
  if (allowed === 'any') return 'any';
  if (allowed === 'home') return [home];
  const names = [...new Set(allowed.split(/\s+/))];
  for (const n of names) {
    if (!assemblyNames.has(n)) {
      c.error(ConfigCode.unknownResource, placement, `allowed names unknown assembly "${n}"`);
    }
  }
  if (!names.includes(home)) {
    c.error(
      ConfigCode.badValue,
      placement,
      `allowed must include "${home}", the assembly the service is declared under`,
    );
  }
  return [home, ...names.filter((n) => n !== home)];
}

function compileParameters(
  c: Compiler,
  s: XmlElement,
  assemblyNames: ReadonlySet<string>,
): Parameter[] {
  const containers = s.children.filter((x) => x.name === 'parameters' || x.name === 'paramaters');
  if (containers.length > 1) {
    c.error(ConfigCode.unexpectedElement, containers[1]!, 'a service has one parameters element');
  }
  const out: Parameter[] = [];
  for (const p of containers[0]?.children ?? []) {
    const name = p.attrs.name ?? '';
    const valueChild = c.child(p, 'value');
    const reference = c.child(p, 'reference');
    const sources = [p.attrs.value !== undefined, valueChild, reference].filter(Boolean).length;
    if (sources !== 1) {
      c.error(
        ConfigCode.badValue,
        p,
        sources === 0
          ? `parameter "${name}" needs a value: value="…", <value>…</value> or <reference/>`
          : `parameter "${name}" has more than one value; give exactly one`,
      );
      continue;
    }
    if (reference) {
      const assembly = reference.attrs.assembly ?? '';
      const parameter = reference.attrs.parameter ?? '';
      if (!assemblyNames.has(assembly)) {
        c.error(
          ConfigCode.unknownResource,
          reference,
          `reference to unknown assembly "${assembly}"`,
        );
      }
      if (!ASSEMBLY_FACTS.includes(parameter)) {
        c.error(
          ConfigCode.unknownResource,
          reference,
          `unknown assembly parameter "${parameter}" (known: ${ASSEMBLY_FACTS.join(', ')})`,
        );
      }
      out.push({ name, source: { kind: 'reference', assembly, parameter }, line: p.line });
    } else {
      out.push({
        name,
        source: { kind: 'value', value: p.attrs.value ?? valueChild?.text ?? '' },
        line: p.line,
      });
    }
  }
  return out;
}

function compileConstraints(
  c: Compiler,
  at: XmlElement | undefined,
  byId: ReadonlyMap<string, ServiceConfig>,
): DeployableConfig['constraints'] {
  const order: OrderConstraint[] = [];
  const colocation: ColocationConstraint[] = [];
  const antiAffinity: AntiAffinityConstraint[] = [];
  const known = (x: XmlElement, id: string, attr: string): boolean => {
    if (byId.has(id)) return true;
    c.error(
      ConfigCode.unknownResource,
      x,
      `${attr} names unknown service "${id}" (ids are rsc_<assembly>_<service>)`,
    );
    return false;
  };
  for (const x of at?.children ?? []) {
    const id = x.attrs.id ?? '';
    if (x.name === 'service_dependency' || x.name === 'service_dependancy') {
      const first = x.attrs.first ?? '';
      const then = x.attrs.then ?? '';
      const ok = known(x, first, 'first') && known(x, then, 'then');
      if (ok && first === then) {
        c.error(ConfigCode.dependencyCycle, x, `service "${first}" cannot depend on itself`);
      } else if (ok) {
        order.push({
          id,
          first,
          then,
          kind: x.attrs.kind === 'optional' ? 'optional' : 'mandatory',
          colocate: c.value(x, 'colocate', parseBoolean, false),
          line: x.line,
        });
      }
    } else if (x.name === 'colocation') {
      const service = x.attrs.service ?? '';
      const withId = x.attrs.with ?? '';
      const ok = known(x, service, 'service') && known(x, withId, 'with');
      if (ok && service === withId) {
        c.error(ConfigCode.badValue, x, `service "${service}" cannot be colocated with itself`);
      } else if (ok) {
        const score = c.value(x, 'score', parseScore, DEFAULTS.colocationScore);
        colocation.push({ id, service, with: withId, score, line: x.line });
      }
    } else if (x.name === 'anti_affinity') {
      const ids = (x.attrs.services ?? '').trim().split(/\s+/);
      const unique = [...new Set(ids)];
      const allKnown = unique.every((s) => known(x, s, 'services'));
      const score = c.value(x, 'score', parseScore, DEFAULTS.antiAffinityScore);
      if (unique.length < 2) {
        c.error(ConfigCode.badValue, x, 'anti_affinity needs at least two different services');
      } else if (score >= 0) {
        c.error(ConfigCode.badValue, x, `anti_affinity score must be negative, not ${score}`);
      } else if (allKnown) {
        antiAffinity.push({ id, services: unique, score, line: x.line });
      }
    }
  }
  reportCycles(c, order);
  reportContradictions(c, colocation, antiAffinity);
  return { order, colocation, antiAffinity };
}

/** Ordering must be a DAG: a cycle could never be started. Reports each cycle once. */
function reportCycles(c: Compiler, order: readonly OrderConstraint[]): void {
  const edges = new Map<string, OrderConstraint[]>();
  for (const o of order) edges.set(o.first, [...(edges.get(o.first) ?? []), o]);
  const state = new Map<string, 'open' | 'done'>();
  const path: OrderConstraint[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    for (const edge of edges.get(node) ?? []) {
      const next = state.get(edge.then);
      if (next === 'open') {
        const start = path.findIndex((e) => e.first === edge.then);
        const cycle = [...path.slice(start), edge];
        const names = [...cycle.map((e) => e.first), edge.then].join(' → ');
        c.issues.error(
          ConfigCode.dependencyCycle,
          edge.line,
          'service_dependency',
          `ordering cycle: ${names} (constraints ${cycle.map((e) => `"${e.id}"`).join(', ')})`,
        );
      } else if (next === undefined) {
        path.push(edge);
        visit(edge.then);
        path.pop();
      }
    }
    state.set(node, 'done');
  };
  for (const o of order) if (!state.has(o.first)) visit(o.first);
}

/** A pair that must share an assembly and must never share one can never be placed. */
function reportContradictions(
  c: Compiler,
  colocation: readonly ColocationConstraint[],
  antiAffinity: readonly AntiAffinityConstraint[],
): void {
  for (const col of colocation) {
    if (col.score < DEFAULTS.colocationScore) continue;
    const clash = antiAffinity.find(
      (a) =>
        a.score <= -DEFAULTS.colocationScore &&
        a.services.includes(col.service) &&
        a.services.includes(col.with),
    );
    if (clash) {
      c.issues.error(
        ConfigCode.badValue,
        col.line,
        'colocation',
        `"${col.service}" must run with "${col.with}", but anti_affinity "${clash.id}" (line ${clash.line}) forbids it`,
      );
    }
  }
}

function compileRules(c: Compiler, at: XmlElement | undefined): CustomRule[] {
  const rules: CustomRule[] = [];
  for (const r of at?.children ?? []) {
    const parsed = parseRule(r.text);
    if (parsed instanceof Invalid) {
      c.error(ConfigCode.badRule, r, `rule "${r.attrs.name ?? ''}": ${parsed.reason}`);
      continue;
    }
    rules.push({
      name: r.attrs.name ?? '',
      priority: c.value(r, 'priority', (t) => Number(t), DEFAULTS.rulePriority),
      conditions: parsed.conditions,
      event: parsed.event,
      line: r.line,
    });
  }
  return rules;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
