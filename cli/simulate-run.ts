/**
 * `cpectl simulate --run`: the DPE's engine played forward in virtual time
 * on simulated assemblies, with faults; prints the timeline and where
 * everything ended up.
 */
import { simulate, type SimFault, type TimelineEntry } from '../dpe/index.js';
import type { PeInput } from '../pe/index.js';
import { EXIT, writeLine, type Io } from './command.js';

export async function runSimulation(
  input: PeInput,
  now: number,
  faults: readonly SimFault[],
  limitMs: number,
  json: boolean,
  io: Io,
): Promise<number> {
  const timeline: TimelineEntry[] = [];
  const result = await simulate({
    input,
    now,
    faults,
    limitMs,
    onLine: (entry) => {
      timeline.push(entry);
      if (!json) writeLine(io.stdout, `${stamp(entry.atMs)}  ${entry.text}`);
    },
  });
  const status = result.engine.status();
  const assemblies = (status.assemblies as { name: string; health: string }[]).map((a) => ({
    name: a.name,
    health: a.health,
  }));
  const services = (
    status.services as { id: string; state: string; assembly: string | null }[]
  ).map((s) => ({ id: s.id, state: s.state, assembly: s.assembly }));
  if (json) {
    writeLine(
      io.stdout,
      JSON.stringify(
        { timeline, ended_ms: result.endedMs, ended: result.reason, assemblies, services },
        null,
        2,
      ),
    );
    return EXIT.ok;
  }
  writeLine(io.stdout);
  writeLine(
    io.stdout,
    result.reason === 'settled'
      ? `Settled at +${seconds(result.endedMs)}s: nothing left to do.`
      : `Stopped at the limit, +${seconds(result.endedMs)}s, with work still going on.`,
  );
  const width = Math.max(8, ...assemblies.map((a) => a.name.length));
  writeLine(io.stdout, 'Assemblies');
  for (const a of assemblies) {
    const here = services.filter((s) => s.assembly === a.name).map((s) => s.id);
    writeLine(
      io.stdout,
      `  ${a.name.padEnd(width)}  ${a.health.padEnd(10)}  ${here.join(' ')}`.trimEnd(),
    );
  }
  const elsewhere = services.filter((s) => s.assembly === null);
  if (elsewhere.length > 0) {
    writeLine(io.stdout, 'Not running');
    for (const s of elsewhere) writeLine(io.stdout, `  ${s.id}  ${s.state}`);
  }
  return EXIT.ok;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function stamp(ms: number): string {
  return `+${seconds(ms).padStart(9)}s`;
}
