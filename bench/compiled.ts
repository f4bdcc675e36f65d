/**
 * Benchmarks measure the compiled code the daemons run (dist/, built by
 * `npm run bench` first), not the TypeScript loader's output, which runs
 * the planner markedly slower.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const DIST = join(import.meta.dirname, '..', 'dist');

export async function compiled<T>(module: string): Promise<T> {
  const file = join(DIST, module);
  if (!existsSync(file))
    throw new Error(`${file} is missing: run npm run build (npm run bench does)`);
  return (await import(pathToFileURL(file).href)) as T;
}
