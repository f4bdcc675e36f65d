/**
 * The growth series of bench/pe.ts in a process of its own, so that it runs
 * under the node flags of a DPE (bench/pe.ts starts it with DPE_NODE_FLAGS):
 * `node FLAGS --import tsx bench/pe-child.ts ASSEMBLIES:RUNS...` plans each
 * size in turn, as the benchmark's own process does (the smaller ones warm
 * the planner up), and prints each size's pass times in ms, as JSON. A
 * DPE's young generation is 1 MiB semi-spaces, where the benchmark's own
 * process grows them to 16 MiB.
 */
import type * as PeModule from '../pe/index.js';
import { compiled } from './compiled.js';
import { buildProblem, growthSpec } from './pe-problem.js';
import { timeRuns } from './report.js';

const sizes = process.argv.slice(2).map((a) => a.split(':').map(Number));
if (sizes.length === 0 || sizes.some(([n, runs]) => !n || !runs)) {
  process.stderr.write('usage: pe-child.ts ASSEMBLIES:RUNS...\n');
  process.exit(2);
}
const { plan } = await compiled<typeof PeModule>('pe/index.js');
const times: Record<number, number[]> = {};
for (const [assemblies, runs] of sizes as [number, number][]) {
  const problem = await buildProblem(growthSpec(assemblies));
  times[assemblies] = await timeRuns(() => plan(problem.input, problem.now), runs);
}
process.stdout.write(`${JSON.stringify(times)}\n`);
