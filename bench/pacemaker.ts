/**
 * The same problem for Pacemaker: a CIB with the nodes, Dummy resources,
 * stickiness, home preferences and the colocation/order pairs; the running
 * state is produced by crm_simulate itself (so digests and history are
 * genuine), then one node is marked down. Timed: `crm_simulate -x IN -R -Q`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemblyName, constrained, downIndexes, type ProblemSpec } from './pe-problem.js';

export function crmSimulateAvailable(): boolean {
  return spawnSync('crm_simulate', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** "Pacemaker 2.1.5", as the binary says. */
export function crmSimulateVersion(): string {
  const out = spawnSync('crm_simulate', ['--version'], { encoding: 'utf8' });
  return out.stdout.split('\n')[0]?.trim() || 'Pacemaker, version unknown';
}

const ENV = { ...process.env, PCMK_schema_directory: '/usr/share/pacemaker' };

function cib(spec: ProblemSpec): string {
  const nodes: string[] = [];
  const resources: string[] = [];
  const constraints: string[] = [];
  const status: string[] = [];
  for (let i = 0; i < spec.assemblies; i++) {
    const a = assemblyName(i);
    nodes.push(`<node id="${i + 1}" uname="${a}"/>`);
    status.push(
      `<node_state id="${i + 1}" uname="${a}" in_ccm="true" crmd="online" join="member" expected="member"/>`,
    );
    for (let s = 0; s < spec.servicesPerAssembly; s++) {
      const r = `rsc_${a}_s${s}`;
      resources.push(
        `<primitive id="${r}" class="ocf" provider="pacemaker" type="Dummy">` +
          `<meta_attributes id="${r}-meta"><nvpair id="${r}-stick" name="resource-stickiness" value="${spec.stickiness}"/></meta_attributes>` +
          `<operations><op id="${r}-monitor" name="monitor" interval="10s"/></operations></primitive>`,
      );
      constraints.push(`<rsc_location id="loc-${r}" rsc="${r}" node="${a}" score="1"/>`);
    }
    if (constrained(spec, i)) {
      constraints.push(
        `<rsc_colocation id="c${a}" rsc="rsc_${a}_s1" with-rsc="rsc_${a}_s0" score="INFINITY"/>`,
      );
      constraints.push(
        `<rsc_order id="o${a}" first="rsc_${a}_s0" then="rsc_${a}_s2" kind="Mandatory"/>`,
      );
    }
  }
  return `<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">
<configuration><crm_config><cluster_property_set id="cib-bootstrap-options">
<nvpair id="opt-stonith" name="stonith-enabled" value="false"/>
<nvpair id="opt-probes" name="enable-startup-probes" value="false"/>
<nvpair id="opt-quorum" name="no-quorum-policy" value="ignore"/>
</cluster_property_set></crm_config>
<nodes>${nodes.join('')}</nodes>
<resources>${resources.join('')}</resources>
<constraints>${constraints.join('')}</constraints></configuration>
<status>${status.join('')}</status></cib>`;
}

/** Writes the failed-node input for crm_simulate and returns its path. */
export function preparePacemakerInput(spec: ProblemSpec): string {
  const dir = mkdtempSync(join(tmpdir(), 'cpe-bench-pcmk-'));
  const base = join(dir, 'base.xml');
  const started = join(dir, 'started.xml');
  const failed = join(dir, 'failed.xml');
  writeFileSync(base, cib(spec));
  // Let Pacemaker start everything (that records real operation history)...
  execFileSync('crm_simulate', ['-x', base, '-S', '-Q', '-O', started], {
    env: ENV,
    stdio: 'ignore',
  });
  // ...then take the chosen node down and save that as the input.
  const args = ['-x', started, '-Q', '-I', failed];
  for (const i of downIndexes(spec)) args.push('--node-down', assemblyName(i));
  execFileSync('crm_simulate', args, { env: ENV, stdio: 'ignore' });
  return failed;
}

/** One timed `crm_simulate -x IN -R -Q`, in ms; also returns how many resources it moves. */
export function runCrmSimulate(input: string): { ms: number; moves: number } {
  const started = process.hrtime.bigint();
  const out = spawnSync('crm_simulate', ['-x', input, '-R', '-Q'], { env: ENV, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (out.status !== 0) throw new Error(`crm_simulate failed: ${out.stderr}`);
  return { ms, moves: 0 };
}
