// After tsc: bundles each entry point named in package.json "bin" and marks
// them executable. Node 20 spends most of a short-lived process resolving and
// compiling ~120 ES modules one by one (fast-xml-parser alone is 20 files): a
// bundled DPE started some 70 ms sooner (issue #13). The other files in dist/
// stay as tsc wrote them, for the benchmarks that load one module in process.
//
// cpectl is bundled in place as ES modules, with its commands in chunks
// (dist/chunks/): each command loads only what it needs. The daemons go
// further: each is bundled as one CommonJS file (dist/NAME/main.cjs) with a
// V8 code cache beside it, written here under the flags it runs with, and
// dist/NAME/main.js is a small CommonJS entry that runs it from that cache
// (lib/code-cache.ts, lib/launch.ts): compiling was ~40 ms of a DPE's start.
// The DPE's cache is then trained by a real run (scripts/train-code-cache.mjs).
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { trainDpeCodeCache } from './train-code-cache.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const entries = Object.values(pkg.bin).map((target) => `${root}${target}`);
const { CACHED_PROGRAMS } = await import(`${root}dist/lib/code-cache.js`);
const cached = Object.keys(CACHED_PROGRAMS).map((name) => ({
  name,
  main: `${root}dist/${name}/main.js`,
  bundle: `${root}dist/${name}/main.cjs`,
  flags: CACHED_PROGRAMS[name],
}));
for (const c of cached) {
  if (!entries.includes(c.main)) throw new Error(`${c.main} is not a bin of package.json`);
}

// Left to node_modules: native addons, and packages that read their own files
// at run time (etcd3 loads .proto files beside it; xmllint-wasm runs in a
// worker from its own folder; dbus-next requires optional native modules).
const EXTERNAL = ['better-sqlite3', 'unix-dgram', 'etcd3', 'xmllint-wasm', '@jellybrick/dbus-next'];
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  sourcemap: true,
  logLevel: 'warning',
};

rmSync(`${root}dist/chunks`, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: entries.filter((file) => !cached.some((c) => c.main === file)),
  outdir: `${root}dist`,
  outbase: `${root}dist`,
  allowOverwrite: true,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  // CommonJS packages inside an ES module bundle call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __cpeCreateRequire } from 'node:module'; const require = __cpeCreateRequire(import.meta.url);",
  },
});
const codeCache = `${root}dist/lib/code-cache.js`;

// Node's tls is some 45 of its own modules (counted in a DPE) that every
// daemon loaded on its start, since rhea requires it even for amqp://. In the
// daemons' bundles it is a stand-in that requires the real module the first
// time one of its exports is read: only where the bus is amqps://, or the
// router serves TLS. The exports are listed here, from the Node that builds
// (the code cache ties the bundle to it anyway). A DPE's start took ~10-20 ms
// less CPU (of ~200 on the machine measured). node:crypto likewise: a DPE
// and an agent make their ids without it (lib/random-id.ts), and loading it
// was ~0.6 MB of an idle DPE's RSS.
const LAZY_BUILTINS = ['tls', 'crypto'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: `let real;
        const load = () => (real ??= require('node:${args.path}'));
        for (const name of ${JSON.stringify(Object.keys(createRequire(import.meta.url)(args.path)))})
          Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });`,
    }));
  },
};
// Packages that a library of the daemons requires as it loads, for what they
// seldom or never do: jsonpath-plus is json-rules-engine's default path
// resolver, which the planner replaces with its own (pe/path.ts); winston's
// level setup loads logform's colorizer and with it @colors/colors, and no
// daemon colours its logs. Each stays in the bundle, behind a stand-in
// (lazyExports, lib/lazy.ts) that runs it when something of it is first read.
// Measured in a DPE's start, they were ~1.2-2.4 ms (jsonpath-plus) and
// ~0.8-1.9 ms (@colors/colors) of its ~20 ms of module initialisation.
const LAZY_PACKAGES = ['jsonpath-plus', '@colors/colors/safe'];
const lazyPackages = {
  name: 'lazy-packages',
  setup(b) {
    const filter = new RegExp(`^(${LAZY_PACKAGES.join('|').replace(/[/.]/g, '\\$&')})$`);
    b.onResolve({ filter }, async (args) => {
      if (args.pluginData?.real) return undefined;
      // The copy the importer would get (logform has its own @colors/colors).
      const real = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: { real: true },
      });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: `./${relative(root, real.path)}`, namespace: 'lazy-package' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-package' }, (args) => ({
      loader: 'js',
      resolveDir: root,
      contents: `const { lazyExports } = require(${JSON.stringify(`${root}dist/lib/lazy.js`)});
        module.exports = lazyExports(() => require(${JSON.stringify(args.path)}));`,
    }));
  },
};
// winston and winston-transport take their streams from readable-stream@3,
// a copy of Node 10's, ~62 KB of source with its helpers that every daemon
// kept on its heap beside Node's own streams, which net loads anyway. In the
// daemons' bundles they get Node's, the same API (the daemons' log tests and
// every test of a built daemon run winston on it).
const nodeStreams = {
  name: 'node-streams',
  setup(b) {
    b.onResolve({ filter: /^readable-stream(\/lib\/_stream_\w+\.js)?$/ }, (args) => ({
      path: args.path,
      namespace: 'node-stream',
    }));
    b.onLoad({ filter: /.*/, namespace: 'node-stream' }, (args) => {
      const part = /_stream_(\w+)\.js$/.exec(args.path)?.[1];
      const name =
        part === undefined
          ? ''
          : part === 'passthrough'
            ? 'PassThrough'
            : part[0].toUpperCase() + part.slice(1);
      return {
        loader: 'js',
        contents: `module.exports = require('node:stream')${name ? `.${name}` : ''};`,
      };
    });
  },
};
const shebang = (flags) =>
  flags.length > 0 ? `#!/usr/bin/env -S node ${flags.join(' ')}` : '#!/usr/bin/env node';
const commonJs = {
  ...common,
  format: 'cjs',
  // Without comments and blanks: comments with a non-ASCII character made V8
  // keep the whole source two bytes a character, 2.3 MB of every DPE.
  // Identifiers too: a DPE's bundle 660 → 482 KB and its cache 797 → 763 KB,
  // ~0.3 MB of an idle DPE (issue #13). Property names stay; classes and
  // functions get short names (error classes declare theirs, lib/errors.ts),
  // and main.cjs.map beside each bundle maps a stack trace back to the sources.
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: true,
  // Every import() made a require(): V8 keeps no module loader for functions
  // it deserializes from a code cache, so an import() left in a bundle failed
  // when it ran ("A dynamic import callback was not specified"), as a DPE's
  // first recovery command did.
  supported: { 'dynamic-import': false },
  plugins: [lazyBuiltins, lazyPackages, nodeStreams],
  define: {
    // The sources find their package (and require native addons) from import.meta.url.
    'import.meta.url': '__cpeImportMetaUrl',
    // A production build, as bundlers make them: winston's debug channels
    // (@dabh/diagnostics, the one package that asks) otherwise load a colour
    // library on every start, a few ms of each DPE's, to print nothing.
    'process.env.NODE_ENV': '"production"',
  },
  banner: {
    js: "const __cpeImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
  },
};
for (const c of cached) {
  await build({ ...commonJs, entryPoints: [c.main], outfile: c.bundle });
  // The launcher is CommonJS too (its folder says so): an ES module entry made
  // Node load its ES module loader first, ~8 ms of every start. Nothing loads
  // tsc's other files in these folders once the bundle is built.
  await build({
    ...commonJs,
    entryPoints: [`${root}dist/lib/launch.js`],
    outfile: c.main,
    allowOverwrite: true,
  });
  // Its node flags on its first line, for whatever starts it (a unit, npm's
  // link, an operator): V8 takes the cache only under them.
  const launcher = readFileSync(c.main, 'utf8');
  writeFileSync(c.main, launcher.replace(/^#!.*/, shebang(c.flags)));
  writeFileSync(`${root}dist/${c.name}/package.json`, '{ "type": "commonjs" }\n');
  // In a process of its own, under the daemon's flags: V8 takes a cache only under the flags it was written with.
  const written = spawnSync(
    process.execPath,
    [
      ...c.flags,
      '--input-type=module',
      '-e',
      `import { writeCodeCache } from ${JSON.stringify(codeCache)};
       writeCodeCache(${JSON.stringify(c.bundle)}, ${JSON.stringify(`${c.bundle}.cache`)});`,
    ],
    { stdio: 'inherit' },
  );
  if (written.status !== 0)
    throw new Error(`writing the code cache of ${c.name} failed (exit ${written.status})`);
}
for (const file of entries) chmodSync(file, 0o755);

// The DPE's cache again, from a real run: only what a DPE uses (scripts/train-code-cache.mjs).
try {
  await trainDpeCodeCache(root, CACHED_PROGRAMS.dpe);
} catch (err) {
  process.stderr.write(
    `build: WARNING: training the DPE's code cache failed, so it keeps every function's (~0.85 MB more per idle DPE): ${err instanceof Error ? err.message : String(err)}\n`,
  );
}
