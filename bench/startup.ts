/**
 * Start-up, whole processes: a bare `node -e 0`, `cpectl --help` and
 * `cpectl validate` on the example, each spawned and waited for, the three
 * alternated in every round so that the machine's noise falls on all alike
 * (issue #13: --help within 30 ms of a bare node, validate within 100 ms).
 *
 * And the honest side-by-side with Pacemaker: `cpectl simulate` on the
 * 100-node, 1,000-resource problem written to files, against `crm_simulate
 * -x CIB -R -Q` on the same problem, both whole processes that read and
 * check their input, timed the same way and alternated.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import {
  crmSimulateAvailable,
  crmSimulateVersion,
  preparePacemakerInput,
  runCrmSimulate,
} from './pacemaker.js';
import { buildProblem, configXml, type ProblemSpec } from './pe-problem.js';
import { median, type Figures } from './report.js';

/** The pe group's side-by-side problem: 1 node of 100 down, 1,000 resources. */
export const SIDE_BY_SIDE: ProblemSpec = {
  assemblies: 100,
  servicesPerAssembly: 10,
  down: 1,
  stickiness: 100,
  constraints: true,
};

/** The problem as `cpectl simulate` reads a DPE's saved input: the config beside a JSON state. */
async function writeSimulateInput(spec: ProblemSpec): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cpe-bench-sim-'));
  const problem = await buildProblem(spec);
  writeFileSync(join(dir, 'config.xml'), configXml(spec));
  // The compiled model stays out: a saved input names its config's file instead.
  const state = { ...problem.input, config: 'config.xml', now: problem.now };
  const file = join(dir, 'input.json');
  writeFileSync(file, `${JSON.stringify(state)}\n`);
  return file;
}

const ROUNDS = 15;

/** Spawns node with `args` and waits; the wall-clock time in ms. */
function timedNode(
  args: readonly string[],
  cwd: string,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, stdio: 'ignore', env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${what}: exit ${String(r.status)}`);
  return ms;
}

const SIDE_ROUNDS = 5;

/** cpectl simulate and crm_simulate, whole processes on the same problem, alternated. */
async function sideBySide(cli: string, root: string): Promise<Figures> {
  if (!crmSimulateAvailable()) {
    process.stderr.write(
      'crm_simulate not found (apt-get install pacemaker-cli-utils): the whole-process side-by-side is skipped\n',
    );
    return {};
  }
  const ours = await writeSimulateInput(SIDE_BY_SIDE);
  const theirs = preparePacemakerInput(SIDE_BY_SIDE);
  const times: { ours: number[]; theirs: number[] } = { ours: [], theirs: [] };
  for (let round = 0; round < SIDE_ROUNDS + 1; round++) {
    const a = timedNode([cli, 'simulate', ours], root, 'cpectl simulate');
    const b = runCrmSimulate(theirs).ms; // timed as the pe group times it
    if (round === 0) continue; // the page cache warmed
    times.ours.push(a);
    times.theirs.push(b);
  }
  const version = crmSimulateVersion();
  return {
    simulate_cli_100x1000_ms: {
      value: median(times.ours),
      unit: 'ms',
      note: `cpectl simulate INPUT.json (1 of 100 down, 1,000 services): spawn to exit, median of ${SIDE_ROUNDS}`,
    },
    crm_simulate_cli_100x1000_ms: {
      value: median(times.theirs),
      unit: 'ms',
      note: `crm_simulate -x CIB -R -Q (${version}), alternated with the above`,
    },
    simulate_cli_ratio: {
      value: median(times.theirs) / median(times.ours),
      unit: 'x',
      note: 'whole process against whole process (goal ≥ 5)',
    },
  };
}

export async function runStartup(): Promise<Figures> {
  const root = packageRoot();
  const cli = join(root, 'dist', 'cli', 'main.js');
  const runs: Record<string, readonly string[]> = {
    node_bare_ms: ['-e', '0'],
    cli_help_ms: [cli, '--help'],
    cli_validate_ms: [cli, 'validate', join(root, 'examples', 'wordpress-ha.xml')],
  };
  // Node 20 parses the file NODE_EXTRA_CA_CERTS names on every start: where
  // the environment sets it, a bare node without it is timed too.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const withoutExtraCa = { ...process.env };
  delete withoutExtraCa.NODE_EXTRA_CA_CERTS;
  const times: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS + 2; round++) {
    const timed: [string, number][] = Object.entries(runs).map(([key, args]) => [
      key,
      timedNode(args, root, key),
    ]);
    if (extraCa)
      timed.push([
        'node_bare_without_extra_ca_ms',
        timedNode(['-e', '0'], root, 'node -e 0', withoutExtraCa),
      ]);
    // two rounds to warm the page cache
    if (round >= 2) for (const [key, ms] of timed) (times[key] ??= []).push(ms);
  }
  const bare = median(times.node_bare_ms!);
  const figure = (key: string, note: string) => ({
    value: median(times[key]!),
    unit: 'ms',
    note: `${note}; ${(median(times[key]!) - bare).toFixed(0)} ms over a bare node`,
  });
  return {
    node_bare_ms: {
      value: bare,
      unit: 'ms',
      note: `node -e 0, median of ${ROUNDS}, alternated${extraCa ? `; NODE_EXTRA_CA_CERTS=${extraCa}` : ''}`,
    },
    ...(times.node_bare_without_extra_ca_ms
      ? {
          node_bare_without_extra_ca_ms: {
            value: median(times.node_bare_without_extra_ca_ms),
            unit: 'ms',
            note: 'the same without NODE_EXTRA_CA_CERTS, which Node 20 parses on every start',
          },
        }
      : {}),
    cli_help_ms: figure('cli_help_ms', 'cpectl --help (loads no command); target ≤ 30 over'),
    cli_validate_ms: figure(
      'cli_validate_ms',
      'cpectl validate examples/wordpress-ha.xml; target ≤ 100 over',
    ),
    ...(await sideBySide(cli, root)),
  };
}
