/**
 * Policy-engine benchmarks: plan time as the deployable grows (10% of the
 * assemblies down), and the side-by-side with Pacemaker's crm_simulate on
 * the same 100-node, 1,000-resource problem with one node failed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DPE_NODE_FLAGS } from '../lib/code-cache.js';
import type * as ObservationsModule from '../dpe/observations.js';
import type * as PeModule from '../pe/index.js';
import { compiled } from './compiled.js';
import { pageFaultFigure } from './machine.js';
import {
  crmSimulateAvailable,
  crmSimulateVersion,
  preparePacemakerInput,
  runCrmSimulate,
} from './pacemaker.js';
import { SIDE_BY_SIDE } from './startup.js';
import { buildProblem, growthSpec } from './pe-problem.js';
import { median, percentile, timeRuns, type Figures } from './report.js';

const GROWTH = [
  { assemblies: 10, runs: 50 },
  { assemblies: 100, runs: 50 },
  { assemblies: 1000, runs: 20 },
  { assemblies: 5000, runs: 5 },
  { assemblies: 10000, runs: 9 },
];

export async function runPe(): Promise<Figures> {
  const { plan } = await compiled<typeof PeModule>('pe/index.js');
  const figures: Figures = { page_fault_us: pageFaultFigure() };
  for (const { assemblies, runs } of GROWTH) {
    const problem = await buildProblem(growthSpec(assemblies));
    let ruleRuns = 0;
    let actions = 0;
    const times = await timeRuns(async () => {
      const result = await plan(problem.input, problem.now);
      ruleRuns = result.ruleRuns;
      actions = result.plan.actions.length;
    }, runs);
    const key = `plan_${assemblies}x10_down10_ms`;
    figures[key] = {
      value: median(times),
      unit: 'ms',
      note: `${assemblies * 10} services, ${actions} actions, ${ruleRuns} engine runs, p99 ${percentile(times, 99).toFixed(1)} ms${assemblies === 10000 ? '; target ≤ 100' : ''}`,
    };
  }
  // Ten times the services: n log n would be ×12.5.
  const small = figures.plan_1000x10_down10_ms?.value;
  const large = figures.plan_10000x10_down10_ms?.value;
  if (small !== undefined && large !== undefined) {
    figures.plan_growth_10x_ratio = {
      value: large / small,
      unit: 'x',
      note: 'plan_10000x10_down10_ms over plan_1000x10_down10_ms; target ≤ 13 (n log n: 12.5)',
    };
  }

  // What a DPE's pass reads before it plans: its observations as a PE input.
  const { Observations } = await compiled<typeof ObservationsModule>('dpe/observations.js');
  for (const assemblies of [1000, 10000]) {
    const { config, input, now } = await buildProblem(growthSpec(assemblies));
    const store = new Observations(config);
    store.load(input);
    const changing = config.services[0]!;
    let k = 0;
    const times = await timeRuns(() => {
      // One service changed since the last pass, as when a pass follows an agent's report.
      store.instance(changing.id, changing.home, k++ % 2 ? 'running' : 'failed', now + k, 'bench');
      store.toPeInput(config, []);
    }, 20);
    figures[`dpe_input_${assemblies}x10_ms`] = {
      value: median(times),
      unit: 'ms',
      note: `${assemblies * 10} services: a DPE's observations read as a PE input, one service changed since the last pass`,
    };
  }

  // The same series as a DPE makes its passes: under its node flags (its
  // young generation is 1 MiB semi-spaces; this process grows its own to 16 MiB).
  const dpe = underDpeFlags(GROWTH);
  for (const assemblies of [1000, 10000]) {
    const times = dpe[assemblies]!;
    figures[`plan_${assemblies}x10_down10_dpe_flags_ms`] = {
      value: median(times),
      unit: 'ms',
      note: `in a process with the DPE's flags (${DPE_NODE_FLAGS.join(' ')}), p99 ${percentile(times, 99).toFixed(1)} ms`,
    };
  }
  figures.plan_growth_10x_ratio_dpe_flags = {
    value: median(dpe[10000]!) / median(dpe[1000]!),
    unit: 'x',
    note: "the same ratio under the DPE's flags",
  };

  const side = SIDE_BY_SIDE;
  const problem = await buildProblem(side);
  let moved = 0;
  const ours = await timeRuns(async () => {
    const result = await plan(problem.input, problem.now);
    moved = result.plan.actions.filter((a) => a.type === 'move' || a.type === 'start').length;
  }, 50);
  figures.plan_100x1000_ms = {
    value: median(ours),
    unit: 'ms',
    note: `1 of 100 down, ${moved} services moved`,
  };

  if (crmSimulateAvailable()) {
    const input = preparePacemakerInput(side);
    const theirs = await timeRuns(() => runCrmSimulate(input).ms, 5, 1);
    figures.crm_simulate_100x1000_ms = {
      value: median(theirs),
      unit: 'ms',
      note: `crm_simulate -x IN -R -Q (${crmSimulateVersion()}), a whole process`,
    };
    // Not like for like: an in-process call on a built input against a process that
    // also parses and checks its CIB. The startup group has the whole-process pair.
    figures.crm_simulate_inprocess_ratio = {
      value: median(theirs) / median(ours),
      unit: 'x',
      note: 'crm_simulate (whole process) over plan_100x1000_ms (in process): see simulate_cli_ratio',
    };
  } else {
    process.stderr.write(
      'crm_simulate not found (apt-get install pacemaker-cli-utils pacemaker-remote): side-by-side skipped\n',
    );
  }
  return figures;
}

/** Each size's pass times (ms), from bench/pe-child.ts run under the DPE's node flags. */
function underDpeFlags(sizes: typeof GROWTH): Record<number, number[]> {
  const child = join(import.meta.dirname, 'pe-child.ts');
  const r = spawnSync(
    process.execPath,
    [...DPE_NODE_FLAGS, '--import', 'tsx', child, ...sizes.map((g) => `${g.assemblies}:${g.runs}`)],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`${child} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<number, number[]>;
}
