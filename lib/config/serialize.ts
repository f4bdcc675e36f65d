/**
 * Writes a DeployableConfig back as XML of its own schema version, every
 * default spelled out where that version has a place for it. Parsing the
 * result gives the same model (line numbers aside): `cpectl show --xml`
 * and the round-trip tests rely on that.
 */
import { XMLBuilder } from 'fast-xml-parser';
import {
  SCORE_INFINITY,
  type DeployableConfig,
  type Escalation,
  type Resources,
  type ServiceConfig,
} from './model.js';
import { formatDuration } from './values.js';

type Node = Record<string, unknown>;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
});

export function serializeDeployable(config: DeployableConfig): string {
  const v2 = config.schemaVersion === 2;
  const byId = new Map(config.services.map((s) => [s.id, s]));
  const root: Node = {
    '@_name': config.name,
    '@_uuid': config.uuid,
    '@_monitor': config.monitorTemplate ?? config.monitor,
    '@_username': config.username ?? undefined,
    '@_schema_version': v2 ? '2' : undefined,
    assemblies: {
      assembly: config.assemblies.map((a) => ({
        '@_name': a.name,
        '@_uuid': a.uuid,
        '@_ipaddr': a.address ?? undefined,
        ...escalation(a.escalation, v2),
        ...(v2
          ? {
              heartbeat: {
                '@_interval': formatDuration(a.heartbeat.intervalMs),
                '@_missed': a.heartbeat.missed,
              },
              recovery:
                a.recovery.driver === 'command'
                  ? {
                      '@_driver': 'command',
                      '@_command': a.recovery.command,
                      '@_timeout': formatDuration(a.recovery.timeoutMs),
                    }
                  : a.recovery.driver === 'qmf'
                    ? { '@_driver': 'qmf', '@_timeout': formatDuration(a.recovery.timeoutMs) }
                    : { '@_driver': 'none' },
              capacity: resources(a.capacity),
            }
          : {}),
        services: { service: a.services.map((id) => service(byId.get(id)!, v2)) },
      })),
    },
    constraints: {
      service_dependency: config.constraints.order.map((o) => ({
        '@_id': o.id,
        '@_first': o.first,
        '@_then': o.then,
        ...(v2 ? { '@_kind': o.kind, '@_colocate': String(o.colocate) } : {}),
      })),
      colocation: config.constraints.colocation.map((c) => ({
        '@_id': c.id,
        '@_service': c.service,
        '@_with': c.with,
        '@_score': score(c.score),
      })),
      anti_affinity: config.constraints.antiAffinity.map((a) => ({
        '@_id': a.id,
        '@_services': a.services.join(' '),
        '@_score': score(a.score),
      })),
    },
    rules:
      config.rules.length === 0
        ? undefined
        : {
            rule: config.rules.map((r) => ({
              '@_name': r.name,
              '@_priority': r.priority,
              '#text': JSON.stringify({ conditions: r.conditions, event: r.event }),
            })),
          },
  };
  return builder.build({
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    deployable: root,
  });
}

function service(s: ServiceConfig, v2: boolean): Node {
  return {
    '@_name': s.name,
    '@_class': s.class,
    '@_type': s.type,
    '@_provider': s.provider ?? undefined,
    '@_monitor_interval': formatDuration(s.monitorIntervalMs),
    ...escalation(s.escalation, v2),
    ...(v2
      ? {
          '@_timeout': formatDuration(s.timeoutMs),
          '@_stickiness': score(s.stickiness),
          '@_failback': s.failback,
          '@_unique': String(s.unique),
          placement: { '@_allowed': s.allowed === 'any' ? 'any' : s.allowed.join(' ') },
          utilization: resources(s.utilization),
        }
      : {}),
    configure_executable:
      s.configureExecutable === null ? undefined : { '@_url': s.configureExecutable },
    parameters: {
      parameter: s.parameters.map((p) =>
        p.source.kind === 'reference'
          ? {
              '@_name': p.name,
              reference: { '@_assembly': p.source.assembly, '@_parameter': p.source.parameter },
            }
          : // Attribute values lose tabs and newlines (XML normalises them); <value> keeps them.
            /[\t\n\r]/.test(p.source.value)
            ? { '@_name': p.name, value: p.source.value }
            : { '@_name': p.name, '@_value': p.source.value },
      ),
    },
  };
}

/** Version 1 reads a period as whole seconds whatever its unit, so it is written as one. */
function escalation(e: Escalation, v2: boolean): Node {
  if (e === null) return {};
  return {
    '@_escalation_failures': e.failures,
    '@_escalation_period': v2 ? formatDuration(e.periodMs) : String(Math.ceil(e.periodMs / 1000)),
  };
}

function resources(r: Resources): Node | undefined {
  if (r.cpu === null && r.memoryMb === null) return undefined;
  const memory =
    r.memoryMb === null
      ? undefined
      : Number.isInteger(r.memoryMb)
        ? `${r.memoryMb}M`
        : `${Math.round(r.memoryMb * 1024)}K`;
  return { '@_cpu': r.cpu ?? undefined, '@_memory': memory };
}

function score(n: number): string {
  if (n >= SCORE_INFINITY) return 'INFINITY';
  if (n <= -SCORE_INFINITY) return '-INFINITY';
  return String(n);
}
