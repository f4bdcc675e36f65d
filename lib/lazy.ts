/**
 * A module loaded on its first use, then kept: for what only some daemons
 * use (child_process to fence, the schema worker, the sd_notify addon), so
 * that the others do not load it as they start (issue #13).
 */
// A bundle's own require where there is one: node:module would load Node's
// ES module loader and source maps with it, in every daemon (code-cache.ts).
const load: NodeJS.Require =
  typeof require === 'function'
    ? require
    : process.getBuiltinModule('node:module').createRequire(import.meta.url);

export function onFirstUse<T>(specifier: string): () => T {
  let module: T | undefined;
  return () => (module ??= load(specifier) as T);
}

/**
 * A CommonJS module's exports that run the module only when something of it
 * is read: the daemons' bundles put it in place of packages that a library
 * requires as it loads but that a daemon calls seldom or never
 * (scripts/postbuild.mjs, LAZY_PACKAGES). Properties set before the module
 * runs (logform sets `colors.enabled` as it loads) are kept and set on it
 * when it does. Reading any property, even one the module lacks, or listing
 * its keys runs it.
 */
export function lazyExports(run: () => Record<PropertyKey, unknown>): object {
  let real: Record<PropertyKey, unknown> | undefined;
  const early = new Map<PropertyKey, unknown>();
  const module = (): Record<PropertyKey, unknown> => {
    if (real === undefined) {
      real = run();
      for (const [key, value] of early) real[key] = value;
      early.clear();
    }
    return real;
  };
  return new Proxy(
    {},
    {
      get: (_, key) => module()[key],
      set: (_, key, value) => {
        if (real === undefined) early.set(key, value);
        else real[key] = value;
        return true;
      },
      has: (_, key) => key in module(),
      // Listing its keys (an ES module's import of it copies them) runs it too.
      ownKeys: () => Reflect.ownKeys(module()),
      getOwnPropertyDescriptor: (_, key) => {
        const own = Reflect.getOwnPropertyDescriptor(module(), key);
        // Configurable, as a proxy must say of what its (empty) target lacks.
        return own && { ...own, configurable: true };
      },
    },
  );
}
