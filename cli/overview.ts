/**
 * `cpectl status` without a name: every deployable with its assemblies and
 * services on one screen, states in colour on a terminal.
 */
import type { QmfMap } from '../lib/bus/qmf.js';
import { writeLine, type Io } from './command.js';
import type { Remote } from './remote.js';
import { paint, printTable, show } from './table.js';

/** Every deployable's deployable_status, asked at once. */
export async function allStatuses(remote: Remote): Promise<QmfMap[]> {
  const { deployables } = (await remote.call('deployable_list')) as { deployables: QmfMap[] };
  const all = await Promise.all(
    deployables.map((d) =>
      remote.call('deployable_status', { name: show(d.name) }).catch((err: unknown) => {
        // Destroyed between the list and its status: not shown.
        if ((err as { code?: string }).code === 'UNKNOWN_DEPLOYABLE') return null;
        throw err;
      }),
    ),
  );
  return all.filter((s): s is QmfMap => s !== null);
}

export function printOverview(io: Io, statuses: readonly QmfMap[], colour: boolean): void {
  if (statuses.length === 0) {
    writeLine(io.stdout, 'no deployables (cpectl create FILE adds one)');
    return;
  }
  for (const [i, s] of statuses.entries()) {
    if (i > 0) writeLine(io.stdout);
    const state = s.state === null || s.state === undefined ? 'no state' : show(s.state);
    const dpe = `DPE ${show(s.dpe_state)}${s.dpe_ready === true ? ', ready' : ', not ready'}`;
    writeLine(
      io.stdout,
      `${show(s.name)}  ${paint(state, colour)}  (${show(s.desired)}, generation ${show(s.generation)}, ${dpe})`,
    );
    if (s.state_reason) writeLine(io.stdout, `  ${show(s.state_reason)}`);
    const assemblies = (s.assemblies ?? []) as QmfMap[];
    const services = (s.services ?? []) as QmfMap[];
    if (assemblies.length === 0 && services.length === 0) continue;
    // Each assembly with the services placed there; unplaced services last.
    const rows: string[][] = [['  ASSEMBLY', 'HEALTH', 'SERVICES']];
    for (const a of assemblies) {
      const here = services
        .filter((x) => x.assembly === a.name)
        .map((x) => `${show(x.id)} ${paint(show(x.state), colour)}`);
      rows.push([`  ${show(a.name)}`, paint(show(a.health), colour), here.join(', ') || '-']);
    }
    const nowhere = services.filter((x) => x.assembly === null || x.assembly === undefined);
    if (nowhere.length > 0)
      rows.push([
        '  (none)',
        '',
        nowhere.map((x) => `${show(x.id)} ${paint(show(x.state), colour)}`).join(', '),
      ]);
    printTable(io, rows);
  }
}
