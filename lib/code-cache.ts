/**
 * The built daemons run from a V8 code cache (issue #13). A DPE is spawned
 * per deployable, and most of its start went on compiling its bundle and,
 * one by one, the functions it calls on the way to its first heartbeat
 * (settings, the bus handshake, the config parser, the engine): ~40 ms of a
 * ~130 ms start. Node 20 has no compile cache for ES modules, so each daemon
 * is bundled as one CommonJS file and compiled here through vm.Script with
 * the cached code that `npm run build` wrote beside it (lib/launch.ts).
 *
 * V8 checks a cache against its own version, the source and the V8 flags: a
 * cache from another Node or other flags is rejected, and the program is
 * compiled from source as before (only slower). The build writes each cache
 * under the flags its daemon runs with in production (CACHED_PROGRAMS).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type Module from 'node:module';
import { dirname } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';

/**
 * Node's CommonJS Module: in a launcher (CommonJS) the loader's own, as
 * `module.constructor`, not through node:module, which loads Node's ES
 * module loader and source-map support with it, compiled from source under
 * a DPE's flags (~1.3 ms of every start); from ES modules, node:module.
 */
let commonJs: typeof Module | undefined;
function cjs(): typeof Module {
  // `module` may be something else here (node -e makes the builtin one a global).
  const loader: unknown = typeof module === 'object' ? module.constructor : undefined;
  return (commonJs ??=
    typeof loader === 'function' && 'wrap' in loader && 'createRequire' in loader
      ? (loader as typeof Module)
      : process.getBuiltinModule('node:module'));
}

/**
 * The node flags of every DPE and agent: the CPE spawns DPEs with them, and
 * the build writes them on the #! line of dist/dpe/main.js and
 * dist/agent/main.js, which their units, npm's links and an operator all run
 * (Node refuses the second in NODE_OPTIONS). Each code cache is written
 * under them.
 *
 * - A small young generation: every heartbeat allocates, and V8 would
 *   otherwise grow it to 16 MiB semi-spaces and keep them, some 15 MB more
 *   per DPE for no gain (the garbage dies young).
 * - V8 optimises a function once it has run ~66 KB of bytecode: an idle DPE
 *   got there on its start and its first heartbeats, and TurboFan's code,
 *   zones and pages of the binary were ~7 MB of it. At 1 MB an idle DPE stays
 *   in the interpreter and Sparkplug, while a busy one still optimises its
 *   hot paths within a second: heartbeats_per_dpe_cpu_s did not move.
 * - Where the host has 4 GB or more, V8 maps the builtins a second time,
 *   next to its generated code, so that calls to them are near calls: the
 *   pages a process touches through both mappings count twice in its RSS,
 *   ~0.85 MB of an idle DPE (three alternated pairs). Its start runs as many
 *   instructions without (callgrind), and the planner was as fast. Units
 *   never had the second mapping: V8 judges the host by the heap limit Node
 *   derives from the cgroup's, and dpe@.service has MemoryMax=256M.
 * - No Sparkplug (V8's baseline compiler, the tier between the interpreter
 *   and TurboFan): its code and the code-space pages it fills were ~1.6 MB
 *   of an idle DPE after 35 s (47.0 → 45.4 MB, two runs each), for the same
 *   CPU to ready (~65–68 ms), heartbeats_per_dpe_cpu_s within its noise
 *   (~42,000 → ~43,500), and a planner pass under these flags ~15–20%
 *   slower from 100 to 10,000 services (1.1 → 1.3 ms at 100), ~5% at
 *   100,000.
 * - V8 single-threaded: its collector and optimising compiler work on the
 *   main thread, not on four helper threads whose malloc arenas keep what
 *   the compiler's zones once took. In the dpe group (a DPE that has moved
 *   services), ~3 MB less idle RSS (60.8 → 57.8 MB) and more heartbeats per
 *   second of its CPU (~46,400 → ~57,500); ~0.35 MB less in an idle DPE that
 *   has not (four runs each); plan passes as fast.
 */
export const DPE_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--interrupt-budget=1000000',
  '--no-short-builtin-calls',
  '--no-sparkplug',
  '--single-threaded',
];

/**
 * The daemons that run from a code cache (dist/NAME/main.cjs), with the V8
 * flags they run with (on their launcher's #! line; the CPE spawns DPEs
 * with DPE_NODE_FLAGS). cpectl stays ES modules, each command loaded only
 * when it runs.
 */
export const CACHED_PROGRAMS: Readonly<Record<string, readonly string[]>> = {
  cpe: [],
  dpe: DPE_NODE_FLAGS,
  agent: DPE_NODE_FLAGS,
};

/** How a program was compiled: from its cache, or from source (none, or V8 refused it). */
export type CodeCacheUse = 'used' | 'rejected' | 'absent';

function compile(file: string, cachedData?: Buffer): vm.Script {
  // Wrapped as require() wraps a CommonJS module (a #! line blanked, as it does),
  // the same when writing and reading. Read as bytes, then decoded: Node 20's
  // readFileSync(file, 'utf8') grows its buffer by doubling and copies it each
  // time, ~225 more fresh pages in a DPE's or an agent's start (of ~4,600;
  // ~12 µs each on some machines, see bench/machine.ts) and ~460 in a CPE's.
  const source = readFileSync(file).toString('utf8').replace(/^#!.*/, '');
  // No import() in it: a function deserialized from a cache has no module
  // loader to call (the build turns a bundle's into require()).
  return new vm.Script(cjs().wrap(source), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
}

/** Compiles a CommonJS file (not run yet) from `cacheFile` where V8 accepts it. */
export function compileWithCodeCache(
  file: string,
  cacheFile: string,
): { readonly script: vm.Script; readonly use: CodeCacheUse } {
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // No cache (not built, or removed): compiled from source.
  }
  const script = compile(file, cachedData);
  return {
    script,
    use: cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used',
  };
}

/** Runs a CommonJS file as require() would, compiled from `cacheFile` where V8 accepts it. */
export function runWithCodeCache(file: string, cacheFile: string): CodeCacheUse {
  const { script, use } = compileWithCodeCache(file, cacheFile);
  run(script, file);
  return use;
}

/**
 * Set for a daemon's launcher to train its code cache (scripts/train-code-cache.mjs,
 * at build time): a directory, where the program writes NAME.cache as it exits.
 */
export const TRAINING_DIR_ENV = 'CPE_CODE_CACHE_TRAINING_DIR';

/**
 * Runs a CommonJS file compiled from source, lazily (each function when first
 * called), and writes as it exits the cache of what it compiled: a cache
 * trained by a real run holds only the functions the program used.
 */
export function runTrainingCodeCache(file: string, cacheFile: string): void {
  const script = compile(file);
  process.once('exit', () => writeAtomically(cacheFile, script.createCachedData()));
  run(script, file);
}

function run(script: vm.Script, file: string): void {
  const module = { exports: {}, filename: file, id: file, loaded: false };
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: unknown,
    filename: string,
    dirname: string,
  ) => void;
  wrapper.call(
    module.exports,
    module.exports,
    cjs().createRequire(file),
    module,
    file,
    dirname(file),
  );
  module.loaded = true;
}

/**
 * Writes the code cache of a CommonJS file, with every function compiled:
 * what a daemon calls on its way to ready is not known here, and a cache of
 * all of it loads as fast as one written after a DPE's start (measured),
 * but keeps every function's bytecode. The build then trains the DPE's
 * (runTrainingCodeCache, scripts/train-code-cache.mjs), the process a host
 * runs many of: ~0.85 MB less of each.
 * Run it under the flags the program will run with. Returns the cache's size.
 */
export function writeCodeCache(file: string, cacheFile: string): number {
  setFlagsFromString('--no-lazy');
  let script: vm.Script;
  try {
    script = compile(file);
  } finally {
    // Back to the default before the cache is written: V8 stamps it with the flags in force.
    setFlagsFromString('--lazy');
  }
  const data = script.createCachedData();
  writeAtomically(cacheFile, data);
  return data.length;
}

function writeAtomically(file: string, data: Buffer): void {
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, file);
}
