import {
  formatIssue,
  serializeDeployable,
  SCORE_INFINITY,
  type AssemblyConfig,
  type DeployableConfig,
  type Escalation,
  type ServiceConfig,
} from '../lib/config/index.js';
import { formatDuration } from '../lib/config/values.js';
import { EXIT, UsageError, parseCommandArgs, writeLine, type Command } from './command.js';
import { CONFIG_OPTIONS, maxBytesOption, parseConfigArg } from './config-input.js';
import { SUMMARY } from './summaries.js';

export const showCommand: Command = {
  name: 'show',
  summary: SUMMARY.show,
  usage: `usage: cpectl show [--json | --xml] [--max-size BYTES] FILE

Validates FILE ("-" for standard input) and prints the model every daemon
works from, with every default filled in.

  --json  the model as JSON
  --xml   the model written back as XML of its schema version

Exit status: 0 shown, 1 invalid or unreadable, 2 usage error.`,

  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      json: { type: 'boolean', default: false },
      xml: { type: 'boolean', default: false },
      ...CONFIG_OPTIONS,
    });
    if (positionals.length !== 1) throw new UsageError('show needs exactly one FILE');
    if (values.json && values.xml) throw new UsageError('--json and --xml exclude each other');
    const result = await parseConfigArg(positionals[0]!, maxBytesOption(values['max-size']), io);
    if (!result.ok) {
      for (const issue of result.issues) writeLine(io.stderr, formatIssue(issue));
      return EXIT.failed;
    }
    for (const warning of result.warnings) writeLine(io.stderr, formatIssue(warning));
    if (values.json) writeLine(io.stdout, JSON.stringify(result.config, null, 2));
    else if (values.xml) io.stdout.write(serializeDeployable(result.config));
    else for (const line of outline(result.config)) writeLine(io.stdout, line);
    return EXIT.ok;
  },
};

function outline(config: DeployableConfig): string[] {
  const services = new Map(config.services.map((s) => [s.id, s]));
  const lines = [
    `deployable ${config.name}  uuid ${config.uuid}  schema ${config.schemaVersion}  monitor ${config.monitor}` +
      (config.monitorTemplate ? ` (the original's unit template ${config.monitorTemplate})` : '') +
      (config.username ? `  user ${config.username}` : ''),
  ];
  for (const a of config.assemblies) {
    lines.push(...assemblyLines(a));
    for (const id of a.services) lines.push(...serviceLines(services.get(id)!));
  }
  const { order, colocation, antiAffinity } = config.constraints;
  for (const o of order) {
    lines.push(
      `  order ${o.id}: ${o.first} before ${o.then} (${o.kind}${o.colocate ? ', colocated' : ''})`,
    );
  }
  for (const c of colocation)
    lines.push(`  colocation ${c.id}: ${c.service} with ${c.with} (score ${score(c.score)})`);
  for (const a of antiAffinity) {
    lines.push(`  anti-affinity ${a.id}: ${a.services.join(', ')} (score ${score(a.score)})`);
  }
  for (const r of config.rules)
    lines.push(`  rule ${r.name} (priority ${r.priority}) → ${r.event.type}`);
  return lines;
}

function assemblyLines(a: AssemblyConfig): string[] {
  const recovery =
    a.recovery.driver === 'command'
      ? `command ${a.recovery.command}`
      : a.recovery.driver === 'qmf'
        ? 'qmf (cloud management software)'
        : 'none';
  const capacity = [
    a.capacity.cpu === null ? '' : `cpu ${a.capacity.cpu}`,
    a.capacity.memoryMb === null ? '' : `memory ${a.capacity.memoryMb}M`,
  ].filter(Boolean);
  return [
    `  assembly ${a.name}  uuid ${a.uuid}${a.address ? `  address ${a.address}` : ''}`,
    `    heartbeat every ${formatDuration(a.heartbeat.intervalMs)}, down after ${a.heartbeat.missed} missed; ` +
      `recovery ${recovery}; escalation ${escalation(a.escalation)}` +
      (capacity.length > 0 ? `; capacity ${capacity.join(', ')}` : ''),
  ];
}

function serviceLines(s: ServiceConfig): string[] {
  const agent = s.class === 'ocf' ? `ocf:${s.provider ?? ''}:${s.type}` : `${s.class}:${s.type}`;
  const allowed = s.allowed === 'any' ? 'any assembly' : s.allowed.join(', ');
  const lines = [
    `    service ${s.id}  ${agent}  monitor every ${formatDuration(s.monitorIntervalMs)}  timeout ${formatDuration(s.timeoutMs)}`,
    `      escalation ${escalation(s.escalation)}; runs on ${allowed}; stickiness ${score(s.stickiness)}; ` +
      `failback ${s.failback}${s.unique ? '; never twice' : ''}`,
  ];
  if (s.configureExecutable) lines.push(`      configure with ${s.configureExecutable}`);
  for (const p of s.parameters) {
    lines.push(
      p.source.kind === 'value'
        ? `      ${p.name} = ${JSON.stringify(p.source.value)}`
        : `      ${p.name} = ${p.source.parameter} of assembly ${p.source.assembly}`,
    );
  }
  return lines;
}

function escalation(e: Escalation): string {
  return e === null
    ? 'never (restart only)'
    : `after ${e.failures} failures within ${formatDuration(e.periodMs)}`;
}

function score(n: number): string {
  return n >= SCORE_INFINITY ? 'INFINITY' : n <= -SCORE_INFINITY ? '-INFINITY' : String(n);
}
