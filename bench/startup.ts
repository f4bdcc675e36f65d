/**
 * Start-up, whole processes: a bare `node -e 0`, `cpectl --help` and
 * `cpectl validate` on the example, each spawned and waited for, the three
 * alternated in every round so that the machine's noise falls on all alike
 * (issue #13: --help within 30 ms of a bare node, validate within 100 ms).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import { median, type Figures } from './report.js';

const ROUNDS = 15;

export function runStartup(): Promise<Figures> {
  const root = packageRoot();
  const cli = join(root, 'dist', 'cli', 'main.js');
  const runs: Record<string, readonly string[]> = {
    node_bare_ms: ['-e', '0'],
    cli_help_ms: [cli, '--help'],
    cli_validate_ms: [cli, 'validate', join(root, 'examples', 'wordpress-ha.xml')],
  };
  const times: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS + 2; round++)
    for (const [key, args] of Object.entries(runs)) {
      const start = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (r.status !== 0) throw new Error(`${key}: exit ${String(r.status)}`);
      if (round >= 2) (times[key] ??= []).push(ms); // two rounds to warm the page cache
    }
  const bare = median(times.node_bare_ms!);
  const figure = (key: string, note: string) => ({
    value: median(times[key]!),
    unit: 'ms',
    note: `${note}; ${(median(times[key]!) - bare).toFixed(0)} ms over a bare node`,
  });
  return Promise.resolve({
    node_bare_ms: { value: bare, unit: 'ms', note: `node -e 0, median of ${ROUNDS}, alternated` },
    cli_help_ms: figure('cli_help_ms', 'cpectl --help (loads no command); target ≤ 30 over'),
    cli_validate_ms: figure(
      'cli_validate_ms',
      'cpectl validate examples/wordpress-ha.xml; target ≤ 100 over',
    ),
  });
}
