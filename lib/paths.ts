import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The package's root folder, found by walking up from this module: the same
 * answer whether running from the TypeScript sources or from dist/.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
      if (name === 'cloud-policy-engine') return (root = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the cloud-policy-engine package root');
    dir = parent;
  }
}

export function schemaPath(file: string): string {
  return join(packageRoot(), 'schemas', file);
}

/** This package's version (package.json), for --version. */
export function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version?: string;
  };
  return version ?? 'unknown';
}
