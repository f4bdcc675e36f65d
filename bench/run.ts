/**
 * `npm run bench` runs every group; `npm run bench -- GROUP...` only those.
 * Each prints a table and merges its figures into bench/results.json.
 * Benchmarks are not tests: they assert nothing, they measure.
 */
import { runAgent } from './agent.js';
import { runCluster } from './cluster.js';
import { runCpe } from './cpe.js';
import { runDpe } from './dpe.js';
import { runEvents } from './events.js';
import { runMessaging } from './messaging.js';
import { runPe } from './pe.js';
import { runStartup } from './startup.js';
import { mergeResults, printTable, RESULTS, type Figures } from './report.js';

const GROUPS: Readonly<Record<string, () => Promise<Figures>>> = {
  pe: runPe,
  messaging: runMessaging,
  cpe: runCpe,
  dpe: runDpe,
  agent: runAgent,
  events: runEvents,
  startup: runStartup,
  cluster: runCluster,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((g) => !(g in GROUPS));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark group ${unknown.join(', ')} (groups: ${Object.keys(GROUPS).join(', ')})\n`,
  );
  process.exit(2);
}
for (const group of wanted.length > 0 ? wanted : Object.keys(GROUPS)) {
  const figures = await GROUPS[group]!();
  printTable(group, figures);
  mergeResults(group, figures);
}
process.stdout.write(`\nresults merged into ${RESULTS}\n`);
