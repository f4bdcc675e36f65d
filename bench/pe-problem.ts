/**
 * Generated planning problems, described once and written both as our
 * deployable config + observed state and (pacemaker.ts) as a Pacemaker CIB:
 * N assemblies with M services each, all running at home, some assemblies
 * down; every 10th assembly carries a colocation (s1 with s0) and a
 * mandatory order (s0 before s2) between its own services.
 */
import { loadDeployableConfig, type DeployableConfig } from '../lib/config/index.js';
import type { PeInput } from '../pe/index.js';
import { runningAtHome } from '../test/support/pe.js';

export interface ProblemSpec {
  readonly assemblies: number;
  readonly servicesPerAssembly: number;
  /** How many assemblies are down (the first ones, every k-th). */
  readonly down: number;
  readonly stickiness: number;
  /** Colocation and order constraints on every 10th assembly. */
  readonly constraints: boolean;
}

export interface Problem {
  readonly spec: ProblemSpec;
  readonly config: DeployableConfig;
  readonly input: PeInput;
  readonly now: number;
  readonly downAssemblies: readonly string[];
}

export const NOW = 1_000_000;

/** The pe group's growth series: 10 services an assembly, a tenth of the assemblies down. */
export function growthSpec(assemblies: number): ProblemSpec {
  return {
    assemblies,
    servicesPerAssembly: 10,
    down: assemblies / 10,
    stickiness: 0,
    constraints: true,
  };
}

export function assemblyName(i: number): string {
  return `a${String(i).padStart(5, '0')}`;
}

export function downIndexes(spec: ProblemSpec): number[] {
  if (spec.down === 0) return [];
  const step = Math.floor(spec.assemblies / spec.down);
  return Array.from({ length: spec.down }, (_, k) => k * step);
}

export function constrained(spec: ProblemSpec, i: number): boolean {
  return spec.constraints && i % 10 === 0 && spec.servicesPerAssembly >= 3;
}

export function configXml(spec: ProblemSpec): string {
  const parts = [
    `<deployable name="bench" uuid="bench-${spec.assemblies}x${spec.servicesPerAssembly}" schema_version="2">`,
    '<heartbeat interval="1s" missed="3"/><recovery driver="command" command="/bin/true"/><assemblies>',
  ];
  const constraints: string[] = [];
  for (let i = 0; i < spec.assemblies; i++) {
    const a = assemblyName(i);
    parts.push(`<assembly name="${a}" uuid="${a}"><services>`);
    for (let s = 0; s < spec.servicesPerAssembly; s++) {
      parts.push(
        `<service name="s${s}" class="systemd" type="s${s}.service" stickiness="${spec.stickiness}"/>`,
      );
    }
    parts.push('</services></assembly>');
    if (constrained(spec, i)) {
      constraints.push(`<colocation id="c${a}" service="rsc_${a}_s1" with="rsc_${a}_s0"/>`);
      constraints.push(`<service_dependency id="o${a}" first="rsc_${a}_s0" then="rsc_${a}_s2"/>`);
    }
  }
  parts.push('</assemblies>');
  if (constraints.length > 0) parts.push(`<constraints>${constraints.join('')}</constraints>`);
  parts.push('</deployable>');
  return parts.join('\n');
}

export async function buildProblem(spec: ProblemSpec): Promise<Problem> {
  const { config } = await loadDeployableConfig(configXml(spec), { maxBytes: 64 * 1024 * 1024 });
  const down = new Set(downIndexes(spec).map(assemblyName));
  const assemblies: Record<string, PeInput['assemblies'][string]> = {};
  for (const a of config.assemblies) {
    assemblies[a.name] = {
      lastHeartbeat: down.has(a.name) ? NOW - 10_000 : NOW - 200,
      epoch: `e-${a.name}`,
      metrics: null,
      recovery: null,
      failures: [],
      lastEscalation: null,
    };
  }
  return {
    spec,
    config,
    now: NOW,
    downAssemblies: [...down],
    input: runningAtHome(config, assemblies),
  };
}
