/**
 * One CPE per state directory: two would each start, adopt and stop the
 * same DPEs. A lock file holds the owner's pid; a lock left by a CPE that
 * died (kill -9, power cut) is taken over — its pid no longer runs a CPE.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CpeError } from '../lib/errors.js';

const LOCK = 'cpe.lock';

/** Whether `pid` runs a CPE (its command line names the cpe daemon). */
function runsCpe(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => /(^|\/)cpe(\/main\.[jt]s)?$/.test(a));
  } catch {
    return false;
  }
}

/** Takes the directory's lock or throws STATE_DIR_LOCKED; returns its release. */
export function lockStateDir(dir: string): () => void {
  const file = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o640);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        // Only our own lock: never one a successor took over.
        if (readFileSync(file, 'utf8').trim() === String(process.pid))
          rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && runsCpe(owner))
        throw new CpeError(
          'STATE_DIR_LOCKED',
          `${dir} is in use by another CPE (pid ${owner}): one CPE per state directory (${file})`,
        );
      rmSync(file, { force: true }); // left by a CPE that is gone
    }
  }
  throw new CpeError('STATE_DIR_LOCKED', `cannot take ${file}`);
}
