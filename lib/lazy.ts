/**
 * A module loaded on its first use, then kept: for what only some daemons
 * use (child_process to fence, the schema worker, the sd_notify addon), so
 * that the others do not load it as they start (issue #13).
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export function onFirstUse<T>(specifier: string): () => T {
  let module: T | undefined;
  return () => (module ??= load(specifier) as T);
}
